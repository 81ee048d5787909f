/**
 * The ociutil subcommands the Bazel rules run (layer, image, index, layout), through the bundled CLI.
 */
import { chmod, mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, mustRun, peer, removeTempDir, mustRunOciutil, runOciutil } from "./harness/index.js";

let dir: string;

beforeAll(async () => {
  dir = await makeTempDir("build-cmds");
});
afterAll(async () => {
  await removeTempDir(dir);
});

async function ociutil(...args: string[]): Promise<string> {
  return (await mustRunOciutil(args, { cwd: dir })).stdout;
}

async function json<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(join(dir, file), "utf8")) as T;
}

interface LayerInfo {
  descriptor: { mediaType: string; digest: string; size: number };
  diffID: string;
}

async function makeSources(root: string, mtime: number, mode: number): Promise<void> {
  await mkdir(join(dir, root, "tree", "sub"), { recursive: true });
  await writeFile(join(dir, root, "hello.sh"), "#!/bin/sh\necho hi\n");
  await writeFile(join(dir, root, "tree", "a.txt"), "a\n");
  await writeFile(join(dir, root, "tree", "sub", "b.txt"), "b\n");
  await chmod(join(dir, root, "hello.sh"), mode);
  for (const p of ["hello.sh", "tree/a.txt", "tree/sub/b.txt"]) await utimes(join(dir, root, p), mtime, mtime);
}

function layerManifest(root: string): string {
  return JSON.stringify({
    prefix: "app",
    entries: [
      { path: "bin/hello.sh", src: `${root}/hello.sh`, executable: true },
      { path: "data", src: `${root}/tree` },
      { path: "link", symlink: "/app/bin/hello.sh" },
      { path: "var/empty", type: "dir", mode: 0o700 },
    ],
  });
}

describe("layer", () => {
  it("is reproducible: host mtimes do not leak, entries are sorted with parents", async () => {
    await makeSources("s1", 1_000_000, 0o755);
    await makeSources("s2", 2_000_000, 0o775);
    await writeFile(join(dir, "m1.json"), layerManifest("s1"));
    await writeFile(join(dir, "m2.json"), layerManifest("s2"));
    await ociutil("layer", "--manifest", "m1.json", "--output", "l1.tar.gz", "--info", "l1.json");
    await ociutil("layer", "--manifest", "m2.json", "--output", "l2.tar.gz", "--info", "l2.json");
    const [a, b] = [await json<LayerInfo>("l1.json"), await json<LayerInfo>("l2.json")];
    expect(a.descriptor.digest).toBe(b.descriptor.digest);
    expect(a.descriptor.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect((await stat(join(dir, "l1.tar.gz"))).size).toBe(a.descriptor.size);
    const listing = (await mustRun("tar", ["tzvf", join(dir, "l1.tar.gz")])).stdout.trim().split("\n");
    const names = listing.map((l) => l.split(/\s+/).slice(5).join(" "));
    expect(names).toEqual([
      "app/",
      "app/bin/",
      "app/bin/hello.sh",
      "app/data/",
      "app/data/a.txt",
      "app/data/sub/",
      "app/data/sub/b.txt",
      "app/link -> /app/bin/hello.sh",
      "app/var/",
      "app/var/empty/",
    ]);
    for (const line of listing) expect(line).toMatch(/ 0\/0 .* 1970-01-01 00:00 /);
    expect(listing[2]).toMatch(/^-rwxr-xr-x/);
    expect(listing[9]).toMatch(/^drwx------/);
    // --describe of the same file agrees with what layer wrote.
    await ociutil("layer", "--describe", "l1.tar.gz", "--info", "d.json");
    expect(await json<LayerInfo>("d.json")).toEqual(a);
  });

  it("applies modes to files found in directories, and refuses a mode for a path it lacks", async () => {
    await writeFile(
      join(dir, "m3.json"),
      JSON.stringify({ prefix: "app", compression: "none", modes: { "data/sub/b.txt": 0o600 }, entries: [{ path: "data", src: "s1/tree" }] }),
    );
    await ociutil("layer", "--manifest", "m3.json", "--output", "l3.tar", "--info", "l3.json");
    const listing = (await mustRun("tar", ["tvf", join(dir, "l3.tar")])).stdout;
    expect(listing).toMatch(/^-rw------- .* app\/data\/sub\/b\.txt$/m);
    expect((await json<LayerInfo>("l3.json")).descriptor.mediaType).toBe("application/vnd.oci.image.layer.v1.tar");
    await writeFile(join(dir, "m4.json"), JSON.stringify({ prefix: "app", target: "//x:l", modes: { nope: 0o600 }, entries: [{ path: "data", src: "s1/tree" }] }));
    const r = await runOciutil(["layer", "--manifest", "m4.json", "--output", "l4.tar", "--info", "l4.json"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('ociutil: //x:l: modes names "app/nope", which is not in the layer');
  });

  it("refuses a path that escapes the prefix, naming the target", async () => {
    await writeFile(join(dir, "bad.json"), JSON.stringify({ prefix: "app", target: "//x:layer", entries: [{ path: "../../etc/passwd", src: "s1/hello.sh" }] }));
    const r = await runOciutil(["layer", "--manifest", "bad.json", "--output", "bad.tar", "--info", "bad.info"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `ociutil: //x:layer: layer path "../../etc/passwd" escapes the layer's prefix "app": use a path inside it (no ".." above it), or change the prefix`,
    );
  });
});

describe("image, index and layout", () => {
  it("assemble a layout that umoci and skopeo read", async () => {
    await writeFile(join(dir, "spec.json"), JSON.stringify({ architecture: "amd64", entrypoint: ["/app/bin/hello.sh"], env: { A: "1" } }));
    await ociutil("image", "--spec", "spec.json", "--layer", "l1.json=l1.tar.gz", "--output-manifest", "img.m", "--output-config", "img.c", "--output-descriptor", "img.d");
    const config = await json<{ os: string; created: string; config: { Env: string[] }; rootfs: { diff_ids: string[] } }>("img.c");
    expect(config.os).toBe("linux");
    expect(config.created).toBe("1970-01-01T00:00:00Z");
    expect(config.config.Env).toEqual(["A=1"]);
    expect(config.rootfs.diff_ids).toEqual([(await json<LayerInfo>("l1.json")).diffID]);

    // The same image on top of itself: base layers come first, Env is merged.
    await writeFile(join(dir, "spec2.json"), JSON.stringify({ env: { A: "2", B: "3" } }));
    await ociutil("image", "--spec", "spec2.json", "--base-manifest", "img.m", "--base-config", "img.c", "--layer", "l2.tar.gz", "--output-manifest", "img2.m", "--output-config", "img2.c", "--output-descriptor", "img2.d");
    const config2 = await json<{ config: { Env: string[] } }>("img2.c");
    expect(config2.config.Env).toEqual(["A=2", "B=3"]);
    const manifest2 = await json<{ layers: unknown[]; annotations: Record<string, string> }>("img2.m");
    expect(manifest2.layers).toHaveLength(2);
    expect(manifest2.annotations["org.opencontainers.image.base.digest"]).toBe((await json<{ digest: string }>("img.d")).digest);

    await ociutil("index", "--manifest", "img.d", "--output-index", "idx.json", "--output-descriptor", "idx.d");
    await ociutil(
      "layout", "--output", "out", "--descriptor", "idx.d", "--ref-name", "latest",
      "--blob", "idx.json", "--blob", "img.m", "--blob", "img.c", "--layer", "l1.json=l1.tar.gz", "--stats", "stats.json",
    );
    const stats = await json<{ blobs: number; linked: number; copied: number }>("stats.json");
    expect(stats.blobs).toBe(4);
    expect(stats.linked + stats.copied).toBe(4);
    expect(await ociutil("verify", "out")).toMatch(/ok/);
    await mustRun(peer("umoci"), ["unpack", "--rootless", "--image", `${join(dir, "out")}:latest`, join(dir, "bundle")]);
    expect((await stat(join(dir, "bundle", "rootfs", "app", "bin", "hello.sh"))).mode & 0o777).toBe(0o755);
  });

  it("layout fails, naming what is missing and the hint, when a blob has no file", async () => {
    // img2 has two layers with the same digest (layers are reproducible): one blob is missing.
    const r = await runOciutil(
      ["layout", "--output", "out2", "--descriptor", "img2.d", "--blob", "img2.m", "--blob", "img2.c", "--missing-hint", "set pulled_base"],
      { cwd: dir },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ociutil: 1 blob\(s\) missing from the layout's inputs, e\.g\. sha256:[0-9a-f]{64} \(layer 1 of sha256:.*: set pulled_base\n$/);
  });
});

describe("image: attributes from files, platforms, bad values", () => {
  it("reads env, labels, annotations, cmd and created from files; $NAME and ${NAME} extend the base's", async () => {
    await writeFile(join(dir, "env.txt"), "PATH=/app/bin:$PATH\n\nLIB=${PATH}:/lib\nEQ=a=b\n");
    await writeFile(join(dir, "labels.txt"), "l=from file\nboth=file\n");
    await writeFile(join(dir, "cmd.txt"), "--one\n--two=2\n");
    await writeFile(join(dir, "created.txt"), "2024-05-06T07:08:09Z\n");
    await writeFile(join(dir, "base-spec.json"), JSON.stringify({ architecture: "amd64", env: { PATH: "/usr/bin" } }));
    await ociutil("image", "--spec", "base-spec.json", "--output-manifest", "fb.m", "--output-config", "fb.c", "--output-descriptor", "fb.d");
    await writeFile(
      join(dir, "files-spec.json"),
      JSON.stringify({ env_file: "env.txt", labels_file: "labels.txt", labels: { both: "inline" }, cmd_file: "cmd.txt", created_file: "created.txt" }),
    );
    await ociutil("image", "--spec", "files-spec.json", "--base-manifest", "fb.m", "--base-config", "fb.c", "--output-manifest", "f.m", "--output-config", "f.c", "--output-descriptor", "f.d");
    const config = await json<{ created: string; config: { Env: string[]; Labels: Record<string, string>; Cmd: string[] } }>("f.c");
    expect(config.config.Env).toEqual(["PATH=/app/bin:/usr/bin", "LIB=/app/bin:/usr/bin:/lib", "EQ=a=b"]);
    expect(config.config.Labels).toEqual({ l: "from file", both: "inline" });
    expect(config.config.Cmd).toEqual(["--one", "--two=2"]);
    expect(config.created).toBe("2024-05-06T07:08:09Z");
  });

  it("a malformed attribute file or created time is one line naming it", async () => {
    await writeFile(join(dir, "bad-env.txt"), "GOOD=1\nno equals sign\n");
    await writeFile(join(dir, "bad-env-spec.json"), JSON.stringify({ architecture: "amd64", env_file: "bad-env.txt" }));
    let r = await runOciutil(["image", "--spec", "bad-env-spec.json", "--output-manifest", "x.m", "--output-config", "x.c", "--output-descriptor", "x.d"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ociutil: env file bad-env.txt, line 2: expected name=value, got "no equals sign"\n');
    await writeFile(join(dir, "bad-created.json"), JSON.stringify({ target: "//:img", architecture: "amd64", created: "yesterday" }));
    r = await runOciutil(["image", "--spec", "bad-created.json", "--output-manifest", "x.m", "--output-config", "x.c", "--output-descriptor", "x.d"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ociutil: //:img: created "yesterday" is not an RFC 3339 time such as 2024-01-02T03:04:05Z\n');
    await expect(stat(join(dir, "x.c"))).rejects.toThrow(/ENOENT/);
  });

  it("an image whose base config has empty os and architecture gets no platform; half a platform is an error", async () => {
    // go-containerregistry's empty image, as `crane append` onto scratch writes it.
    const configBytes = Buffer.from(JSON.stringify({ architecture: "", os: "", config: {}, rootfs: { type: "layers", diff_ids: [] } }));
    const { createHash } = await import("node:crypto");
    const configDigest = `sha256:${createHash("sha256").update(configBytes).digest("hex")}`;
    await writeFile(join(dir, "empty.c"), configBytes);
    await writeFile(
      join(dir, "empty.m"),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: configBytes.length },
        layers: [],
      }),
    );
    await writeFile(join(dir, "on-empty.json"), JSON.stringify({ target: "//:tool" }));
    await ociutil("image", "--spec", "on-empty.json", "--base-manifest", "empty.m", "--base-config", "empty.c", "--output-manifest", "e.m", "--output-config", "e.c", "--output-descriptor", "e.d");
    expect(await json<Record<string, unknown>>("e.d")).not.toHaveProperty("platform");
    await ociutil("index", "--manifest", "e.d", "--output-index", "e-idx.json", "--output-descriptor", "e-idx.d");

    await writeFile(join(dir, "half.json"), JSON.stringify({ target: "//:tool", architecture: "arm64" }));
    const r = await runOciutil(
      ["image", "--spec", "half.json", "--base-manifest", "empty.m", "--base-config", "empty.c", "--output-manifest", "h.m", "--output-config", "h.c", "--output-descriptor", "h.d"],
      { cwd: dir },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ociutil: //:tool: the image has architecture "arm64" but an empty os: set both os and architecture\n');
  });
});
