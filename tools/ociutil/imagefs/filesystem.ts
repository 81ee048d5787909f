/**
 * The final filesystem of an image, as metadata: a tree of entries built by applying each layer's tar
 * headers in order (image-spec layer.md): a later entry replaces an earlier one at the same path
 * (a directory over a directory only updates its metadata), `.wh.NAME` removes NAME from lower layers,
 * `.wh..wh..opq` removes everything a directory held in lower layers.
 *
 * No content is kept: a regular file records where its bytes are (layer, entry ordinal) and their
 * sha256, so `cat` and `export` read them from the layer again. Hard links share one Inode, so a link
 * keeps the content its target had when the link was made, even if a later layer replaces the target.
 *
 * An entry that tries to escape the root (an absolute name, a `..` component, a parent that is a
 * symlink, a hard link to any of those) is recorded as a problem and never applied.
 */
import { climbsOut } from "./resolve.js";

export type EntryType = "file" | "dir" | "symlink" | "char" | "block" | "fifo";

/** Where a regular file's bytes are, and what they hash to. */
export interface Inode {
  readonly layer: number;
  readonly ordinal: number;
  readonly size: number;
  readonly sha256: string;
}

export interface Entry {
  type: EntryType;
  /** Permission bits with setuid/setgid/sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Seconds since the epoch. */
  mtime: number;
  /** Index of the layer that last wrote this path. */
  layer: number;
  /** Symlink target, as written. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  inode?: Inode;
  children?: Map<string, Entry>;
}

/** What one tar header asks for, after the reader has parsed it (and hashed a file's content). */
export interface HeaderInput {
  name: string;
  type: EntryType | "link";
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** For "file": where its content is. */
  inode?: Inode;
}

export interface Problem {
  layer: number;
  path: string;
  reason: string;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

export class Filesystem {
  readonly root: Entry = newDir(-1);
  readonly problems: Problem[] = [];

  /** Applies one entry of layer `layer`. Entries must come in layer order, and in tar order within one. */
  apply(layer: number, h: HeaderInput): void {
    const parts = splitName(h.name);
    if (typeof parts === "string") return this.problem(layer, h.name, parts);
    if (parts.length === 0) return; // "./": the root itself; its metadata is not part of the listing
    const base = parts[parts.length - 1]!;
    if (base.startsWith(WHITEOUT)) {
      // A whiteout in a directory no lower layer has hides nothing; it creates nothing either.
      const parent = this.lookup(parts.slice(0, -1).join("/"));
      if (parent?.type !== "dir") return;
      if (base === OPAQUE) return pruneLower(parent, layer);
      const victim = base.slice(WHITEOUT.length);
      if (victim === "" || victim.startsWith(WHITEOUT)) return this.problem(layer, h.name, "unsupported whiteout (aufs metadata); ignored");
      const existing = parent.children!.get(victim);
      // A whiteout hides lower layers only (layer.md); what this layer wrote stays.
      if (existing !== undefined && existing.layer < layer) parent.children!.delete(victim);
      return;
    }
    const parent = this.parentFor(layer, h.name, parts.slice(0, -1));
    if (parent === undefined) return;

    let entry: Entry;
    if (h.type === "link") {
      const target = this.linkTarget(layer, h);
      if (target === undefined) return;
      entry = { ...target, layer }; // same Inode: same content, whatever happens to the target later
      delete entry.children;
    } else {
      entry = {
        type: h.type,
        mode: h.mode & 0o7777,
        uid: h.uid,
        gid: h.gid,
        uname: h.uname,
        gname: h.gname,
        mtime: h.mtime,
        layer,
      };
      if (h.type === "symlink") {
        entry.linkname = h.linkname;
        if (climbsOut(parts.slice(0, -1), h.linkname)) this.problem(layer, h.name, `symlink to "${h.linkname}" points out of the root; it is never followed`);
      }
      if (h.type === "char" || h.type === "block") {
        entry.devmajor = h.devmajor;
        entry.devminor = h.devminor;
      }
      if (h.type === "file") entry.inode = h.inode!;
    }
    const existing = parent.children!.get(base);
    if (entry.type === "dir") {
      // A directory over a directory changes its metadata; its contents stay.
      entry.children = existing?.type === "dir" ? existing.children! : new Map();
    }
    parent.children!.set(base, entry);
  }

  /** The entry at an absolute or relative path, without following symlinks. */
  lookup(path: string): Entry | undefined {
    let at: Entry = this.root;
    for (const part of path.split("/").filter((p) => p !== "" && p !== ".")) {
      const next = at.children?.get(part);
      if (next === undefined) return undefined;
      at = next;
    }
    return at;
  }

  /** Every entry under `dir` ("/a/b" form), parents before children, names sorted. */
  *walk(dir = "", at: Entry = this.root): Generator<[string, Entry]> {
    if (at.children === undefined) return;
    for (const name of [...at.children.keys()].sort(byBytes)) {
      const child = at.children.get(name)!;
      const p = `${dir}/${name}`;
      yield [p, child];
      if (child.type === "dir") yield* this.walk(p, child);
    }
  }

  private problem(layer: number, path: string, reason: string): void {
    this.problems.push({ layer, path, reason });
  }

  /** The directory that will hold an entry, creating missing ones as a tar extractor would. */
  private parentFor(layer: number, name: string, dirs: string[]): Entry | undefined {
    let at = this.root;
    for (const [i, part] of dirs.entries()) {
      let next = at.children!.get(part);
      if (next === undefined) {
        next = newDir(layer);
        at.children!.set(part, next);
      }
      if (next.type === "symlink") {
        this.problem(layer, name, `parent /${dirs.slice(0, i + 1).join("/")} is a symlink; an entry is never written through one`);
        return undefined;
      }
      if (next.type !== "dir") {
        this.problem(layer, name, `parent /${dirs.slice(0, i + 1).join("/")} is not a directory`);
        return undefined;
      }
      at = next;
    }
    return at;
  }

  private linkTarget(layer: number, h: HeaderInput): Entry | undefined {
    const parts = splitName(h.linkname);
    if (typeof parts === "string") {
      this.problem(layer, h.name, `hard link to "${h.linkname}": ${parts}`);
      return undefined;
    }
    let at: Entry | undefined = this.root;
    for (const [i, part] of parts.entries()) {
      at = at.children?.get(part);
      if (at === undefined) break;
      if (i < parts.length - 1 && at.type !== "dir") {
        this.problem(layer, h.name, `hard link to "${h.linkname}" goes through /${parts.slice(0, i + 1).join("/")}, which is not a directory`);
        return undefined;
      }
    }
    if (at === undefined || parts.length === 0) {
      this.problem(layer, h.name, `hard link to "${h.linkname}", which does not exist`);
      return undefined;
    }
    if (at.type === "dir") {
      this.problem(layer, h.name, `hard link to "${h.linkname}", a directory`);
      return undefined;
    }
    return at;
  }
}

/** Removes what lower layers put under `dir`, keeping what layer `layer` itself wrote. */
function pruneLower(dir: Entry, layer: number): void {
  for (const [name, child] of dir.children!) {
    if (child.layer < layer) dir.children!.delete(name);
    else if (child.type === "dir") pruneLower(child, layer);
  }
}

function newDir(layer: number): Entry {
  return { type: "dir", mode: 0o755, uid: 0, gid: 0, uname: "", gname: "", mtime: 0, layer, children: new Map() };
}

/** A tar name as path components, or why it is refused (absolute, or climbing with ".."). */
export function splitName(name: string): string[] | string {
  if (name.startsWith("/")) return "absolute path; it would escape the root";
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return `".." component; it would escape the root`;
  if (name.includes("\0")) return "NUL in name";
  return parts;
}

export function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
