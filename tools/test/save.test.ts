/**
 * `ociutil save`: a `docker save`-format tarball from an OCI layout, checked by peers that read that
 * format (skopeo's docker-archive transport, crane's tarball validation). Loading into podman and
 * docker is in e2e.test.ts (`oci_load` under Bazel).
 */
import { existsSync } from "node:fs";
import { readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  blobPath,
  buildTestImage,
  buildTestIndex,
  makeTempDir,
  mustRun,
  peer,
  removeTempDir,
  runOciutil,
  runOciutilWithPeakRss,
  type BuiltImage,
  type BuiltIndex,
} from "./harness/index.js";

let tmp: string;
let image: BuiltImage;
let imageDir: string;
let index: BuiltIndex;
let indexDir: string;

beforeAll(async () => {
  tmp = await makeTempDir("save");
  imageDir = join(tmp, "image");
  image = await buildTestImage(imageDir, {
    layers: [{ files: { "etc/base-only.txt": "base\n" } }, { files: { "app/hello": "hi\n" } }, { files: { "etc/base-only.txt": "base\n" } }],
  });
  indexDir = join(tmp, "index");
  index = await buildTestIndex(indexDir, [
    { platform: { os: "linux", architecture: "amd64" }, layers: [{ files: { arch: "amd64\n" } }] },
    { platform: { os: "linux", architecture: "arm64", variant: "v8" }, layers: [{ files: { arch: "arm64\n" } }] },
  ]);
});
afterAll(async () => removeTempDir(tmp));

/** Every entry of a tar file: name -> content (the test tars are small). */
async function readTar(file: string): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  const entries = new Map<string, Buffer>();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        entries.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(await readFile(file));
  await done;
  return entries;
}

interface SkopeoRaw {
  config: { digest: string };
  layers: { digest: string }[];
}

async function skopeoRaw(file: string): Promise<SkopeoRaw> {
  return JSON.parse((await mustRun(peer("skopeo"), ["inspect", "--raw", `docker-archive:${file}`])).stdout) as SkopeoRaw;
}

const hex = (d: string): string => d.slice("sha256:".length);

describe("ociutil save", () => {
  it("writes a docker-archive that skopeo and crane read: config, layers, tags", async () => {
    const out = join(tmp, "image.tar");
    const r = await runOciutil(["save", imageDir, out, "--tag", "e2e/app:latest", "--tag", "localhost:5000/app:v1", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { manifest: string; config: string; layers: string[] };
    expect(result.manifest).toBe(image.manifestDigest);
    expect(result.config).toBe(image.configDigest);

    // skopeo builds a manifest from the archive: the config we wrote, and the layers by diff ID.
    const raw = await skopeoRaw(out);
    expect(raw.config.digest).toBe(image.configDigest);
    expect(raw.layers.map((l) => l.digest)).toEqual(image.diffIds);
    // crane reads every layer, and checks each against the config's diff_ids.
    await mustRun(peer("crane"), ["validate", "--tarball", out]);

    const entries = await readTar(out);
    expect(JSON.parse(entries.get("manifest.json")!.toString())).toEqual([
      {
        Config: `blobs/sha256/${hex(image.configDigest)}`,
        RepoTags: ["e2e/app:latest", "localhost:5000/app:v1"],
        Layers: image.layerDigests.map((d) => `blobs/sha256/${hex(d)}`),
      },
    ]);
    const top = hex(image.layerDigests.at(-1)!);
    expect(JSON.parse(entries.get("repositories")!.toString())).toEqual({ "e2e/app": { latest: top }, "localhost:5000/app": { v1: top } });
    // A layer listed twice is stored once; blobs are the layout's bytes.
    expect([...entries.keys()].filter((n) => n.startsWith("blobs/sha256/") && n.length > 13)).toHaveLength(3);
    for (const d of image.layerDigests) expect(entries.get(`blobs/sha256/${hex(d)}`)).toEqual(await readFile(blobPath(imageDir, d)));
  });

  it("--tags-file adds the names of a repo_tags file (one a line, blank lines ignored) after the --tag ones", async () => {
    const file = join(tmp, "repo_tags.txt");
    await writeFile(file, "e2e/app:from-file\n\n  localhost:5000/app:v2  \n");
    const out = join(tmp, "tags-file.tar");
    const r = await runOciutil(["save", imageDir, out, "--tag", "e2e/app:latest", "--tags-file", file, "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse((await readTar(out)).get("manifest.json")!.toString()) as { RepoTags: string[] }[];
    expect(manifest[0]!.RepoTags).toEqual(["e2e/app:latest", "e2e/app:from-file", "localhost:5000/app:v2"]);
  });

  it("is reproducible: the same layout and tags give the same bytes; --quiet prints nothing", async () => {
    const a = join(tmp, "a.tar");
    const b = join(tmp, "b.tar");
    expect((await runOciutil(["save", imageDir, a, "-t", "x:1"])).stdout).toMatch(/a\.tar: .* \(3 layers, x:1\)\n$/);
    const quiet = await runOciutil(["save", "--quiet", imageDir, b, "-t", "x:1"]);
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, "", ""]);
    expect(await readFile(a)).toEqual(await readFile(b));
  });

  it("takes the platform asked for from an index", async () => {
    const out = join(tmp, "arm64.tar");
    const r = await runOciutil(["save", indexDir, out, "--platform", "linux/arm64", "-t", "multi:arm64"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("(linux/arm64)");
    expect((await skopeoRaw(out)).config.digest).toBe(index.images[1]!.configDigest);
  });

  it("takes the host's platform from an index by default", async () => {
    if (process.arch !== "x64") throw new Error(`this test expects an amd64 machine (its index has amd64 and arm64), not ${process.arch}`);
    const out = join(tmp, "host.tar");
    const r = await runOciutil(["save", indexDir, out, "-t", "multi:host"]);
    expect(r.code, r.stderr).toBe(0);
    expect((await skopeoRaw(out)).config.digest).toBe(index.images[0]!.configDigest);
  });

  it("takes an image whose platform is unknown (empty os and architecture), with or without --platform", async () => {
    const dir = join(tmp, "unknown-platform");
    const img = await buildTestImage(dir, { layers: [{ files: { a: "1" } }], platform: { os: "", architecture: "" } });
    // index.json names it without a platform, as crane does for such an image.
    await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ ...img.manifestDescriptor, platform: undefined }] }));
    for (const extra of [[], ["--platform", "linux/arm64"]]) {
      const out = join(tmp, `unknown-${extra.length}.tar`);
      const r = await runOciutil(["save", dir, out, "-t", "scratch:1", ...extra]);
      expect(r.code, r.stderr).toBe(0);
      expect((await skopeoRaw(out)).config.digest).toBe(img.configDigest);
    }
  });

  it(`streams: a 300 MB layer is saved with peak RSS under 150 MB`, async () => {
    const dir = join(tmp, "big");
    const big = await buildTestImage(dir, { layers: [{ randomBytes: 300_000_000 }, { files: { small: "x" } }] });
    const out = join(tmp, "big.tar");
    const r = await runOciutilWithPeakRss(["save", dir, out, "-t", "big:1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.peakRssMB).toBeLessThan(150);
    expect((await skopeoRaw(out)).config.digest).toBe(big.configDigest);
    await rm(dir, { recursive: true });
    await rm(out);
  }, 120_000);
});

describe("ociutil save: bad input gets one line and no tar", () => {
  async function fails(args: string[], code: 1 | 2, pattern: RegExp): Promise<void> {
    const out = args[2]!;
    const r = await runOciutil(args);
    expect(r.code, r.stderr).toBe(code);
    const lines = r.stderr.trim().split("\n");
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^ociutil: /);
    expect(lines[0]).toMatch(pattern);
    expect(existsSync(out), `${out} must not be written`).toBe(false);
    // No temp file is left beside it.
    const dir = join(out, "..");
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  }

  it("an index without the platform asked for", async () => {
    await fails(["save", indexDir, join(tmp, "bad1.tar"), "--platform", "linux/s390x"], 1, /has no image for linux\/s390x; it has: linux\/amd64, linux\/arm64\/v8/);
  });

  it("an index without the host's platform, and no --platform", async () => {
    const dir = join(tmp, "arm-only");
    await buildTestIndex(dir, [{ platform: { os: "linux", architecture: "arm64" }, layers: [{ files: { a: "1" } }] }]);
    await fails(["save", dir, join(tmp, "bad2.tar")], 1, /has no image for linux\/amd64 \(this machine's; name another with --platform\); it has: linux\/arm64/);
  });

  it("an image of another platform than asked for", async () => {
    await fails(["save", imageDir, join(tmp, "bad3.tar"), "--platform", "linux/arm64"], 1, /is linux\/amd64, not linux\/arm64/);
  });

  it("a layer missing from the layout (a shallow pull)", async () => {
    const dir = join(tmp, "shallow");
    const img = await buildTestImage(dir, { layers: [{ files: { a: "1" } }, { files: { b: "2" } }] });
    await rm(blobPath(dir, img.layerDigests[0]!));
    await fails(["save", dir, join(tmp, "bad4.tar"), "-t", "x:1"], 1, /layer 1 sha256:[0-9a-f]{64} is not in the layout \(a shallow layout\?/);
  });

  it("a corrupt layer (same size, other bytes): found while streaming, the tar is removed", async () => {
    const dir = join(tmp, "corrupt");
    const img = await buildTestImage(dir, { layers: [{ files: { a: "1" } }, { randomBytes: 4 << 20 }] });
    const p = blobPath(dir, img.layerDigests[1]!);
    const bytes = await readFile(p);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await writeFile(p, bytes);
    await fails(["save", dir, join(tmp, "bad5.tar"), "-t", "x:1"], 1, /layer 2 \(sha256:[0-9a-f]{64}\): content has digest sha256:/);
  });

  it("a truncated layer", async () => {
    const dir = join(tmp, "truncated");
    const img = await buildTestImage(dir, { layers: [{ files: { a: "1" } }] });
    await truncate(blobPath(dir, img.layerDigests[0]!), 10);
    await fails(["save", dir, join(tmp, "bad6.tar")], 1, /layer 1 sha256:[0-9a-f]{64} has 10 bytes, its descriptor says/);
  });

  it("a tag without a tag, or with a digest", async () => {
    await fails(["save", imageDir, join(tmp, "bad7.tar"), "-t", "localhost:5000/app"], 2, /--tag "localhost:5000\/app" has no tag: write it as localhost:5000\/app:latest/);
    await fails(["save", imageDir, join(tmp, "bad8.tar"), "-t", `app@sha256:${"a".repeat(64)}`], 2, /a tag cannot have a digest/);
    await fails(["save", imageDir, join(tmp, "bad9.tar"), "-t", "App:1"], 1, /invalid image reference "App:1"/);
  });

  it("--tags-file: a line without a tag names the file and line; a missing file says so", async () => {
    const file = join(tmp, "bad_tags.txt");
    await writeFile(file, "e2e/app:ok\ne2e/app\n");
    await fails(["save", imageDir, join(tmp, "bad-tags.tar"), "--tags-file", file], 2, /bad_tags\.txt:2: --tag "e2e\/app" has no tag/);
    await fails(["save", imageDir, join(tmp, "bad-tags.tar"), "--tags-file", join(tmp, "none.txt")], 2, /--tags-file .*none\.txt: cannot read it \(ENOENT\)/);
  });

  it("not a layout; a ref it does not have; two entries and no ref", async () => {
    await fails(["save", join(tmp, "nowhere"), join(tmp, "bad10.tar")], 1, /is not an OCI image layout/);
    await fails(["save", imageDir, join(tmp, "bad11.tar"), "--ref", "v9"], 1, /index\.json has no entry named "v9" \(it has: latest\)/);
    const two = join(tmp, "two");
    await buildTestImage(two, { layers: [{ files: { a: "1" } }], refName: "one" });
    await buildTestImage(two, { layers: [{ files: { a: "2" } }], refName: "two" });
    await fails(["save", two, join(tmp, "bad12.tar")], 1, /index\.json lists 2 images: name one with --ref \(one, two\)/);
    const r = await runOciutil(["save", two, join(tmp, "two.tar"), "--ref", "two"]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("a failure leaves an existing tar as it was", async () => {
    const out = join(tmp, "kept.tar");
    await writeFile(out, "old");
    // The corrupt layer is found while the tar is being written.
    const r = await runOciutil(["save", join(tmp, "corrupt"), out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/content has digest/);
    expect(await readFile(out, "utf8")).toBe("old");
  });
});
