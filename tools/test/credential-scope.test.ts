/**
 * Credentials go to the registry they belong to and nowhere else: not to an upload Location on
 * another host, not to a next page on another host, not into an error line. A real docker-registry
 * with htpasswd auth sits behind the fault proxy, which MOCKS the hostile answers (a Location or a
 * Link naming a second host, "localhost:PORT2"); that host records whether it was sent credentials.
 */
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  buildTestImage,
  dockerConfigEnv,
  makeTempDir,
  removeTempDir,
  runOciutil,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type TestRegistry,
} from "./harness/index.js";

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let src: string;
let env: Record<string, string | undefined>;
let n = 0;

beforeAll(async () => {
  registry = await startRegistry({ auth: "basic" });
  proxy = await startFaultProxy(registry.host, []);
  tmp = await makeTempDir("credential-scope");
  env = await dockerConfigEnv(join(tmp, "docker"), [{ host: proxy.host, username: registry.username!, password: registry.password! }]);
  src = join(tmp, "src");
  await buildTestImage(src, { layers: [{ randomBytes: 300_000 }, { files: { "etc/a": "a" } }] });
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await removeTempDir(tmp);
});
beforeEach(() => {
  proxy.setRules([]);
  proxy.requests.length = 0;
  proxy.otherHostRequests.length = 0;
});

function expectOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

describe("an upload Location on another host", () => {
  for (const chunked of [false, true]) {
    it(`is followed without credentials (${chunked ? "chunked" : "monolithic"} upload)`, async () => {
      proxy.setRules([{ method: "POST", path: /\/blobs\/uploads\/$/, action: { kind: "location-other-host" } }]);
      const repo = `${proxy.host}/scope/app-${++n}`;
      const r = await runOciutil(["push", "--insecure", src, `${repo}:v1`, ...(chunked ? ["--chunk-size", "100000"] : [])], { env });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      // Every blob went to the other host (object storage), none with the registry's credentials...
      const uploads = proxy.otherHostRequests.filter((q) => q.method === "PUT" || q.method === "PATCH");
      expect(uploads.length).toBeGreaterThanOrEqual(3); // two layers and the config
      expect(uploads.filter((q) => q.authorization)).toEqual([]);
      // ...while the registry itself was sent them, and the image is whole there.
      expect(proxy.requests.some((q) => q.authorization)).toBe(true);
      const pulled = await runOciutil(["pull", "--insecure", `${repo}:v1`, "-o", join(tmp, `pulled-${n}`)], { env });
      expect(pulled.stderr).toBe("");
      expect((await runOciutil(["verify", join(tmp, `pulled-${n}`)])).code).toBe(0);
    });
  }
});

describe("a next page on another host", () => {
  it("is refused for referrers, and the other host is never asked", async () => {
    const repo = `${proxy.host}/scope/referred`;
    const push = await runOciutil(["push", "--insecure", src, `${repo}:v1`], { env });
    expect(push.stderr).toBe("");
    const index = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] });
    proxy.setRules([
      {
        method: "GET",
        path: /\/referrers\/sha256:/,
        action: {
          kind: "status",
          status: 200,
          headers: { "content-type": "application/vnd.oci.image.index.v1+json", link: `<http://${proxy.otherHost}/v2/scope/referred/referrers/x?n=2>; rel="next"` },
          body: index,
        },
      },
    ]);
    const r = await runOciutil(["copy", "--insecure", `${repo}:v1`, `${proxy.host}/scope/referred-copy:v1`], { env });
    expectOneLine(r, /referrers of .*scope\/referred@sha256:[0-9a-f]{64}: the registry sent a next page on another host \(localhost:\d+\)/);
    expect(proxy.otherHostRequests).toEqual([]);
  });

  it("is refused for a tag list", async () => {
    const repo = `${proxy.host}/scope/listed`;
    expect((await runOciutil(["push", "--insecure", src, `${repo}:v1`], { env })).stderr).toBe("");
    proxy.setRules([
      {
        method: "GET",
        path: /\/scope\/listed\/tags\/list$/,
        action: { kind: "status", status: 200, headers: { link: `<http://${proxy.otherHost}/v2/scope/listed/tags/list?last=v1>; rel="next"` }, body: '{"name":"scope/listed","tags":["v1"]}' },
      },
    ]);
    const r = await runOciutil(["snapshot", "--insecure", repo], { env });
    expectOneLine(r, /next page on another host \(localhost:\d+\)/);
    expect(proxy.otherHostRequests).toEqual([]);
  });
});

describe("credentials written into a reference", () => {
  for (const ref of ["user:s3cr3t-pw@127.0.0.1:5000/app:v1", "https://user:s3cr3t-pw@127.0.0.1:5000/app:v1", "s3cr3t-pw@127.0.0.1:5000/app"]) {
    it(`are refused without being repeated: ${ref.replace("s3cr3t-pw", "…")}`, async () => {
      const r = await runOciutil(["pull", ref, "-o", join(tmp, "never")]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/credentials do not belong in a reference/);
      expect(r.stderr + r.stdout).not.toContain("s3cr3t-pw");
    });
  }
});
