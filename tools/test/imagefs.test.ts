/**
 * ociutil ls, cat, export and diff on layouts written by the fixtures (and by skopeo, for zstd): path
 * resolution, image selection, escapes, compressions, and bad input.
 */
import { createHash } from "node:crypto";
import { readFile, readdir, rm, writeFile, cp } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestIndex, makeTempDir, mustRun, peer, removeTempDir, runOciutil } from "./harness/index.js";
import { buildLayeredImage, dir, file, hardlink, LAYERED, symlink, tarBytes } from "./imagefs/fixtures.js";

let tmp: string;
let layout: string;
let layers: string[];
beforeAll(async () => {
  tmp = await makeTempDir("imagefs");
  layout = join(tmp, "layout");
  layers = (await buildLayeredImage(layout, LAYERED, { ref: "v1" })).layerDigests;
});
afterAll(async () => removeTempDir(tmp));

async function ok(args: string[]): Promise<string> {
  const r = await runOciutil(args);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

async function fails(args: string[], pattern: RegExp, code = 1): Promise<void> {
  const r = await runOciutil(args);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^ociutil: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.code).toBe(code);
}

describe("ls", () => {
  it("lists a directory like ls -l, with the layer each entry came from", async () => {
    const out = await ok(["ls", `${layout}:v1`, "/usr/bin"]);
    expect(out).toBe(
      [
        `-rwxr-xr-x  3  1000  1000          7 2024-01-01 00:00 layer 0 ${layers[0]!.slice(0, 19)} /usr/bin/app`,
        `-rwxr-xr-x  3  1000  1000          7 2024-01-01 00:00 layer 0 ${layers[0]!.slice(0, 19)} /usr/bin/app-link`,
        `-rwxr-xr-x  3  1000  1000          7 2024-01-01 00:00 layer 1 ${layers[1]!.slice(0, 19)} /usr/bin/app2`,
        `lrwxrwxrwx  1     0     0          0 2024-01-01 00:00 layer 2 ${layers[2]!.slice(0, 19)} /usr/bin/rel -> ../../lib/libfoo.so`,
        "",
      ].join("\n"),
    );
  });

  it("shows one entry, and special mode bits as ls does", async () => {
    expect(await ok(["ls", layout, "/bin/tool"])).toMatch(/^-rwsr-xr-x +1 +0 +0 +20 .* \/bin\/tool\n$/);
    expect(await ok(["ls", layout, "/tmp"])).toBe("");
    expect(await ok(["ls", layout, "/"])).toMatch(/^drwxrwxrwt .* \/tmp$/m);
    const json = JSON.parse(await ok(["ls", "--json", layout, "/etc/passwd"]));
    expect(json.entries).toEqual([
      expect.objectContaining({ path: "/etc/passwd", type: "file", mode: "0600", uid: 0, gid: 0, size: 32, layer: 2, layerDigest: layers[2] }),
    ]);
  });

  it("fails on a path that is not there", async () => {
    await fails(["ls", layout, "/etc/secret"], /\/etc\/secret does not exist/);
  });
});

describe("cat", () => {
  it.each([
    ["/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"],
    ["/bin/sh", "#!/bin/sh\necho tool\n"], // absolute symlink, from the image's root
    ["/usr/bin/rel", "libfoo 2\n"], // relative symlink to a symlink, to a file a later layer replaced
    ["/links/keeps-original", "original\n"], // hard link to a file a later layer replaced
    ["/links/keeps-doomed", "doomed\n"], // hard link to a file a later layer deleted
    ["/usr/bin/app2", "app v1\n"], // hard link to a file in an earlier layer
  ])("%s", async (path, content) => {
    expect(await ok(["cat", `${layout}:v1`, path])).toBe(content);
  });

  it.each([
    ["/etc/secret", /\/etc\/secret does not exist/],
    ["/gone/file", /\/gone does not exist/],
    ["/tmp", /\/tmp is a directory/],
    ["/dev/pipe", /\/dev\/pipe is a fifo, not a regular file/],
  ])("refuses %s", async (path, pattern) => {
    await fails(["cat", layout, path], pattern);
  });
});

describe("diff", () => {
  it("names the paths added, removed and changed between two images", async () => {
    const before = join(tmp, "before");
    await buildLayeredImage(before, LAYERED.slice(0, 2));
    expect(await ok(["diff", before, layout])).toBe(
      [
        "A /dev",
        "A /dev/pipe",
        "M /etc/passwd (mode, content)",
        "M /lib/libfoo.so.1 (content)",
        "D /target-to-delete",
        "M /target-to-replace (mode, content)",
        "A /usr/bin/rel",
        "",
      ].join("\n"),
    );
    const json = JSON.parse(await ok(["diff", "--json", layout, before]));
    expect(json).toEqual({
      problems: [],
      added: ["/target-to-delete"],
      removed: ["/dev", "/dev/pipe", "/usr/bin/rel"],
      changed: [
        { path: "/etc/passwd", fields: ["mode", "content"] },
        { path: "/lib/libfoo.so.1", fields: ["content"] },
        { path: "/target-to-replace", fields: ["mode", "content"] },
      ],
    });
    expect(await ok(["diff", layout, layout])).toBe("");
  });
});

describe("choosing the image", () => {
  let multi: string;
  beforeAll(async () => {
    multi = join(tmp, "multi");
    await buildTestIndex(
      multi,
      [
        { platform: { os: "linux", architecture: "amd64" }, layers: [{ files: { "etc/arch": "amd64\n" } }] },
        { platform: { os: "linux", architecture: "arm64", variant: "v8" }, layers: [{ files: { "etc/arch": "arm64\n" } }] },
      ],
      "multi",
    );
  });

  it("--platform picks from an index", async () => {
    expect(await ok(["cat", "--platform", "linux/arm64", `${multi}:multi`, "/etc/arch"])).toBe("arm64\n");
    expect(await ok(["cat", "--platform", "linux/amd64", multi, "etc/arch"])).toBe("amd64\n");
  });

  it("an index without --platform, a platform it lacks, a ref it lacks, a bad platform", async () => {
    await fails(["ls", multi], /holds 2 images \(linux\/amd64, linux\/arm64\/v8\); pick one with --platform or LAYOUT:ref/);
    await fails(["ls", "--platform", "linux/s390x", multi], /has no image for platform linux\/s390x \(it has: linux\/amd64, linux\/arm64\/v8\)/);
    await fails(["ls", `${layout}:nope`], /has no image named "nope" in index.json \(it has: v1\)/);
    await fails(["ls", "--platform", "linux", layout], /invalid platform "linux"/, 2);
  });
});

describe("entries that try to escape the root", () => {
  // Resolved inside the root as containerd and umoci apply them (imagefs-hostile.test.ts checks the
  // same kind of layer against umoci unpack): nothing is dropped, nothing leaves the root.
  let evil: string;
  beforeAll(async () => {
    evil = join(tmp, "evil");
    await buildLayeredImage(evil, [
      [
        dir("etc"),
        file("etc/passwd", "inside\n"),
        file("../outside", "escaped\n"),
        file("/abs", "absolute\n"),
        file("a/../../up", "up\n"),
        symlink("esc", "../../../etc/passwd"),
        symlink("via", "/etc"),
        symlink("out", "../.."),
        hardlink("hl", "../outside"),
      ],
      [file("via/planted", "written through a symlink\n"), file("out/x", "x\n")],
    ]);
  });

  it("land inside the root: `..` and absolute names from the root, symlinked parents followed inside it", async () => {
    const r = await runOciutil(["ls", "-R", "--json", evil]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const doc = JSON.parse(r.stdout) as { entries: Array<{ path: string; links: number }>; problems: unknown[] };
    expect(doc.entries.map((e) => e.path)).toEqual(["/abs", "/esc", "/etc", "/etc/passwd", "/etc/planted", "/hl", "/out", "/outside", "/up", "/via", "/x"]);
    expect(doc.entries.find((e) => e.path === "/hl")?.links).toBe(2);
    expect(doc.problems).toEqual([]);
  });

  it("cat follows symlinks inside the root; `..` at the root stays there", async () => {
    expect((await runOciutil(["cat", evil, "/via/passwd"])).stdout).toBe("inside\n");
    expect((await runOciutil(["cat", evil, "/esc"])).stdout).toBe("inside\n");
    expect((await runOciutil(["cat", evil, "/out/etc/passwd"])).stdout).toBe("inside\n");
    expect((await runOciutil(["cat", evil, "/../etc/planted"])).stdout).toBe("written through a symlink\n");
  });

  it("export writes them where they landed", async () => {
    const out = join(tmp, "evil.tar");
    const r = await runOciutil(["export", evil, out]);
    expect(r.code).toBe(0);
    const list = await mustRun("tar", ["-tf", out]);
    expect(list.stdout.split("\n").filter(Boolean).sort()).toEqual(["abs", "esc", "etc/", "etc/passwd", "etc/planted", "hl", "out", "outside", "up", "via", "x"]);
  });
});

async function indexLayers(dirPath: string): Promise<string[]> {
  const index = JSON.parse(await readFile(join(dirPath, "index.json"), "utf8"));
  const m = JSON.parse(await readFile(join(dirPath, "blobs", "sha256", index.manifests[0].digest.slice(7)), "utf8"));
  return m.layers.map((l: { digest: string }) => l.digest);
}

describe("layer compression", () => {
  // Big enough that zstd uses compressed blocks (Huffman and FSE tables), not just raw ones, and
  // that a frame spans many 128 KiB blocks.
  const text = Buffer.from(Array.from({ length: 60_000 }, (_, i) => `line ${i} ${(i * 7919) % 1000} ${"abcdefgh".repeat(i % 7)}\n`).join(""));
  const sha = createHash("sha256").update(text).digest("hex");
  let gz: string;
  beforeAll(async () => {
    gz = join(tmp, "gz");
    await buildLayeredImage(gz, [...LAYERED, [dir("big"), file("big/text", text)]]);
  });

  it("zstd layers (converted by skopeo) read the same as gzip ones", async () => {
    const zst = join(tmp, "zstd");
    await mustRun(peer("skopeo"), ["copy", "--dest-compress-format", "zstd", "--dest-compress", `oci:${gz}:latest`, `oci:${zst}:latest`]);
    const manifest = await indexLayers(zst);
    expect(manifest).toHaveLength(4);
    const mediaTypes = JSON.parse(await readFile(join(zst, "blobs", "sha256", JSON.parse(await readFile(join(zst, "index.json"), "utf8")).manifests[0].digest.slice(7)), "utf8")).layers.map((l: { mediaType: string }) => l.mediaType);
    expect(new Set(mediaTypes)).toEqual(new Set(["application/vnd.oci.image.layer.v1.tar+zstd"]));
    expect(withoutLayers(await ok(["ls", "-R", "--json", zst]))).toEqual(withoutLayers(await ok(["ls", "-R", "--json", gz])));
    const cat = await runOciutil(["cat", zst, "/big/text"]);
    expect(createHash("sha256").update(cat.stdout).digest("hex")).toBe(sha);
    await ok(["export", zst, join(tmp, "zstd.tar")]);
    await ok(["export", gz, join(tmp, "gz.tar")]);
    expect(await readFile(join(tmp, "zstd.tar"))).toEqual(await readFile(join(tmp, "gz.tar")));
  });

  it("uncompressed layers read the same as gzip ones", async () => {
    const plain = join(tmp, "plain");
    await buildLayeredImage(plain, [...LAYERED, [dir("big"), file("big/text", text)]], { compression: "none" });
    expect(withoutLayers(await ok(["ls", "-R", "--json", plain]))).toEqual(withoutLayers(await ok(["ls", "-R", "--json", gz])));
    expect(createHash("sha256").update((await runOciutil(["cat", plain, "/big/text"])).stdout).digest("hex")).toBe(sha);
  });
});

/** ls --json without the image and layer digests, which differ between compressions. */
function withoutLayers(json: string): unknown {
  const doc = JSON.parse(json) as { entries: Array<Record<string, unknown>> };
  return doc.entries.map(({ layerDigest: _d, ...rest }) => rest);
}

describe("PAX records", () => {
  it("give owners and mtimes that do not fit a ustar header", async () => {
    const pax = join(tmp, "pax");
    await buildLayeredImage(pax, [
      [{ name: "big-ids", type: "file", body: "x", mode: 0o644, pax: { uid: "3000000", gid: "3000001", uname: "far", gname: "away", mtime: "1700000000.5" } }],
    ]);
    const doc = JSON.parse(await ok(["ls", "--json", pax, "/big-ids"]));
    expect(doc.entries[0]).toMatchObject({ uid: 3000000, gid: 3000001, uname: "far", gname: "away", mtime: "2023-11-14T22:13:20.000Z" });
  });
});

describe("bad input", () => {
  it("not a layout", async () => {
    await fails(["ls", tmp], /is not an OCI image layout: it has no oci-layout file/);
    await fails(["export", join(tmp, "nowhere"), join(tmp, "never.tar")], /nowhere is not an OCI image layout/);
    await expect(readFile(join(tmp, "never.tar"))).rejects.toThrow();
  });

  it("a corrupt layer: one line, exit 1, and no OUT.tar (not even a partial one)", async () => {
    const bad = join(tmp, "corrupt");
    await cp(layout, bad, { recursive: true });
    // Flip a byte in the middle of the last layer: gzip or the digest check must catch it.
    const blob = join(bad, "blobs", "sha256", layers[2]!.slice(7));
    const bytes = await readFile(blob);
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = bytes[mid]! ^ 0xff;
    await writeFile(blob, bytes);
    const out = join(tmp, "out", "corrupt.tar");
    await mustRun("mkdir", ["-p", join(tmp, "out")]);
    await fails(["export", bad, out], new RegExp(`layer 2 \\(${layers[2]!.slice(0, 19)}\\): content has digest sha256:[0-9a-f]{64}, expected ${layers[2]}$`));
    expect(await readdir(join(tmp, "out"))).toEqual([]);
    await fails(["ls", bad], /layer 2 .*: /);
  });

  it("a layer that is not a tar", async () => {
    const bad = join(tmp, "not-tar");
    await buildLayeredImage(bad, [{ raw: Buffer.from("this is not a tar archive, not even close. ".repeat(20)), compression: "none" }]);
    await fails(["cat", bad, "/x"], /layer 0 \(sha256:[0-9a-f]{12}\): not a valid tar stream/);
  });

  it("a layer blob that is missing", async () => {
    const bad = join(tmp, "missing");
    await cp(layout, bad, { recursive: true });
    await rm(join(bad, "blobs", "sha256", layers[1]!.slice(7)));
    await fails(["export", bad, join(tmp, "missing.tar")], /layer 1 \(sha256:[0-9a-f]{12}\): blob is missing/);
    await expect(readFile(join(tmp, "missing.tar"))).rejects.toThrow();
  });

  it("a tar that cannot be put in place leaves no temp file behind", async () => {
    // The whole tar is written, then the rename onto OUT fails (OUT is a non-empty directory).
    const parent = join(tmp, "rename-fails");
    await mustRun("mkdir", ["-p", join(parent, "out.tar", "occupied")]);
    await fails(["export", layout, join(parent, "out.tar")], /rename .*out\.tar/);
    expect(await readdir(parent)).toEqual(["out.tar"]);
  });

  it("an existing OUT.tar is replaced whole, or left as it was", async () => {
    const out = join(tmp, "kept.tar");
    await writeFile(out, "previous");
    const bad = join(tmp, "corrupt");
    await fails(["export", bad, out], /layer 2/);
    expect(await readFile(out, "utf8")).toBe("previous");
    await ok(["export", layout, out].concat([]));
    expect((await readFile(out)).length).toBeGreaterThan(1024);
  });
});

// Unused imports are a type error; keep tarBytes referenced for fixtures that need raw tars.
void tarBytes;
