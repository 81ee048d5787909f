/**
 * Promotion memory (issue 18 item 4, issue 16 row 10): a dry run of manifests of the Kubernetes
 * community's shape (bench/promote/k8s-shape.ts: 75 subprojects, 22 destinations, several tags per
 * digest) against empty real registries, so every edge is missing. Peak RSS is measured at two
 * sizes and bounded per edge (the slope, so Node's own footprint and the machine's load do not
 * count), with and without --json; the table says "missing" once per source repository, while
 * --json keeps every edge. The full-scale figures (720,000 edges) are in docs/bench.md.
 */
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { K8S_FULL, writeK8sShape } from "../../bench/promote/k8s-shape.js";
import { makeTempDir, removeTempDir, runOciutilWithPeakRss, startRegistry, type TestRegistry } from "./harness/index.js";

/** Bytes of peak RSS per edge, above what a small run takes. Before this bound: about 600 (table) and 800 (--json). */
const BYTES_PER_EDGE = 300;
const SMALL = 500;
const LARGE = 2_500;

let source: TestRegistry;
let dests: TestRegistry[];
let tmp: string;
const runs = new Map<string, { edges: number; dir: string }>();

beforeAll(async () => {
  [source, ...dests] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  tmp = await makeTempDir("promote-memory");
  for (const digests of [SMALL, LARGE]) {
    const dir = join(tmp, `thin-${digests}`);
    const destinations = Array.from({ length: K8S_FULL.destinations }, (_, i) => `${dests[i % dests.length]!.host}/k8s-artifacts-prod/images-${i}`);
    const edges = await writeK8sShape(dir, { ...K8S_FULL, digests, source: `${source.host}/staging`, destinations });
    runs.set(String(digests), { edges, dir });
  }
}, 120_000);
afterAll(async () => {
  await Promise.all([source?.stop(), ...(dests ?? []).map((d) => d.stop())]);
  await removeTempDir(tmp);
});

const dryRun = async (digests: number, extra: string[]) => {
  const { dir, edges } = runs.get(String(digests))!;
  const r = await runOciutilWithPeakRss(["promote", "--insecure", "--thin-manifest-dir", dir, ...extra]);
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr.trim().split("\n").at(-1)).toBe(`ociutil: not every edge can be promoted: ${edges} missing (see the ${extra.includes("--json") ? "report" : "table"} for each and why)`);
  return { ...r, edges };
};

describe("a dry run whose sources lack everything", () => {
  it("the table: one row per source repository, memory bounded per edge", async () => {
    const small = await dryRun(SMALL, []);
    const large = await dryRun(LARGE, []);
    const lines = large.stdout.trim().split("\n");
    const repositories = K8S_FULL.subprojects * K8S_FULL.imagesPerSubproject;
    expect(lines).toHaveLength(1 + repositories + 1); // header, a row per source repository, the summary
    expect(lines[1]).toMatch(
      new RegExp(`^missing\\s+${source.host}/staging/sp-00/sp-00-img-0 \\(source\\)\\s+\\d+ digests\\s+in neither the source nor any destination: \\d+ edges to 22 repositories$`),
    );
    expect(lines.at(-1)).toBe(`${large.edges} edges: ${large.edges} missing (dry run; --confirm to promote)`);
    const perEdge = ((large.peakRssMB - small.peakRssMB) * 2 ** 20) / (large.edges - small.edges);
    expect(perEdge, `peak RSS ${small.peakRssMB.toFixed(0)} MB at ${small.edges} edges, ${large.peakRssMB.toFixed(0)} MB at ${large.edges}`).toBeLessThan(BYTES_PER_EDGE);
  });

  it("--json: every edge, memory bounded per edge", async () => {
    const small = await dryRun(SMALL, ["--json"]);
    const large = await dryRun(LARGE, ["--json"]);
    const report = JSON.parse(large.stdout) as { summary: { missing: number }; edges: Array<{ outcome: string; detail: string }> };
    expect(report.summary.missing).toBe(large.edges);
    expect(report.edges).toHaveLength(large.edges);
    expect(report.edges[0]!.detail).toMatch(/^sha256:[0-9a-f]{64} is in neither \S+ nor \S+$/);
    const perEdge = ((large.peakRssMB - small.peakRssMB) * 2 ** 20) / (large.edges - small.edges);
    expect(perEdge, `peak RSS ${small.peakRssMB.toFixed(0)} MB at ${small.edges} edges, ${large.peakRssMB.toFixed(0)} MB at ${large.edges}`).toBeLessThan(BYTES_PER_EDGE);
  });
});

/** A plain manifest of `images` images, one digest and tag each, to three destinations (issue 16 row 10's shape). */
async function plainManifest(images: number): Promise<string> {
  const file = join(tmp, `plain-${images}.yaml`);
  const lines = ["registries:", "- name: 127.0.0.1:5000/staging", "  src: true", ...[2, 3, 4].map((i) => `- name: 127.0.0.${i}:5000/prod`), "images:"];
  for (let n = 0; n < images; n++) {
    const digest = createHash("sha256").update(String(n)).digest("hex");
    lines.push(`- name: team-${Math.floor(n / 1000)}/img-${n}`, "  dmap:", `    "sha256:${digest}": ["v1.${n}"]`);
  }
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

describe("validating a plain manifest of many images", () => {
  it("memory bounded per image: the images list is parsed a slice at a time", async () => {
    /** Bytes of peak RSS per image above a small run; before slicing, about 12,500 (2.7 GB at 200,000 images). */
    const BYTES_PER_IMAGE = 6_000;
    const [small, large] = [5_000, 25_000];
    const peaks: number[] = [];
    for (const n of [small, large]) {
      const r = await runOciutilWithPeakRss(["promote", "--manifest", await plainManifest(n), "--validate-only"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(`manifests are valid: ${3 * n} edges to ${3 * n} destination repositories`);
      peaks.push(r.peakRssMB);
    }
    const perImage = ((peaks[1]! - peaks[0]!) * 2 ** 20) / (large - small);
    expect(perImage, `peak RSS ${peaks[0]!.toFixed(0)} MB at ${small} images, ${peaks[1]!.toFixed(0)} MB at ${large}`).toBeLessThan(BYTES_PER_IMAGE);
  });
});
