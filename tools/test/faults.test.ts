/**
 * Faults a real registry won't produce on demand — corrupted or truncated blobs, 429s, 500s, dropped
 * connections, redirects to another host — injected by the harness's proxy in front of a real
 * registry. Each ends in success after a retry, or in one clear error line with no partial file.
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  buildTestImage,
  dockerConfigEnv,
  makeTempDir,
  pushWithCrane,
  removeTempDir,
  runOciutil,
  startFaultProxy,
  startRegistry,
  type BuiltImage,
  type FaultProxy,
  type TestRegistry,
} from "./harness/index.js";

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let digest: string;
let layer: string;
let out: string;
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host, []);
  tmp = await makeTempDir("faults");
  const dir = join(tmp, "src");
  const built: BuiltImage = await buildTestImage(dir, { layers: [{ files: { a: "1" } }, { randomBytes: 2_000_000 }] });
  layer = built.layerDigests[1]!;
  // Faults below hit the 2 MB random layer.
  digest = await pushWithCrane(dir, `${registry.host}/faults/app:v1`);
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await removeTempDir(tmp);
});
beforeEach(() => {
  out = join(tmp, `out-${++n}`);
  proxy.requests.length = 0;
  proxy.otherHostRequests.length = 0;
});

const blobPath = () => new RegExp(`/blobs/${layer}$`);
const pull = (extra: string[] = [], env?: Record<string, string | undefined>) =>
  runOciutil(["pull", "--insecure", `${proxy.host}/faults/app:v1`, "-o", out, ...extra], env ? { env } : {});
async function blobFiles(): Promise<string[]> {
  return await readdir(join(out, "blobs", "sha256")).catch(() => []);
}
function expectOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

describe("pull through faults", () => {
  it("retries a blob whose bytes don't match its digest, once", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), times: 1, action: { kind: "corrupt" } }]);
    const r = await pull();
    expect(r.stderr).toBe("");
    expect(proxy.ruleHits).toEqual([1]);
    expect((await runOciutil(["verify", out])).code).toBe(0);
  });

  it("gives up on a blob that is always corrupt, naming it, leaving no file for it", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), action: { kind: "corrupt" } }]);
    const r = await pull();
    expectOneLine(r, new RegExp(`blob .*${layer}.*content has digest sha256:[0-9a-f]{64}, expected ${layer}`));
    expect(proxy.ruleHits[0]).toBe(5); // bounded
    const files = await blobFiles();
    expect(files).not.toContain(layer.slice("sha256:".length));
    expect(files.filter((f) => !/^[0-9a-f]{64}$/.test(f))).toEqual([]); // no temp files
  });

  it("retries a truncated body", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), times: 2, action: { kind: "truncate", afterBytes: 100_000 } }]);
    const r = await pull();
    expect(r.stderr).toBe("");
    expect(proxy.ruleHits).toEqual([2]);
    expect((await runOciutil(["verify", out])).code).toBe(0);
  });

  it("retries a dropped connection", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), times: 1, action: { kind: "drop" } }]);
    const r = await pull();
    expect(r.stderr).toBe("");
    expect(proxy.ruleHits).toEqual([1]);
  });

  it("ends in one line, without retrying, when a layer is missing from the registry", async () => {
    proxy.setRules([{ method: "GET", path: blobPath(), action: { kind: "status", status: 404, body: '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}' } }]);
    const r = await runOciutil(["pull", "--insecure", `${proxy.host}/faults/app:v1`, "-o", out], { timeoutMs: 120_000 });
    expectOneLine(r, new RegExp(`blob .*${layer}: not found \\(BLOB_UNKNOWN: blob unknown to registry\\)`));
    expect(proxy.ruleHits).toEqual([1]); // a 404 is not retried
    expect((await blobFiles()).filter((f) => !/^[0-9a-f]{64}$/.test(f))).toEqual([]); // no temp files
  });

  it("waits out 429 Too Many Requests on the manifest", async () => {
    proxy.setRules([{ method: "GET", path: /\/manifests\/v1$/, times: 2, action: { kind: "status", status: 429, headers: { "retry-after": "0" } } }]);
    const r = await pull();
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`${proxy.host}/faults/app@${digest}`);
    expect(proxy.ruleHits).toEqual([2]);
  });

  it("stops after a bounded number of 500s with one line", async () => {
    proxy.setRules([{ method: "GET", path: /\/manifests\/v1$/, action: { kind: "status", status: 500 } }]);
    const r = await pull();
    expectOneLine(r, /manifest .*faults\/app:v1: .* answered 500/);
    expect(proxy.ruleHits).toEqual([5]);
  });

  it("rejects a malformed manifest with one line", async () => {
    proxy.setRules([
      {
        method: "GET",
        path: /\/manifests\/v1$/,
        action: { kind: "status", status: 200, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: '{"schemaVersion": 2, "config": ' },
      },
    ]);
    const r = await pull();
    expectOneLine(r, /malformed manifest .*: not JSON/);
  });

  it("follows a redirect to another host without sending it the Authorization header", async () => {
    const authed = await startRegistry({ auth: "basic" });
    const authedProxy = await startFaultProxy(authed.host, []);
    try {
      const env = await dockerConfigEnv(join(tmp, "redirect-docker"), [{ host: authedProxy.host, username: authed.username!, password: authed.password! }]);
      const src = join(tmp, "redirect-src");
      await buildTestImage(src, { layers: [{ randomBytes: 10_000 }] });
      const push = await runOciutil(["push", "--insecure", src, `${authedProxy.host}/r/app:v1`], { env });
      expect(push.stderr).toBe("");
      authedProxy.setRules([{ method: "GET", path: /\/blobs\/sha256:/, action: { kind: "redirect", to: "other-host" } }]);
      const r = await runOciutil(["pull", "--insecure", `${authedProxy.host}/r/app:v1`, "-o", out], { env: { ...env, REGISTRY_AUTH_FILE: undefined } });
      expect(r.stderr).toBe("");
      expect(authedProxy.otherHostRequests.length).toBe(2); // config and layer
      expect(authedProxy.otherHostRequests.every((q) => !q.authorization)).toBe(true);
      // ...while the registry itself did get credentials for those blobs.
      expect(authedProxy.requests.filter((q) => q.path.includes("/blobs/") && q.authorization).length).toBeGreaterThanOrEqual(2);
      expect((await runOciutil(["verify", out])).code).toBe(0);
    } finally {
      await authedProxy.stop();
      await authed.stop();
    }
  });
});

describe("registries that answer differently", () => {
  it("resolves relative upload Location headers, for monolithic and chunked uploads", async () => {
    const relative = await startFaultProxy(registry.host, [], { relativeLocations: true });
    try {
      const src = join(tmp, "relative-src");
      const built = await buildTestImage(src, { layers: [{ randomBytes: 200_000 }] });
      for (const extra of [[], ["--chunk-size", "65536"]]) {
        relative.requests.length = 0;
        const r = await runOciutil(["push", "--insecure", src, `${relative.host}/relative/app${extra.length}:v1`, ...extra]);
        expect(r.stderr).toBe("");
        expect(r.stdout.trim()).toBe(`${relative.host}/relative/app${extra.length}@${built.manifestDigest}`);
        // The upload went to the session URL the registry named (relative to the proxy).
        expect(relative.requests.some((q) => q.method === (extra.length ? "PATCH" : "PUT") && q.path.includes("/blobs/uploads/"))).toBe(true);
      }
    } finally {
      await relative.stop();
    }
  });
});

describe("push through faults", () => {
  it("retries an upload the registry failed with 500", async () => {
    const src = join(tmp, "push-src");
    const built = await buildTestImage(src, { layers: [{ randomBytes: 300_000 }] });
    proxy.setRules([{ method: "PUT", path: /\/blobs\/uploads\//, times: 1, action: { kind: "status", status: 500 } }]);
    const r = await runOciutil(["push", "--insecure", src, `${proxy.host}/faults/pushed:v1`]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`${proxy.host}/faults/pushed@${built.manifestDigest}`);
    expect(proxy.ruleHits).toEqual([1]);
  });

  it("fails in one line when a local layout blob does not match its digest (the registry checks it)", async () => {
    const src = join(tmp, "corrupt-local");
    const built = await buildTestImage(src, { layers: [{ randomBytes: 100_000 }] });
    const file = join(src, "blobs", "sha256", built.layerDigests[0]!.slice(7));
    const bytes = await readFile(file);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    const r = await runOciutil(["push", "--insecure", src, `${registry.host}/faults/corrupt-local:v1`]);
    expectOneLine(r, new RegExp(`blob ${built.layerDigests[0]} to .*answered 400 \\(DIGEST_INVALID`));
    const pull = await runOciutil(["pull", "--insecure", `${registry.host}/faults/corrupt-local:v1`, "-o", join(tmp, "never-local")]);
    expect(pull.stderr).toMatch(/not found/); // no manifest was pushed
  });

  it("refuses to push a source blob that does not match its digest", async () => {
    // A shallow layout whose layers are streamed from the (corrupting) source registry.
    const shallow = join(tmp, "shallow");
    const p = await runOciutil(["pull", "--insecure", "--shallow", `${proxy.host}/faults/app:v1`, "-o", shallow]);
    expect(p.code).toBe(0);
    const dest = await startRegistry();
    try {
      proxy.setRules([{ method: "GET", path: blobPath(), action: { kind: "corrupt" } }]);
      const r = await runOciutil(["push", "--insecure", shallow, `${dest.host}/dest/app:v1`]);
      expectOneLine(r, new RegExp(`${layer}.*content has digest`));
      const head = await runOciutil(["pull", "--insecure", `${dest.host}/dest/app:v1`, "-o", join(tmp, "never")]);
      expect(head.code).toBe(1); // no manifest was pushed
      expect(head.stderr).toMatch(/not found/);
    } finally {
      await dest.stop();
    }
  });
});
