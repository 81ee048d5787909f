/**
 * What a test sees of a filesystem, in one shape whatever produced it: a directory on disk (umoci's
 * unpacked rootfs, GNU tar's extraction), a tar file (ociutil export), or `ociutil ls --json`.
 * Hard links are compared as groups of paths that share content ("link groups"), since inode numbers
 * and a tar's choice of which path holds the content differ between tools.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readFile, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import tar from "tar-stream";

export interface Seen {
  type: "file" | "dir" | "symlink" | "fifo" | "char" | "block";
  /** Octal permission bits; undefined for symlinks (Linux shows 0777 for every symlink on disk). */
  mode?: string;
  size: number;
  sha256?: string;
  linkname?: string;
  uid?: number;
  gid?: number;
}

export interface Observed {
  entries: Map<string, Seen>;
  /** Sorted groups of 2+ paths that are hard links of each other. */
  linkGroups: string[][];
}

const octal = (m: number): string => (m & 0o7777).toString(8).padStart(4, "0");

function groups(keyOf: Map<string, string | number>): string[][] {
  const by = new Map<string | number, string[]>();
  for (const [p, k] of keyOf) by.set(k, [...(by.get(k) ?? []), p]);
  return [...by.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
}

/** Walks a directory on disk (without following symlinks); owners are those on disk. */
export async function observeDir(root: string): Promise<Observed> {
  const entries = new Map<string, Seen>();
  const inodes = new Map<string, number>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(root, rel))) {
      const p = `${rel}/${name}`;
      const abs = join(root, p);
      const st = await lstat(abs);
      const base = { size: 0, uid: st.uid, gid: st.gid, mode: octal(st.mode) };
      if (st.isDirectory()) {
        entries.set(p, { type: "dir", ...base });
        await walk(p);
      } else if (st.isSymbolicLink()) {
        entries.set(p, { type: "symlink", size: 0, uid: st.uid, gid: st.gid, linkname: await readlink(abs) });
      } else if (st.isFile()) {
        const bytes = await readFile(abs);
        entries.set(p, { type: "file", ...base, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") });
        if (st.nlink > 1) inodes.set(p, st.ino);
      } else if (st.isFIFO()) entries.set(p, { type: "fifo", ...base });
      else if (st.isCharacterDevice()) entries.set(p, { type: "char", ...base });
      else if (st.isBlockDevice()) entries.set(p, { type: "block", ...base });
    }
  };
  await walk("");
  return { entries, linkGroups: groups(inodes) };
}

/** Reads a tar file: a hard link entry gets its target's content and joins its target's group. */
export async function observeTar(file: string): Promise<Observed> {
  const entries = new Map<string, Seen>();
  const group = new Map<string, string>();
  const extract = tar.extract();
  createReadStream(file).pipe(extract);
  for await (const e of extract) {
    const h = e.header;
    const p = `/${h.name.replace(/^\.\//, "").replace(/\/$/, "")}`;
    const base = { size: 0, uid: h.uid, gid: h.gid, mode: octal(h.mode) };
    if (h.type === "file") {
      const hash = createHash("sha256");
      let size = 0;
      for await (const c of e) {
        hash.update(c as Buffer);
        size += (c as Buffer).length;
      }
      entries.set(p, { type: "file", ...base, size, sha256: hash.digest("hex") });
      continue;
    }
    e.resume();
    if (h.type === "directory") entries.set(p, { type: "dir", ...base });
    else if (h.type === "symlink") entries.set(p, { type: "symlink", size: 0, uid: h.uid, gid: h.gid, linkname: h.linkname });
    else if (h.type === "fifo") entries.set(p, { type: "fifo", ...base });
    else if (h.type === "link") {
      const target = `/${h.linkname.replace(/^\.\//, "")}`;
      const t = entries.get(target);
      if (t === undefined) throw new Error(`${file}: hard link ${p} before its target ${target}`);
      entries.set(p, { ...t, uid: h.uid, gid: h.gid, mode: octal(h.mode) });
      group.set(target, target);
      group.set(p, target);
    } else throw new Error(`${file}: unexpected entry type ${h.type} at ${p}`);
  }
  return { entries, linkGroups: groups(group) };
}

interface LsRecord {
  path: string;
  type: Seen["type"];
  mode: string;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  linkname?: string;
  inode?: number;
  links: number;
}

/** `ociutil ls -R --json` output. */
export function observeLs(json: string): Observed {
  const doc = JSON.parse(json) as { entries: LsRecord[] };
  const entries = new Map<string, Seen>();
  const inodes = new Map<string, number>();
  for (const r of doc.entries) {
    const seen: Seen = { type: r.type, size: r.size, uid: r.uid, gid: r.gid };
    if (r.type !== "symlink") seen.mode = r.mode;
    if (r.sha256 !== undefined) seen.sha256 = r.sha256;
    if (r.linkname !== undefined) seen.linkname = r.linkname;
    entries.set(r.path, seen);
    if (r.inode !== undefined && r.links > 1) inodes.set(r.path, r.inode);
  }
  return { entries, linkGroups: groups(inodes) };
}

/**
 * Owners recorded in umoci's mtree manifest of a rootless unpack. A rootless unpack cannot chown, so
 * every file on disk belongs to the unpacking user; umoci keeps the image's owner in the
 * `user.rootlesscontainers` xattr (a protobuf: field 1 uid, field 2 gid; absent or 0xFFFFFFFF means
 * the unpacking user, i.e. 0 inside the image), and its mtree records that xattr for every path.
 */
export async function mtreeOwners(mtreeFile: string): Promise<Map<string, { uid: number; gid: number }>> {
  const owners = new Map<string, { uid: number; gid: number }>();
  const stack: string[] = [];
  for (const raw of (await readFile(mtreeFile, "utf8")).split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("/set") || line.startsWith("/unset")) continue;
    if (line === "..") {
      stack.pop();
      continue;
    }
    const [rawName, ...keywords] = line.split(/\s+/);
    const name = unvis(rawName!);
    // mtree: an unindented directory line enters that directory, ".." leaves it; files are indented.
    const isDir = keywords.includes("type=dir") && !raw.startsWith(" ");
    const parts = [...stack, name].filter((c) => c !== ".");
    if (isDir) stack.push(name);
    if (parts.length === 0) continue;
    const xattr = keywords.find((k) => k.startsWith("xattr.user.rootlesscontainers="));
    owners.set(`/${parts.join("/")}`, xattr ? decodeRootless(xattr.slice(xattr.indexOf("=") + 1)) : { uid: 0, gid: 0 });
  }
  return owners;
}

function unvis(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

function decodeRootless(b64: string): { uid: number; gid: number } {
  const buf = Buffer.from(b64, "base64");
  const out = { uid: 0, gid: 0 };
  let i = 0;
  while (i < buf.length) {
    const key = buf[i++]!;
    let value = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++]!;
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    const v = value === 0xffffffff ? 0 : value;
    if (key >> 3 === 1) out.uid = v;
    if (key >> 3 === 2) out.gid = v;
  }
  return out;
}
