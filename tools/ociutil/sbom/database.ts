/**
 * Finds the package databases in an image's final filesystem and parses them as they stream out of
 * their layers: one pass over each layer that holds any of them, nothing extracted, nothing buffered
 * beyond one line.
 */
import type { Entry, Filesystem, Inode } from "../imagefs/filesystem.js";
import { byBytes } from "../imagefs/filesystem.js";
import type { LayoutImage } from "../imagefs/image.js";
import { LayerError, layerEntries, layerName } from "../imagefs/layers.js";
import { copyChecked } from "../imagefs/read.js";
import { PathError, resolvePath } from "../imagefs/resolve.js";
import { ApkParser } from "./apk.js";
import { DpkgParser } from "./dpkg.js";
import { DatabaseError, LineSplitter } from "./lines.js";
import { comparePackages, purlOf, type Package } from "./package.js";

export const DPKG_STATUS = "/var/lib/dpkg/status";
export const DPKG_STATUS_D = "/var/lib/dpkg/status.d";
// apk's own path, then the one a usr-merged apk system uses; the first found is read.
export const APK_INSTALLED = ["/lib/apk/db/installed", "/usr/lib/apk/db/installed"];

interface Database {
  path: string;
  inode: Inode;
  parser: { line(text: string, no: number): void; end(): Package[] };
}

/** Every installed package the image's databases list, sorted, each purl once. */
export async function readPackages(image: LayoutImage, fs: Filesystem): Promise<{ packages: Package[]; databases: string[] }> {
  const where = (p: string): string => `${image.name}: ${p}`;
  const dbs: Database[] = [];
  const status = findFile(fs, DPKG_STATUS, image.name);
  if (status) dbs.push({ path: status.path, inode: status.inode, parser: new DpkgParser(status.path, where(status.path), true) });
  const statusD = findDir(fs, DPKG_STATUS_D, image.name);
  if (statusD) {
    for (const name of [...statusD.entry.children!.keys()].sort(byBytes)) {
      // distroless writes NAME (the control paragraph) and NAME.md5sums (file hashes) side by side.
      if (name.endsWith(".md5sums")) continue;
      const f = findFile(fs, `${statusD.path}/${name}`, image.name);
      if (f) dbs.push({ path: f.path, inode: f.inode, parser: new DpkgParser(f.path, where(f.path), false) });
    }
  }
  const apk = APK_INSTALLED.map((p) => findFile(fs, p, image.name)).find((f) => f !== undefined);
  if (apk) dbs.push({ path: apk.path, inode: apk.inode, parser: new ApkParser(apk.path, where(apk.path)) });

  await parseAll(image, dbs);
  const seen = new Set<string>();
  const packages: Package[] = [];
  for (const p of dbs.flatMap((d) => d.parser.end()).sort(comparePackages)) {
    const purl = purlOf(p);
    if (seen.has(purl)) continue; // a package both status and status.d list is one package
    seen.add(purl);
    packages.push(p);
  }
  return { packages, databases: dbs.map((d) => d.path) };
}

/** Streams each database's content, in layer order, through a line splitter into its parser. */
async function parseAll(image: LayoutImage, dbs: Database[]): Promise<void> {
  const byLayer = new Map<number, Map<number, Database[]>>();
  for (const db of dbs) {
    const m = byLayer.get(db.inode.layer) ?? new Map<number, Database[]>();
    m.set(db.inode.ordinal, [...(m.get(db.inode.ordinal) ?? []), db]); // hard links share an inode
    byLayer.set(db.inode.layer, m);
  }
  for (const [layer, wanted] of [...byLayer].sort(([a], [b]) => a - b)) {
    const desc = image.layers[layer]!;
    let left = wanted.size;
    for await (const { ordinal, body } of layerEntries(image.layout, layer, desc)) {
      const these = wanted.get(ordinal);
      if (these === undefined) continue;
      const splitters = these.map((db) => new LineSplitter(`${image.name}: ${db.path}`, (text, no) => db.parser.line(text, no)));
      await copyChecked(body, these[0]!.inode, layerName(layer, desc), (chunk) => splitters.forEach((s) => s.write(chunk)));
      splitters.forEach((s) => s.end());
      if (--left === 0) break;
    }
    if (left > 0) throw new LayerError(`${layerName(layer, desc)}: ${left} entries are missing since it was first read`);
  }
}

/** The regular file at `path` (symlinks followed inside the image), or undefined if nothing is there. */
function findFile(fs: Filesystem, path: string, what: string): { path: string; inode: Inode } | undefined {
  const found = lookup(fs, path, what);
  if (found === undefined) return undefined;
  if (found.entry.type !== "file") throw new DatabaseError(`${what}: ${found.path} is a ${found.entry.type}, not a package database file`);
  return { path: found.path, inode: found.entry.inode! };
}

function findDir(fs: Filesystem, path: string, what: string): { path: string; entry: Entry } | undefined {
  const found = lookup(fs, path, what);
  if (found === undefined) return undefined;
  if (found.entry.type !== "dir") throw new DatabaseError(`${what}: ${found.path} is a ${found.entry.type}, not a directory`);
  return found;
}

function lookup(fs: Filesystem, path: string, what: string): { path: string; entry: Entry } | undefined {
  try {
    return resolvePath(fs, path, what);
  } catch (err) {
    if (err instanceof PathError && / does not exist$/.test(err.message)) return undefined;
    throw err;
  }
}
