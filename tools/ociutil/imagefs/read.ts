/**
 * Reads an image's final filesystem from its layers (one pass over each, in order), and reads a
 * file's content back from the layer that holds it.
 */
import { createHash } from "node:crypto";
import type tar from "tar-stream";
import { VerificationError } from "../util/errors.js";
import { Filesystem, type EntryType, type Inode } from "./filesystem.js";
import type { LayoutImage } from "./image.js";
import { LayerError, layerEntries, layerName } from "./layers.js";

const TYPES: Partial<Record<string, EntryType | "link">> = {
  file: "file",
  "contiguous-file": "file",
  directory: "dir",
  symlink: "symlink",
  link: "link",
  "character-device": "char",
  "block-device": "block",
  fifo: "fifo",
};

export async function readFilesystem(image: LayoutImage): Promise<Filesystem> {
  const fs = new Filesystem();
  for (const [i, desc] of image.layers.entries()) {
    for await (const { header: h, ordinal, body } of layerEntries(image.layout, i, desc)) {
      const type = TYPES[h.type ?? "file"];
      if (type === undefined) {
        fs.problems.push({ layer: i, path: h.name, reason: `unsupported tar entry type "${h.type}"; ignored` });
        continue;
      }
      let inode: Inode | undefined;
      if (type === "file") {
        const hash = createHash("sha256");
        let size = 0;
        for await (const chunk of body as AsyncIterable<Buffer>) {
          hash.update(chunk);
          size += chunk.length;
        }
        inode = { layer: i, ordinal, size, sha256: hash.digest("hex") };
      }
      // tar-stream applies a PAX header's path, linkpath and size; owners and mtime are applied here
      // (Go's archive/tar writes them as PAX records when they do not fit the ustar fields).
      const pax = (h.pax ?? {}) as Record<string, string | undefined>;
      const paxInt = (k: string): number | undefined => (pax[k] !== undefined && /^\d+$/.test(pax[k]) ? Number(pax[k]) : undefined);
      const paxTime = pax["mtime"] !== undefined && /^\d+(\.\d+)?$/.test(pax["mtime"]) ? Math.floor(Number(pax["mtime"])) : undefined;
      fs.apply(i, {
        name: h.name,
        type,
        mode: h.mode ?? 0,
        uid: paxInt("uid") ?? h.uid ?? 0,
        gid: paxInt("gid") ?? h.gid ?? 0,
        uname: pax["uname"] ?? h.uname ?? "",
        gname: pax["gname"] ?? h.gname ?? "",
        mtime: paxTime ?? (h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0),
        linkname: h.linkname ?? "",
        devmajor: h.devmajor ?? 0,
        devminor: h.devminor ?? 0,
        ...(inode !== undefined ? { inode } : {}),
      });
    }
  }
  return fs;
}

/**
 * Streams a file's content out of its layer into `write`, checked against the size and sha256 the
 * first pass recorded (the layer could have changed in between).
 */
export async function readContent(image: LayoutImage, inode: Inode, write: (chunk: Buffer) => Promise<void> | void): Promise<void> {
  const desc = image.layers[inode.layer]!;
  for await (const { ordinal, body } of layerEntries(image.layout, inode.layer, desc)) {
    if (ordinal !== inode.ordinal) continue;
    await copyChecked(body, inode, layerName(inode.layer, desc), write);
    return;
  }
  throw new LayerError(`${layerName(inode.layer, desc)}: it has no entry ${inode.ordinal} any more`);
}

/** Copies one entry's body to `write`, failing if it is not the size and sha256 recorded for it. */
export async function copyChecked(body: AsyncIterable<Buffer>, inode: Inode, what: string, write: (chunk: Buffer) => Promise<void> | void): Promise<void> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    size += chunk.length;
    await write(chunk);
  }
  if (size !== inode.size || hash.digest("hex") !== inode.sha256) {
    throw new VerificationError(`${what}: entry ${inode.ordinal} changed since it was first read`);
  }
}

/**
 * The contents of several files, with one pass over each layer that holds any of them (not one pass
 * per file): for checks that read many small files, such as every package's copyright file.
 */
export async function readContents(image: LayoutImage, inodes: Iterable<Inode>): Promise<Map<Inode, Buffer>> {
  const byLayer = new Map<number, Map<number, Inode>>();
  for (const inode of inodes) {
    const m = byLayer.get(inode.layer) ?? new Map<number, Inode>();
    m.set(inode.ordinal, inode);
    byLayer.set(inode.layer, m);
  }
  const out = new Map<Inode, Buffer>();
  for (const [layer, wanted] of [...byLayer].sort(([a], [b]) => a - b)) {
    const desc = image.layers[layer]!;
    let left = wanted.size;
    for await (const { ordinal, body } of layerEntries(image.layout, layer, desc)) {
      const inode = wanted.get(ordinal);
      if (inode === undefined) continue;
      const chunks: Buffer[] = [];
      await copyChecked(body, inode, layerName(layer, desc), (c) => void chunks.push(c));
      out.set(inode, Buffer.concat(chunks));
      if (--left === 0) break;
    }
    if (left > 0) throw new LayerError(`${layerName(layer, desc)}: ${left} entries are missing since it was first read`);
  }
  return out;
}
