/** How entries are shown: `ls -l`-like lines and JSON records (ls --json, diff --json). */
import type { Entry, EntryType, Filesystem, Inode } from "./filesystem.js";
import type { LayoutImage } from "./image.js";
import { layerName } from "./layers.js";

export interface EntryRecord {
  path: string;
  type: EntryType;
  /** Octal permission bits, e.g. "0755". */
  mode: string;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: string;
  /** Paths that share this file's content (hard links), including this one. */
  links: number;
  /** Same number for paths that are hard links of each other. */
  inode?: number;
  sha256?: string;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Index of the layer that last wrote this path, and that layer's digest. */
  layer: number;
  layerDigest: string;
}

/** Counts the paths that share each Inode, and numbers them, over the whole filesystem. */
export function inodeTable(fs: Filesystem): Map<Inode, { id: number; links: number }> {
  const table = new Map<Inode, { id: number; links: number }>();
  for (const [, e] of fs.walk()) {
    if (e.inode === undefined) continue;
    const t = table.get(e.inode);
    if (t) t.links++;
    else table.set(e.inode, { id: table.size + 1, links: 1 });
  }
  return table;
}

export function toRecord(image: LayoutImage, path: string, e: Entry, inodes: Map<Inode, { id: number; links: number }>): EntryRecord {
  const t = e.inode ? inodes.get(e.inode) : undefined;
  return {
    path,
    type: e.type,
    mode: e.mode.toString(8).padStart(4, "0"),
    uid: e.uid,
    gid: e.gid,
    uname: e.uname,
    gname: e.gname,
    size: e.inode?.size ?? 0,
    mtime: new Date(e.mtime * 1000).toISOString(),
    links: t?.links ?? 1,
    ...(t ? { inode: t.id, sha256: e.inode!.sha256 } : {}),
    ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
    ...(e.type === "char" || e.type === "block" ? { devmajor: e.devmajor!, devminor: e.devminor! } : {}),
    layer: e.layer,
    layerDigest: image.layers[e.layer]?.digest ?? "",
  };
}

const TYPE_CHAR: Record<EntryType, string> = { file: "-", dir: "d", symlink: "l", char: "c", block: "b", fifo: "p" };

/** "drwxr-xr-x", with s/S/t/T for setuid, setgid and sticky as ls prints them. */
export function modeString(type: EntryType, mode: number): string {
  const rwx = (bits: number, special: boolean, s: string): string => {
    const x = bits & 1 ? (special ? s : "x") : special ? s.toUpperCase() : "-";
    return `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${x}`;
  };
  return (
    TYPE_CHAR[type] +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, "s") +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, "s") +
    rwx(mode & 7, (mode & 0o1000) !== 0, "t")
  );
}

const C_ESCAPES: Record<string, string> = { "\\": "\\\\", "\x07": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v" };

/**
 * A name as text output shows it, escaped as `ls -b` does: a backslash and the control characters
 * (C0, DEL, C1) as C escapes (`\n`, `\t`, `\033`, `\302\233` for U+009B: octal of the UTF-8
 * bytes), so a name can neither forge a line nor send terminal escapes. Spaces and printable
 * Unicode are kept. --json output keeps the real name.
 */
export function escapeName(name: string): string {
  return name.replace(/[\\\u0000-\u001f\u007f-\u009f]/g, (c) => C_ESCAPES[c] ?? [...Buffer.from(c)].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join(""));
}

/** `-rw-r--r--  1 0 0  1234 2024-01-01 00:00 layer 2 sha256:0123456789ab /etc/passwd` */
export function formatLine(r: EntryRecord): string {
  const size = r.type === "char" || r.type === "block" ? `${r.devmajor}, ${r.devminor}` : String(r.size);
  const when = r.mtime.slice(0, 16).replace("T", " ");
  const name = r.type === "symlink" ? `${escapeName(r.path)} -> ${escapeName(r.linkname!)}` : escapeName(r.path);
  return `${modeString(r.type, Number.parseInt(r.mode, 8))} ${String(r.links).padStart(2)} ${String(r.uid).padStart(5)} ${String(r.gid).padStart(5)} ${size.padStart(10)} ${when} layer ${r.layer} ${r.layerDigest.slice(0, 19)} ${name}`;
}

/** One stderr line per entry the filesystem does not hold (the name as JSON: no raw control characters). */
export function warnProblems(image: LayoutImage, fs: Filesystem): void {
  for (const p of fs.problems) process.stderr.write(`ociutil: warning: ${problemLine(image, p)}\n`);
}

export function problemLine(image: LayoutImage, p: Filesystem["problems"][number]): string {
  return `${layerName(p.layer, image.layers[p.layer]!)}: ${JSON.stringify(p.path)} not applied: ${p.reason}`;
}
