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
 * Names are resolved inside the root as containerd and umoci apply layers (securejoin): the name is
 * cleaned lexically from "/" (an absolute name or a leading `..` stays at the root), then each parent
 * directory is looked up physically, following symlinks with absolute targets and `..` clamped at the
 * root. So `lnk -> /usr` then `lnk/bin/x` writes /usr/bin/x, as a runtime would see it. An entry that
 * cannot be applied (a parent that is a file, a hard link to nothing, a NUL in its name, too many
 * symlinks) is recorded as a problem: every problem is an entry the filesystem does not hold.
 */

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
const MAX_LINKS = 40; // Linux's limit for one lookup
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
      const parent = this.resolveDir(parts.slice(0, -1), undefined);
      if (parent?.type !== "dir") return;
      if (base === OPAQUE) return pruneLower(parent, layer);
      const victim = base.slice(WHITEOUT.length);
      if (victim === "" || victim.startsWith(WHITEOUT)) return this.problem(layer, h.name, "unsupported whiteout (aufs metadata); ignored");
      const existing = parent.children!.get(victim);
      // A whiteout hides lower layers only (layer.md); what this layer wrote stays.
      if (existing !== undefined && existing.layer < layer) parent.children!.delete(victim);
      return;
    }
    const parent = this.resolveDir(parts.slice(0, -1), { layer, name: h.name });
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
      if (h.type === "symlink") entry.linkname = h.linkname;
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

  /**
   * Every entry under `dir` ("/a/b" form), parents before children, names sorted. An explicit stack
   * of sorted name lists, not recursion: the depth is the image's to choose.
   */
  *walk(dir = "", at: Entry = this.root): Generator<[string, Entry]> {
    if (at.children === undefined) return;
    const stack: Array<{ dir: string; entry: Entry; names: string[]; next: number }> = [{ dir, entry: at, names: sortedNames(at), next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next === top.names.length) {
        stack.pop();
        continue;
      }
      const name = top.names[top.next++]!;
      const child = top.entry.children!.get(name)!;
      const p = `${top.dir}/${name}`;
      yield [p, child];
      if (child.type === "dir") stack.push({ dir: p, entry: child, names: sortedNames(child), next: 0 });
    }
  }

  private problem(layer: number, path: string, reason: string): void {
    this.problems.push({ layer, path, reason });
  }

  /**
   * The directory `dirs` names, resolved as securejoin does: symlinks followed inside the root (an
   * absolute target from the root, `..` clamped at it). With `create`, missing directories are made
   * as a tar extractor's MkdirAll would, and a path that cannot be a directory is a problem.
   */
  private resolveDir(dirs: readonly string[], create: { layer: number; name: string } | undefined): Entry | undefined {
    const stack: Entry[] = [this.root];
    const names: string[] = [];
    const queue = [...dirs].reverse(); // popped from the end: the next component is last
    let links = 0;
    while (queue.length > 0) {
      const part = queue.pop()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (stack.length > 1) (stack.pop(), names.pop());
        continue;
      }
      const at = stack[stack.length - 1]!;
      let next = at.children!.get(part);
      if (next === undefined) {
        if (create === undefined) return undefined;
        next = newDir(create.layer);
        at.children!.set(part, next);
      }
      if (next.type === "symlink") {
        if (++links > MAX_LINKS) {
          if (create !== undefined) this.problem(create.layer, create.name, `too many levels of symbolic links (more than ${MAX_LINKS})`);
          return undefined;
        }
        if (next.linkname!.startsWith("/")) (stack.length = 1), (names.length = 0);
        for (const p of next.linkname!.split("/").reverse()) queue.push(p);
        continue;
      }
      if (next.type !== "dir") {
        if (create !== undefined) this.problem(create.layer, create.name, `parent /${[...names, part].join("/")} is a ${next.type}, not a directory`);
        return undefined;
      }
      stack.push(next);
      names.push(part);
    }
    return stack[stack.length - 1]!;
  }

  /** A hard link's target: its name resolved like any entry's, and a final symlink followed (as umoci's securejoin does). */
  private linkTarget(layer: number, h: HeaderInput): Entry | undefined {
    const parts = splitName(h.linkname);
    if (typeof parts === "string") {
      this.problem(layer, h.name, `hard link to "${h.linkname}": ${parts}`);
      return undefined;
    }
    let dirs = parts.slice(0, -1);
    let base = parts[parts.length - 1];
    let at: Entry | undefined;
    for (let links = 0; base !== undefined; links++) {
      at = this.resolveDir(dirs, undefined)?.children!.get(base);
      if (at?.type !== "symlink" || links === MAX_LINKS) break;
      const target = at.linkname!.split("/");
      dirs = at.linkname!.startsWith("/") ? target.slice(0, -1) : [...dirs, ...target.slice(0, -1)];
      base = target[target.length - 1];
    }
    if (at === undefined || base === undefined) {
      this.problem(layer, h.name, `hard link to "${h.linkname}", which does not exist`);
      return undefined;
    }
    if (at.type !== "file" && at.type !== "char" && at.type !== "block" && at.type !== "fifo") {
      this.problem(layer, h.name, `hard link to "${h.linkname}", a ${at.type === "dir" ? "directory" : at.type}`);
      return undefined;
    }
    return at;
  }
}

/** Removes what lower layers put under `dir`, keeping what layer `layer` itself wrote. */
function pruneLower(top: Entry, layer: number): void {
  const dirs = [top]; // a worklist, not recursion: the depth is the image's to choose
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    for (const [name, child] of dir.children!) {
      if (child.layer < layer) dir.children!.delete(name);
      else if (child.type === "dir") dirs.push(child);
    }
  }
}

function sortedNames(dir: Entry): string[] {
  return [...dir.children!.keys()].sort(byBytes);
}

function newDir(layer: number): Entry {
  return { type: "dir", mode: 0o755, uid: 0, gid: 0, uname: "", gname: "", mtime: 0, layer, children: new Map() };
}

/**
 * A tar name as path components from the root, cleaned lexically as Go's filepath.Clean("/" + name)
 * does (containerd's and umoci's first step): "/etc/x", "../etc/x" and "a/../../etc/x" are all
 * /etc/x. Only a NUL is refused (no filesystem can hold it).
 */
export function splitName(name: string): string[] | string {
  if (name.includes("\0")) return "NUL in name";
  const parts: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return parts;
}

export function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
