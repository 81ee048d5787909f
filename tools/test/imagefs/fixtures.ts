/**
 * Layered test images for the imagefs tests: each layer is a list of raw tar entries (whiteouts, hard
 * links, symlinks, owners and modes as written), so the fixtures say exactly what a layer holds.
 * Like harness/images.ts, nothing here is imported from tools/ociutil.
 */
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";

export interface TarEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "fifo";
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  body?: string | Buffer;
  /** PAX records to write before the entry (tar-stream writes a PAX header when this is set). */
  pax?: Record<string, string>;
}

export const MTIME = new Date("2024-01-01T00:00:00Z");

export const dir = (name: string, mode = 0o755, uid = 0, gid = 0): TarEntry => ({ name: `${name}/`, type: "directory", mode, uid, gid });
export const file = (name: string, body: string | Buffer, mode = 0o644, uid = 0, gid = 0): TarEntry => ({ name, type: "file", body, mode, uid, gid });
export const symlink = (name: string, linkname: string): TarEntry => ({ name, type: "symlink", linkname, mode: 0o777 });
export const hardlink = (name: string, linkname: string, mode = 0o644, uid = 0, gid = 0): TarEntry => ({ name, type: "link", linkname, mode, uid, gid });
export const whiteout = (path: string): TarEntry => {
  const i = path.lastIndexOf("/");
  return file(`${path.slice(0, i + 1)}.wh.${path.slice(i + 1)}`, "");
};
export const opaque = (d: string): TarEntry => file(`${d}/.wh..wh..opq`, "");

export async function tarBytes(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const body = e.body === undefined ? undefined : Buffer.isBuffer(e.body) ? e.body : Buffer.from(e.body);
    const type = e.type ?? "file";
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.name,
        type,
        // tar-stream would turn a mode of 0 into its default; the file-type bit is masked off on encode.
        mode: (e.mode ?? 0o644) | 0o100000,
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        uname: "",
        gname: "",
        mtime: MTIME,
        linkname: e.linkname ?? "",
        size: body?.length ?? 0,
        ...(e.pax ? { pax: e.pax } : {}),
      };
      if (type === "file") pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

const sha256 = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function blob(layout: string, data: Buffer | string): Promise<{ digest: string; size: number }> {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const digest = sha256(buf);
  await writeFile(join(layout, "blobs", "sha256", digest.slice(7)), buf);
  return { digest, size: buf.length };
}

export interface LayeredImage {
  manifestDigest: string;
  layerDigests: string[];
}

/** Writes an OCI layout at `layout` with one image whose layers are `layers`, named `ref` in index.json. */
export interface LayeredOptions {
  ref?: string;
  compression?: "gzip" | "none";
  /** The image config's `config` (Env, Cmd, Labels, ...). */
  config?: Record<string, unknown>;
  platform?: { os: string; architecture: string; variant?: string };
}

export async function buildLayeredImage(
  layout: string,
  layers: Array<TarEntry[] | { raw: Buffer; compression: "gzip" | "none" }>,
  opts: LayeredOptions = {},
): Promise<LayeredImage> {
  const image = await writeLayeredImage(layout, layers, opts);
  await writeIndex(layout, [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image.manifestDigest, size: image.manifestSize }], opts.ref ?? "latest");
  return image;
}

/** A multi-platform index of layered images, named `ref` in index.json. */
export async function buildLayeredIndex(
  layout: string,
  images: Array<{ layers: TarEntry[][]; platform: { os: string; architecture: string; variant?: string }; config?: Record<string, unknown> }>,
  ref = "latest",
): Promise<void> {
  const manifests = [];
  for (const i of images) {
    const img = await writeLayeredImage(layout, i.layers, { platform: i.platform, ...(i.config ? { config: i.config } : {}) });
    manifests.push({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: img.manifestDigest, size: img.manifestSize, platform: i.platform });
  }
  const index = await blob(layout, JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
  await writeIndex(layout, [{ mediaType: "application/vnd.oci.image.index.v1+json", ...index }], ref);
}

async function writeIndex(layout: string, descs: Array<Record<string, unknown>>, ref: string): Promise<void> {
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: descs.map((d) => ({ ...d, annotations: { "org.opencontainers.image.ref.name": ref } })),
  };
  await writeFile(join(layout, "index.json"), JSON.stringify(index));
}

async function writeLayeredImage(
  layout: string,
  layers: Array<TarEntry[] | { raw: Buffer; compression: "gzip" | "none" }>,
  opts: LayeredOptions,
): Promise<LayeredImage & { manifestSize: number }> {
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const descs = [];
  const diffIds = [];
  for (const l of layers) {
    const compression = Array.isArray(l) ? (opts.compression ?? "gzip") : l.compression;
    const raw = Array.isArray(l) ? await tarBytes(l) : l.raw;
    diffIds.push(sha256(raw));
    const bytes = compression === "gzip" ? gzipSync(raw) : raw;
    const b = await blob(layout, bytes);
    descs.push({ mediaType: `application/vnd.oci.image.layer.v1.tar${compression === "gzip" ? "+gzip" : ""}`, ...b });
  }
  const platform = opts.platform ?? { os: "linux", architecture: "amd64" };
  const config = await blob(layout, JSON.stringify({ architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}), config: opts.config ?? {}, rootfs: { type: "layers", diff_ids: diffIds } }));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: descs,
  });
  const m = await blob(layout, manifest);
  return { manifestDigest: m.digest, manifestSize: m.size, layerDigests: descs.map((d) => d.digest) };
}

/**
 * An image with whiteouts, an opaque directory, symlinks, and hard links within a layer, to a target
 * in an earlier layer, and to targets a later layer replaces or deletes; owners and modes vary.
 */
export const LAYERED: TarEntry[][] = [
  [
    dir("etc"),
    file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
    file("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640, 0, 42),
    file("etc/secret", "hidden\n", 0o000),
    dir("bin"),
    file("bin/tool", "#!/bin/sh\necho tool\n", 0o4755),
    dir("usr"),
    dir("usr/bin"),
    file("usr/bin/app", "app v1\n", 0o755, 1000, 1000),
    hardlink("usr/bin/app-link", "usr/bin/app", 0o755, 1000, 1000),
    dir("data", 0o750, 1000, 1000),
    file("data/old1", "old 1\n", 0o644, 1000, 1000),
    file("data/old2", "old 2\n", 0o600, 1000, 1000),
    dir("data/sub", 0o700, 1000, 1000),
    file("data/sub/deep", "deep\n", 0o644, 1000, 1000),
    dir("lib"),
    file("lib/libfoo.so.1", "libfoo 1\n", 0o755),
    symlink("lib/libfoo.so", "libfoo.so.1"),
    dir("gone"),
    file("gone/file", "gone\n"),
    dir("tmp", 0o1777),
    dir("dir-to-file"),
    file("dir-to-file/child", "child\n"),
    file("target-to-replace", "original\n", 0o644, 0, 0),
    file("target-to-delete", "doomed\n", 0o600, 2000, 2000),
  ],
  [
    whiteout("gone"),
    dir("etc"),
    whiteout("etc/secret"),
    dir("data", 0o755, 1000, 1000),
    opaque("data"),
    file("data/new", "new\n", 0o644, 1000, 1000),
    dir("usr"),
    dir("usr/bin"),
    hardlink("usr/bin/app2", "usr/bin/app", 0o755, 1000, 1000),
    dir("links"),
    hardlink("links/keeps-original", "target-to-replace"),
    hardlink("links/keeps-doomed", "target-to-delete", 0o600, 2000, 2000),
    dir("bin"),
    symlink("bin/sh", "/bin/tool"),
    file("dir-to-file", "now a file\n"),
  ],
  [
    file("target-to-replace", "replacement\n", 0o640, 0, 0),
    whiteout("target-to-delete"),
    dir("lib"),
    file("lib/libfoo.so.1", "libfoo 2\n", 0o755),
    dir("etc"),
    file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o600),
    dir("usr"),
    dir("usr/bin"),
    symlink("usr/bin/rel", "../../lib/libfoo.so"),
    dir("dev", 0o755),
    { name: "dev/pipe", type: "fifo", mode: 0o620 },
  ],
];

/**
 * An uncompressed tar of `count` empty files, 1,000 to a directory (d0000/f0000000, ...), written
 * header by header without tar-stream: hundreds of thousands of entries in a second or two.
 */
export function emptyFilesTar(count: number): Buffer {
  const header = (name: string, dirEntry: boolean): Buffer => {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, "utf8");
    h.write(dirEntry ? "0000755\0" : "0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write("00000000000\0", 124);
    h.write(`${Math.floor(MTIME.getTime() / 1000).toString(8).padStart(11, "0")}\0`, 136);
    h.write("        ", 148);
    h.write(dirEntry ? "5" : "0", 156);
    h.write("ustar\u000000", 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    return h;
  };
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const d = `d${String(Math.floor(i / 1000)).padStart(4, "0")}`;
    if (i % 1000 === 0) parts.push(header(`${d}/`, true));
    parts.push(header(`${d}/f${String(i).padStart(7, "0")}`, false));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
