/**
 * `ociutil sbom` on a 200 MB dpkg status (a few packages with very long descriptions, plus many
 * small ones): the database is parsed as it streams out of its layer, so the peak RSS of the CLI
 * (the kernel's, as in imagefs-large.test.ts) stays far below the file's size.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestImage, makeTempDir, removeTempDir, runOciutilWithPeakRss } from "./harness/index.js";

const STATUS_BYTES = 200_000_000;
const MAX_RSS_MB = 150;
const SMALL = 5000;

let tmp: string;
let layout: string;
beforeAll(async () => {
  tmp = await makeTempDir("sbom-large");
  layout = join(tmp, "layout");
  const line = ` ${"x".repeat(98)}\n`;
  const big = (i: number): string => `Package: big${i}\nStatus: install ok installed\nVersion: 1.${i}\nArchitecture: amd64\nDescription: big\n${line.repeat(STATUS_BYTES / 4 / line.length)}\n`;
  const small = Array.from({ length: SMALL }, (_, i) => `Package: small${i}\nStatus: install ok installed\nVersion: 2.${i}-1\nArchitecture: all\n`).join("\n");
  const status = Buffer.from([big(0), big(1), small, "\n", big(2), big(3)].join(""));
  expect(status.length).toBeGreaterThan(STATUS_BYTES * 0.99);
  await buildTestImage(layout, { layers: [{ files: { "var/lib/dpkg/status": status } }] });
}, 120_000);
afterAll(async () => removeTempDir(tmp));

describe(`a ${STATUS_BYTES / 1e6} MB dpkg status`, () => {
  it(`is listed with peak RSS under ${MAX_RSS_MB} MB`, async () => {
    const out = join(tmp, "sbom.json");
    const r = await runOciutilWithPeakRss(["sbom", layout, "--format", "cyclonedx-json", "-o", out]);
    expect(r.stderr).toBe(`${out}: ${SMALL + 4} packages\n`);
    expect(r.code).toBe(0);
    expect(r.peakRssMB).toBeLessThan(MAX_RSS_MB);
  }, 120_000);
});
