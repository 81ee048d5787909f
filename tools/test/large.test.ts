/**
 * A 500 MB layer through pull and push: memory must not grow with blob size. The CLI runs as a child
 * process and the kernel's peak RSS for it is asserted.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestImage, makeTempDir, mustRun, peer, removeTempDir, runOciutilWithPeakRss, startRegistry, type TestRegistry } from "./harness/index.js";

const LAYER_BYTES = 500_000_000;
const MAX_RSS_MB = 150;

let registry: TestRegistry;
let tmp: string;
let digest: string;
beforeAll(async () => {
  registry = await startRegistry();
  tmp = await makeTempDir("large");
  digest = (await buildTestImage(join(tmp, "src"), { layers: [{ randomBytes: LAYER_BYTES }, { files: { small: "x" } }] })).manifestDigest;
});
afterAll(async () => {
  await registry?.stop();
  await removeTempDir(tmp);
});

describe("a 500 MB layer", () => {
  it(`is pushed with peak RSS under ${MAX_RSS_MB} MB`, async () => {
    const r = await runOciutilWithPeakRss(["push", "--insecure", join(tmp, "src"), `${registry.host}/large/app:v1`]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`${registry.host}/large/app@${digest}`);
    expect(r.peakRssMB).toBeLessThan(MAX_RSS_MB);
    await mustRun(peer("crane"), ["validate", "--remote", `${registry.host}/large/app:v1`, "--insecure"]);
  });

  it(`is pulled with peak RSS under ${MAX_RSS_MB} MB, and verifies`, async () => {
    const out = join(tmp, "pulled");
    const r = await runOciutilWithPeakRss(["pull", "--insecure", `${registry.host}/large/app:v1`, "-o", out]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`${registry.host}/large/app@${digest}`);
    expect(r.peakRssMB).toBeLessThan(MAX_RSS_MB);
    const v = await runOciutilWithPeakRss(["verify", out]);
    expect(v.code).toBe(0);
    expect(v.peakRssMB).toBeLessThan(MAX_RSS_MB);
  });
});
