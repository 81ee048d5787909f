/**
 * Records of what `ociutil push` and `ociutil copy` pushed, checked byte for byte against the shapes
 * their readers parse: crane/ko `--image-refs`, kaniko's `$BUILDER_OUTPUT/images` (Cloud Build), and
 * the Tekton results Tekton Chains reads. Real registries; crane confirms what was pushed.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestImage, buildTestIndex, makeTempDir, mustRun, peer, removeTempDir, runOciutil, mustRunOciutil, runTool, startRegistry, type BuiltIndex, type TestRegistry } from "./harness/index.js";

let registry: TestRegistry;
let other: TestRegistry;
let tmp: string;
let imageDir: string;
let indexDir: string;
let imageDigest: string;
let index: BuiltIndex;

beforeAll(async () => {
  registry = await startRegistry();
  other = await startRegistry();
  tmp = await makeTempDir("records");
  imageDir = join(tmp, "image");
  imageDigest = (await buildTestImage(imageDir, { layers: [{ files: { "etc/app": "app\n" } }] })).manifestDigest;
  indexDir = join(tmp, "index");
  index = await buildTestIndex(indexDir, [
    { layers: [{ files: { "etc/app": "amd64\n" } }], platform: { os: "linux", architecture: "amd64" } },
    { layers: [{ files: { "etc/app": "arm64\n" } }], platform: { os: "linux", architecture: "arm64", variant: "v8" } },
  ]);
});
afterAll(async () => {
  await registry?.stop();
  await other?.stop();
  await removeTempDir(tmp);
});

async function ociutil(args: string[], env: Record<string, string | undefined> = {}): Promise<string> {
  return (await mustRunOciutil(args, { env: { BUILDER_OUTPUT: undefined, ...env } })).stdout;
}
const craneDigest = async (ref: string) => (await mustRun(peer("crane"), ["digest", ref, "--insecure"])).stdout.trim();
async function freshDir(name: string): Promise<string> {
  const d = join(tmp, name);
  await mkdir(d, { recursive: true });
  return d;
}
/** Every file in a directory: a temp file left behind would show up here. */
const files = async (dir: string) => (await readdir(dir)).sort();

describe("push records", () => {
  it("a single image: image refs, Cloud Build images, Tekton results and --json, byte for byte", async () => {
    const out = await freshDir("single");
    const builder = join(out, "builder"); // not created yet: ociutil creates $BUILDER_OUTPUT like Cloud Build's mount
    await mkdir(join(out, "tekton"));
    const repo = `${registry.host}/records/single`;
    const stdout = await ociutil(
      ["push", "--insecure", imageDir, `${repo}:v1`, "--tag", "latest", "--image-refs", join(out, "refs.txt"), "--tekton-results", join(out, "tekton"), "--json"],
      { BUILDER_OUTPUT: builder },
    );
    expect(await craneDigest(`${repo}:v1`)).toBe(imageDigest);
    expect(await craneDigest(`${repo}:latest`)).toBe(imageDigest);

    expect(await readFile(join(out, "refs.txt"), "utf8")).toBe(`${repo}@${imageDigest}\n`);
    expect(await readFile(join(builder, "images"), "utf8")).toBe(
      `{"name":"${repo}:v1","digest":"${imageDigest}"}\n{"name":"${repo}:latest","digest":"${imageDigest}"}\n`,
    );
    expect(await files(join(out, "tekton"))).toEqual(["IMAGES", "IMAGE_DIGEST", "IMAGE_URL"]);
    expect(await readFile(join(out, "tekton", "IMAGE_URL"), "utf8")).toBe(repo);
    expect(await readFile(join(out, "tekton", "IMAGE_DIGEST"), "utf8")).toBe(imageDigest);
    expect(await readFile(join(out, "tekton", "IMAGES"), "utf8")).toBe(`${repo}@${imageDigest}`);
    expect(await files(out)).toEqual(["builder", "refs.txt", "tekton"]);
    expect(await files(builder)).toEqual(["images"]);

    expect(stdout.endsWith("\n") && stdout.indexOf("\n") === stdout.length - 1).toBe(true); // one line, one object
    const json = JSON.parse(stdout);
    expect(json).toMatchObject({
      reference: `${repo}@${imageDigest}`,
      digest: imageDigest,
      tags: ["v1", "latest"],
      builtFrom: { layout: imageDir },
      imageRefs: [`${repo}@${imageDigest}`],
      builderOutputImages: [
        { name: `${repo}:v1`, digest: imageDigest },
        { name: `${repo}:latest`, digest: imageDigest },
      ],
      tektonResults: { IMAGE_URL: repo, IMAGE_DIGEST: imageDigest, IMAGES: `${repo}@${imageDigest}` },
    });
  });

  it("an index: the index first, then each of its images, in the index's order", async () => {
    const out = await freshDir("index");
    await mkdir(join(out, "tekton"));
    await mkdir(join(out, "builder"));
    await writeFile(join(out, "builder", "images"), "stale\n"); // replaced, not appended to
    const repo = `${registry.host}/records/multi`;
    await ociutil(["push", "--insecure", indexDir, `${repo}:v2`, "--image-refs", join(out, "refs.txt"), "--tekton-results", join(out, "tekton")], {
      BUILDER_OUTPUT: join(out, "builder"),
    });
    expect(await craneDigest(`${repo}:v2`)).toBe(index.indexDigest);
    const [amd64, arm64] = index.images.map((i) => i.manifestDigest);
    expect(await readFile(join(out, "refs.txt"), "utf8")).toBe(`${repo}@${index.indexDigest}\n${repo}@${amd64}\n${repo}@${arm64}\n`);
    expect(await readFile(join(out, "builder", "images"), "utf8")).toBe(`{"name":"${repo}:v2","digest":"${index.indexDigest}"}\n`);
    expect(await readFile(join(out, "tekton", "IMAGE_URL"), "utf8")).toBe(repo);
    expect(await readFile(join(out, "tekton", "IMAGE_DIGEST"), "utf8")).toBe(index.indexDigest);
    expect(await readFile(join(out, "tekton", "IMAGES"), "utf8")).toBe(`${repo}@${index.indexDigest}\n${repo}@${amd64}\n${repo}@${arm64}`);
    expect(await files(join(out, "builder"))).toEqual(["images"]);
  });

  it("pushed by digest only: the Cloud Build name is the digest reference; an empty $BUILDER_OUTPUT writes nothing", async () => {
    const out = await freshDir("bydigest");
    const repo = `${registry.host}/records/bydigest`;
    await ociutil(["push", "--insecure", imageDir, `${repo}@${imageDigest}`], { BUILDER_OUTPUT: join(out, "b") });
    expect(await readFile(join(out, "b", "images"), "utf8")).toBe(`{"name":"${repo}@${imageDigest}","digest":"${imageDigest}"}\n`);
    await ociutil(["push", "--insecure", imageDir, `${repo}@${imageDigest}`], { BUILDER_OUTPUT: "", PWD: out });
    expect(await files(out)).toEqual(["b"]);
  });
});

describe("copy records", () => {
  it("copy of an index records the destination, index first", async () => {
    const out = await freshDir("copy");
    await mkdir(join(out, "tekton"));
    const src = `${registry.host}/records/multi:v2`;
    const repo = `${other.host}/records/copied`;
    const stdout = await ociutil(["copy", "--insecure", src, `${repo}:c1`, "--image-refs", join(out, "refs.txt"), "--tekton-results", join(out, "tekton"), "--json"], {
      BUILDER_OUTPUT: join(out, "builder"),
    });
    const [amd64, arm64] = index.images.map((i) => i.manifestDigest);
    expect(await readFile(join(out, "refs.txt"), "utf8")).toBe(`${repo}@${index.indexDigest}\n${repo}@${amd64}\n${repo}@${arm64}\n`);
    expect(await readFile(join(out, "builder", "images"), "utf8")).toBe(`{"name":"${repo}:c1","digest":"${index.indexDigest}"}\n`);
    expect(await readFile(join(out, "tekton", "IMAGES"), "utf8")).toBe(`${repo}@${index.indexDigest}\n${repo}@${amd64}\n${repo}@${arm64}`);
    expect(await readFile(join(out, "tekton", "IMAGE_URL"), "utf8")).toBe(repo);
    const json = JSON.parse(stdout);
    expect(json.source).toBe(`${registry.host}/records/multi@${index.indexDigest}`);
    expect(json.imageRefs).toEqual([`${repo}@${index.indexDigest}`, `${repo}@${amd64}`, `${repo}@${arm64}`]);
  });
});

describe("refusals, before anything is pushed", () => {
  it("Tekton results that would not fit in the 4096-byte termination message", async () => {
    // 16 platforms under a 200-character repository name: IMAGES alone is over 4 KiB.
    const dir = join(tmp, "wide");
    await buildTestIndex(
      dir,
      Array.from({ length: 16 }, (_, i) => ({ layers: [{ files: { n: `${i}\n` } }], platform: { os: "linux", architecture: `arch${i}` } })),
    );
    const out = await freshDir("wide-out");
    await mkdir(join(out, "tekton"));
    const repo = `${registry.host}/records/${"w".repeat(200)}`;
    const r = await runOciutil(["push", "--insecure", dir, `${repo}:v1`, "--tekton-results", join(out, "tekton"), "--image-refs", join(out, "refs.txt")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ociutil: --tekton-results: the results \(17 image refs\) take \d+ bytes of the step's termination message, more than Tekton's 4096/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(await files(join(out, "tekton"))).toEqual([]);
    expect(await files(out)).toEqual(["tekton"]);
    // Nothing reached the registry.
    const ls = await runTool(peer("crane"), ["ls", repo, "--insecure"]);
    expect(ls.code).not.toBe(0);
    expect(ls.stderr).toMatch(/NAME_UNKNOWN|not found/i);
  });

  it("a --tekton-results directory that does not exist, or an --image-refs file in one", async () => {
    const repo = `${registry.host}/records/refused`;
    for (const flags of [["--tekton-results", join(tmp, "nope")], ["--image-refs", join(tmp, "nope", "refs.txt")]]) {
      const r = await runOciutil(["push", "--insecure", imageDir, `${repo}:v1`, ...flags]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^ociutil: --(tekton-results|image-refs) .*nope.* does not exist\n$/);
    }
    const ls = await runTool(peer("crane"), ["ls", repo, "--insecure"]);
    expect(ls.code).not.toBe(0);
  });
});
