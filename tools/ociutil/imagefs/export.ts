/**
 * `export`: the final filesystem as one tar. Directories come first (parents before children), then
 * symlinks and devices, then each regular file's content, streamed from its layer (one pass per layer
 * that still holds live files), then hard links to those files. The tar is written to a temp file and
 * renamed into place, so OUT.tar is complete or absent.
 */
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { tempPathFor } from "../util/fsutil.js";
import type { Entry, Filesystem, Inode } from "./filesystem.js";
import type { LayoutImage } from "./image.js";
import { LayerError, layerEntries, layerName } from "./layers.js";
import { copyChecked } from "./read.js";
import { planBlobs, trackBlob } from "../progress/events.js";

// tar-stream replaces a mode of 0 with its default; the file-type bits keep a real 0000 (they are
// masked off when the header is encoded).
const TYPE_BITS: Record<Entry["type"], number> = { file: 0o100000, dir: 0o040000, symlink: 0o120000, char: 0o020000, block: 0o060000, fifo: 0o010000 };
const TAR_TYPE = { file: "file", dir: "directory", symlink: "symlink", char: "character-device", block: "block-device", fifo: "fifo" } as const;

export interface ExportStats {
  entries: number;
  files: number;
  bytes: number;
}

export async function exportTar(image: LayoutImage, fs: Filesystem, out: string): Promise<ExportStats> {
  const tmp = tempPathFor(out);
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(tmp, { flags: "wx", mode: 0o644 }));
  written.catch(() => {}); // awaited below; an early failure must not be an unhandled rejection
  const stats: ExportStats = { entries: 0, files: 0, bytes: 0 };
  try {
    await writeEntries(image, fs, pack, stats);
    pack.finalize();
    await written;
    await rename(tmp, out);
    return stats;
  } catch (err) {
    pack.destroy();
    await written.catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
}

async function writeEntries(image: LayoutImage, fs: Filesystem, pack: tar.Pack, stats: ExportStats): Promise<void> {
  const add = (header: tar.Header): Promise<void> =>
    new Promise((resolve, reject) => {
      stats.entries++;
      pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  // Two walks rather than one list of every path: only regular files are remembered (their content
  // comes later, from their layers), with the entry each path names.
  const paths = new Map<Inode, Array<[string, Entry]>>();
  for (const [p, e] of fs.walk()) {
    if (e.type === "dir") await add(header(p, e));
    if (e.type === "file") {
      const names = paths.get(e.inode!);
      if (names === undefined) paths.set(e.inode!, [[p, e]]);
      else names.push([p, e]);
    }
  }
  for (const [p, e] of fs.walk()) if (e.type !== "dir" && e.type !== "file") await add(header(p, e));

  // Content: one pass over each layer that holds live files, in layer order.
  const byLayer = new Map<number, Map<number, Inode>>();
  for (const inode of paths.keys()) {
    const m = byLayer.get(inode.layer) ?? new Map<number, Inode>();
    m.set(inode.ordinal, inode);
    byLayer.set(inode.layer, m);
  }
  // Progress counts, per layer read, the bytes of its files that the tar takes.
  const liveBytes = (wanted: Map<number, Inode>): number => [...wanted.values()].reduce((sum, inode) => sum + inode.size, 0);
  planBlobs(byLayer.size, [...byLayer.values()].reduce((sum, wanted) => sum + liveBytes(wanted), 0));
  for (const layer of [...byLayer.keys()].sort((a, b) => a - b)) {
    const wanted = byLayer.get(layer)!;
    let left = wanted.size;
    const desc = image.layers[layer]!;
    const progress = trackBlob(desc.digest, liveBytes(wanted));
    for await (const { ordinal, body } of layerEntries(image.layout, layer, desc)) {
      const inode = wanted.get(ordinal);
      if (inode === undefined) continue;
      const [first, firstEntry] = paths.get(inode)![0]!;
      stats.entries++;
      stats.files++;
      stats.bytes += inode.size;
      let done!: (err?: unknown) => void;
      const finished = new Promise<void>((resolve, reject) => (done = (err) => (err ? reject(err) : resolve())));
      const sink = pack.entry({ ...header(first, firstEntry), size: inode.size }, (err) => done(err));
      await copyChecked(body, inode, layerName(layer, desc), async (chunk) => {
        progress.add(chunk.length);
        if (!sink.write(chunk)) await once(sink, "drain");
      });
      sink.end(undefined);
      await finished;
      if (--left === 0) break;
    }
    if (left > 0) throw new LayerError(`${layerName(layer, desc)}: ${left} entries are missing since it was first read`);
    progress.done("written");
  }
  // Hard links after the file they name.
  for (const names of paths.values()) {
    for (const [p, e] of names.slice(1)) await add({ ...header(p, e), type: "link", linkname: names[0]![0].slice(1), size: 0 });
  }
}

function header(p: string, e: Entry): tar.Header {
  const h: tar.Header = {
    name: e.type === "dir" ? `${p.slice(1)}/` : p.slice(1),
    type: TAR_TYPE[e.type],
    mode: e.mode | TYPE_BITS[e.type],
    uid: e.uid,
    gid: e.gid,
    uname: e.uname,
    gname: e.gname,
    mtime: new Date(e.mtime * 1000),
    size: 0,
    linkname: e.type === "symlink" ? e.linkname! : "",
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  };
  return h;
}
