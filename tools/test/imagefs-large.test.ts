/**
 * A 300 MB layer through ls, cat and export, gzip'd and as zstd: memory must not grow with the size
 * of a layer or a file (content is streamed, never held). The CLI runs as a child process and the
 * kernel's peak RSS for it is asserted, as in large.test.ts.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestImage, makeTempDir, mustRun, peer, removeTempDir, runOciutilWithPeakRss } from "./harness/index.js";

const LAYER_BYTES = 300_000_000;
const MAX_RSS_MB = 150;

let tmp: string;
let gz: string;
let zst: string;
beforeAll(async () => {
  tmp = await makeTempDir("imagefs-large");
  gz = join(tmp, "gz");
  zst = join(tmp, "zstd");
  await buildTestImage(gz, { layers: [{ randomBytes: LAYER_BYTES }, { files: { "etc/small": "small\n" } }] });
  await mustRun(peer("skopeo"), ["copy", "--dest-compress-format", "zstd", "--dest-compress", `oci:${gz}:latest`, `oci:${zst}:latest`]);
});
afterAll(async () => removeTempDir(tmp));

describe(`a ${LAYER_BYTES / 1e6} MB layer`, () => {
  it.each([["gzip"], ["zstd"]])(`%s: ls reads it with peak RSS under ${MAX_RSS_MB} MB`, async (kind) => {
    const r = await runOciutilWithPeakRss(["ls", "--json", kind === "gzip" ? gz : zst, "/random.bin"]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).entries[0]).toMatchObject({ path: "/random.bin", size: LAYER_BYTES, layer: 0 });
    expect(r.peakRssMB).toBeLessThan(MAX_RSS_MB);
  });

  it(`cat of a file beside it reads the big layer once more, with peak RSS under ${MAX_RSS_MB} MB`, async () => {
    const r = await runOciutilWithPeakRss(["cat", zst, "/etc/small"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("small\n");
    expect(r.peakRssMB).toBeLessThan(MAX_RSS_MB);
  });

  it(`is exported with peak RSS under ${MAX_RSS_MB} MB`, async () => {
    const out = join(tmp, "flat.tar");
    const r = await runOciutilWithPeakRss(["export", gz, out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.peakRssMB).toBeLessThan(MAX_RSS_MB);
    expect((await stat(out)).size).toBeGreaterThan(LAYER_BYTES);
  });
});
