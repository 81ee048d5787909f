/**
 * Path resolution inside the image's root, as a process in the container sees it: symlinks are
 * followed (absolute targets from the image's root), and `..` at the root stays at the root (as it
 * does in a chroot or a container's mount namespace). Nothing is ever resolved onto the host.
 */
import { OciError } from "../util/errors.js";
import type { Entry, Filesystem } from "./filesystem.js";

const MAX_LINKS = 40; // Linux's limit for one lookup

export class PathError extends OciError {
  override readonly name = "PathError";
}

export function resolvePath(fs: Filesystem, path: string, what: string): { path: string; entry: Entry } {
  const done: string[] = [];
  const queue = path.split("/");
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      done.pop(); // at the root: stays there
      continue;
    }
    const here = `/${[...done, part].join("/")}`;
    const entry = fs.lookup(here);
    if (entry === undefined) throw new PathError(`${what}: ${here} does not exist`);
    if (entry.type !== "symlink") {
      if (queue.some((p) => p !== "" && p !== ".") && entry.type !== "dir") throw new PathError(`${what}: ${here} is not a directory`);
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new PathError(`${what}: ${path}: too many levels of symbolic links`);
    const target = entry.linkname!;
    if (target.startsWith("/")) done.length = 0;
    queue.unshift(...target.split("/"));
  }
  const final = `/${done.join("/")}`;
  return { path: final, entry: fs.lookup(final)! };
}

/**
 * The entry at `path` itself, as lstat sees it: symlinks in the directory part are followed inside
 * the root; the last component is not (`ls -l` of a symlink shows the symlink).
 */
export function lstatPath(fs: Filesystem, path: string, what: string): { path: string; entry: Entry } {
  const trimmed = path.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  const base = trimmed.slice(slash + 1);
  if (base === "" || base === "." || base === "..") return resolvePath(fs, trimmed || "/", what);
  const dir = resolvePath(fs, trimmed.slice(0, Math.max(slash, 0)) || "/", what);
  const at = `${dir.path === "/" ? "" : dir.path}/${base}`;
  const entry = fs.lookup(at);
  if (entry === undefined) throw new PathError(`${what}: ${at} does not exist`);
  return { path: at, entry };
}
