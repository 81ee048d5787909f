/**
 * `diff A B`: the paths added, removed and changed between two images' final filesystems. Changed
 * means a different type, mode, owner, content (sha256), symlink target or device number; mtimes are
 * not compared (a rebuild changes them without changing the image's behaviour).
 */
import { byBytes, type Entry, type Filesystem } from "./filesystem.js";

export interface Change {
  path: string;
  /** The fields that differ, e.g. ["mode", "content"]. */
  fields: string[];
}

export interface FilesystemDiff {
  added: string[];
  removed: string[];
  changed: Change[];
}

export function diffFilesystems(a: Filesystem, b: Filesystem): FilesystemDiff {
  const left = new Map(a.walk());
  const right = new Map(b.walk());
  const result: FilesystemDiff = { added: [], removed: [], changed: [] };
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort(byBytes);
  for (const p of paths) {
    const x = left.get(p);
    const y = right.get(p);
    if (x === undefined) result.added.push(p);
    else if (y === undefined) result.removed.push(p);
    else {
      const fields = differences(x, y);
      if (fields.length > 0) result.changed.push({ path: p, fields });
    }
  }
  return result;
}

function differences(x: Entry, y: Entry): string[] {
  if (x.type !== y.type) return ["type"];
  const fields: string[] = [];
  if (x.mode !== y.mode) fields.push("mode");
  if (x.uid !== y.uid || x.gid !== y.gid) fields.push("owner");
  if (x.inode?.sha256 !== y.inode?.sha256 || x.inode?.size !== y.inode?.size) fields.push("content");
  if (x.linkname !== y.linkname) fields.push("target");
  if (x.devmajor !== y.devmajor || x.devminor !== y.devminor) fields.push("device");
  return fields;
}
