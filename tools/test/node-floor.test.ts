/**
 * bench/node-floor.mjs is the benchmark's reference for the least a Node program can do to pull and
 * push. A floor that skipped work (a blob not written, a hash not checked, an upload not sent) would
 * make ociutil look slow for nothing: these tests keep it doing the whole job.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, makeTempDir, mustRun, peer, removeTempDir, runOciutil, runTool, seedImage, startFaultProxy, startRegistry, type TestRegistry } from "./harness/index.js";

const FLOOR = join(REPO_ROOT, "bench", "node-floor.mjs");
const floor = (...args: string[]) => runTool(process.execPath, [FLOOR, ...args]);

let registry: TestRegistry;
let tmp: string;
let digest: string;

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await makeTempDir("node-floor");
  digest = await seedImage(registry, "floor/src:v1", {
    layers: [{ randomBytes: 3_000_000 }, { files: { "etc/floor": "floor\n" } }, { randomBytes: 1_500_000 }, { randomBytes: 10 }, { randomBytes: 2_000_000 }],
  });
});
afterAll(async () => {
  await registry?.stop();
  await removeTempDir(tmp);
});

describe("bench/node-floor.mjs", () => {
  it("pulls a complete layout that ociutil verify accepts, and pushes it back with the same digest", async () => {
    const layout = join(tmp, "pulled");
    const pulled = await floor("pull", `${registry.host}/floor/src:v1`, layout);
    expect(pulled.stderr).toBe("");
    expect(pulled.code).toBe(0);
    expect(pulled.stdout.trim()).toBe(`${registry.host}/floor/src@${digest}`);
    const verify = await runOciutil(["verify", layout]);
    expect(verify.stdout).toMatch(/: ok \(1 manifests, 7 blobs/);
    expect(verify.code).toBe(0);

    const pushed = await floor("push", layout, `${registry.host}/floor/copy:v1`);
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    expect((await mustRun(peer("crane"), ["digest", "--insecure", `${registry.host}/floor/copy:v1`])).stdout.trim()).toBe(digest);
  });

  it("fails on a blob whose bytes do not match its digest (a fault from a proxy in front of the registry)", async () => {
    const proxy = await startFaultProxy(registry.host, [{ method: "GET", path: /\/blobs\/sha256:/, action: { kind: "corrupt" } }]);
    try {
      const layout = join(tmp, "corrupt");
      const pulled = await floor("pull", `${proxy.host}/floor/src:v1`, layout);
      expect(pulled.stderr).toMatch(/^node-floor: \/v2\/floor\/src\/blobs\/sha256:[0-9a-f]{64}: digest mismatch\n$/);
      expect(pulled.code).toBe(1);
      expect(existsSync(join(layout, "index.json"))).toBe(false);
      expect(proxy.ruleHits[0]).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
    }
  });
});
