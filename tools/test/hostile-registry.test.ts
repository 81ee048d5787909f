/**
 * Registries that misbehave on purpose or by breakage (issue 16): endless bodies, slow drips, and
 * connections dropped mid-blob on every attempt. The registry is real (distribution on loopback); the
 * hostile answers are MOCKED by the harness's fault proxy, as no real registry sends them on demand.
 * Each ends the command with exit 1 and one line on stderr, in bounded memory and bounded time.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  buildTestImage,
  dockerConfigEnv,
  makeTempDir,
  pushWithCrane,
  removeTempDir,
  runOciutil,
  ociutilBundle,
  runNodeWithPeakRss,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type TestRegistry,
} from "./harness/index.js";

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let src: string;
let layer: string;
let out: string;
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host, []);
  tmp = await makeTempDir("hostile");
  src = join(tmp, "src");
  const built = await buildTestImage(src, { layers: [{ files: { a: "1" } }, { randomBytes: 300_000 }] });
  layer = built.layerDigests[1]!;
  await pushWithCrane(src, `${registry.host}/hostile/app:v1`);
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await removeTempDir(tmp);
});
beforeEach(() => {
  out = join(tmp, `out-${++n}`);
  proxy.setRules([]);
});

/**
 * Runs ociutil with its peak RSS measured inside its own process (VmHWM), so that the timeout's
 * SIGKILL reaches ociutil itself (GNU time would be killed instead, leaving ociutil running).
 */
const runMeasured = (args: string[], timeoutMs: number) => runNodeWithPeakRss(ociutilBundle(), args, { timeoutMs, method: "vmhwm" });

const blobPath = () => new RegExp(`/blobs/${layer}$`);

function expectOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.code).toBe(1);
}

async function strayFiles(dir: string): Promise<string[]> {
  const files = await readdir(join(dir, "blobs", "sha256")).catch(() => []);
  return files.filter((f) => !/^[0-9a-f]{64}$/.test(f));
}

describe("an endless body", () => {
  it("from the token endpoint ends in one line with memory bounded", async () => {
    // The registry asks for a Bearer token from a realm that never stops answering.
    proxy.setRules([
      { path: /^\/token$/, action: { kind: "endless" } },
      { path: /^\/v2\//, action: { kind: "status", status: 401, headers: { "www-authenticate": `Bearer realm="${proxy.url}/token",service="hostile"` } } },
    ]);
    const r = await runMeasured(["pull", "--insecure", `${proxy.host}/hostile/app:v1`, "-o", out], 30_000);
    expectOneLine(r, /token response is larger than 1048576 bytes/);
    expect(r.peakRssMB).toBeLessThan(200);
  });

  it("as a blob's error document ends in one line", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), action: { kind: "endless", status: 404 } }]);
    const r = await runMeasured(["pull", "--insecure", `${proxy.host}/hostile/app:v1`, "-o", out], 30_000);
    expectOneLine(r, new RegExp(`blob .*${layer}: not found`));
    expect(r.peakRssMB).toBeLessThan(200);
    expect(await strayFiles(out)).toEqual([]);
  });
});

describe("a slow drip", () => {
  // One byte every 200 ms is 5 bytes a second: far under the 1024 bytes a stall timeout of 1 s asks for.
  it("on a pulled blob ends, after the retries, in one line", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), action: { kind: "drip", intervalMs: 200 } }]);
    const started = Date.now();
    const r = await runOciutil(["pull", "--insecure", "--stall-timeout", "1", `${proxy.host}/hostile/app:v1`, "-o", out], { timeoutMs: 240_000 });
    expectOneLine(r, new RegExp(`GET http://${proxy.host}/v2/hostile/app/blobs/${layer}: stalled: fewer than 1024 bytes in 1 s`));
    expect(proxy.ruleHits).toEqual([5]); // retried like a dropped connection
    // Five stalls of 1 s and the backoff between them; the bound leaves room for a busy machine.
    expect(Date.now() - started).toBeLessThan(180_000);
    expect(await strayFiles(out)).toEqual([]);
  });

  it("on a blob copied from a registry ends in one line naming the source", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), action: { kind: "drip", intervalMs: 200 } }]);
    const r = await runOciutil(["copy", "--insecure", "--stall-timeout", "1", `${proxy.host}/hostile/app:v1`, `${registry.host}/hostile/copied:v1`], {
      timeoutMs: 240_000,
    });
    expectOneLine(r, new RegExp(`GET http://${proxy.host}/v2/hostile/app/blobs/${layer}: stalled`));
  });

  it("is read from OCIUTIL_STALL_TIMEOUT when the flag is not given", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), action: { kind: "drip", intervalMs: 200 } }]);
    const r = await runOciutil(["pull", "--insecure", `${proxy.host}/hostile/app:v1`, "-o", out], { timeoutMs: 240_000, env: { OCIUTIL_STALL_TIMEOUT: "1" } });
    expectOneLine(r, /stalled: fewer than 1024 bytes in 1 s/);
  });

  it("refuses a stall timeout that is not a positive number", async () => {
    const r = await runOciutil(["pull", "--insecure", "--stall-timeout", "0", `${proxy.host}/hostile/app:v1`, "-o", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--stall-timeout must be a positive number/);
  });
});

describe("an upload the registry reads one byte at a time", () => {
  it("ends a push, after the retries, in one line", async () => {
    // 32 MB: more than loopback's socket buffers take in at once, so the upload itself must stall.
    const big = join(tmp, "big");
    await buildTestImage(big, { layers: [{ randomBytes: 32_000_000 }] });
    // Only the PATCH of the large layer (--chunk-size sends smaller blobs in one PUT) is read slowly.
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, action: { kind: "slow-read", intervalMs: 200 } }]);
    const r = await runOciutil(["push", "--insecure", "--stall-timeout", "1", "--chunk-size", "20000000", big, `${proxy.host}/hostile/slow:v1`], {
      timeoutMs: 240_000,
    });
    expectOneLine(r, new RegExp(`PATCH http://${proxy.host}/v2/hostile/slow/blobs/uploads/\\S*: stalled: fewer than 1024 bytes in 1 s`));
  });
});

describe("a connection dropped mid-blob on every attempt", () => {
  const truncated = { kind: "truncate", afterBytes: 100_000 } as const;

  it("ends a pull, after the retries, in one line naming the blob", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), action: truncated }]);
    const r = await runOciutil(["pull", "--insecure", `${proxy.host}/hostile/app:v1`, "-o", out], { timeoutMs: 240_000 });
    expectOneLine(r, new RegExp(`GET http://${proxy.host}/v2/hostile/app/blobs/${layer}: .*(closed|reset|terminated)`));
    expect(proxy.ruleHits).toEqual([5]);
    expect(await strayFiles(out)).toEqual([]);
  });

  it("ends a copy in one line naming the source blob", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), action: truncated }]);
    const r = await runOciutil(["copy", "--insecure", `${proxy.host}/hostile/app:v1`, `${registry.host}/hostile/copied-drop:v1`], { timeoutMs: 240_000 });
    expectOneLine(r, new RegExp(`GET http://${proxy.host}/v2/hostile/app/blobs/${layer}: .*(closed|reset|terminated)`));
  });

  it("ends a push whose uploads are dropped in one line", async () => {
    proxy.setRules([{ method: ["PUT", "PATCH"], path: /\/blobs\/uploads\//, action: { kind: "drop" } }]);
    const r = await runOciutil(["push", "--insecure", src, `${proxy.host}/hostile/pushed:v1`], { timeoutMs: 240_000 });
    expectOneLine(r, new RegExp(`(PUT|PATCH) http://${proxy.host}/v2/hostile/pushed/blobs/uploads/`));
  });
});

describe("a token realm on plain HTTP", () => {
  it("is refused when the registry is spoken to over TLS and credentials would cross in clear", async () => {
    // A real TLS registry configured to name an http:// realm off loopback. ociutil refuses before
    // connecting, so the realm's host need not exist.
    const tls = await startRegistry({ tls: true, auth: "token", tokenRealm: "http://token.invalid/token" });
    try {
      const env = { ...(await dockerConfigEnv(join(tmp, "realm-docker"), tls)), NODE_EXTRA_CA_CERTS: tls.caCertPath! };
      const r = await runOciutil(["pull", `${tls.host}/hostile/app:v1`, "-o", out], { env, timeoutMs: 120_000 });
      expectOneLine(r, /its token realm http:\/\/token\.invalid is plain HTTP: refusing to send credentials there unencrypted/);
      expect(r.stderr).not.toContain(tls.password!);
    } finally {
      await tls.stop();
    }
  });
});
