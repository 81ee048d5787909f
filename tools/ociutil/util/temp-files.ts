/**
 * ociutil's temp files: every file that must appear whole (a blob, index.json, a record) is written
 * to `.<name>.<writer>.<random>.tmp` beside it and renamed into place. A process killed with
 * SIGKILL (or a machine that loses power) leaves that temp file behind; this module says whose it is
 * and whether it is abandoned, so that the next run removes it and `verify` reports it.
 *
 * <writer> is `<host>-<pid>`: <host> is 8 hex digits of sha256(hostname, pid namespace), so a pid is
 * only ever checked on the machine and in the pid namespace it belongs to (two containers sharing
 * a layout through a volume see different namespaces; two machines sharing it over NFS, different
 * host names).
 *
 * Abandoned means one of:
 * - written here (same <host>) by a pid that is not running: the writer died; a live writer, even a
 *   stalled one, keeps its pid. A reused pid only keeps the file longer (until the age rule).
 * - not modified for ABANDONED_AFTER_MS, whoever wrote it: the rule for writers we cannot ask
 *   (another host or namespace, or a name from before writers were named). A live writer touches
 *   its file with every MiB it receives, and stalled transfers time out long before a day passes.
 * Nothing else is removed: a concurrent writer's temp file is never taken from under it.
 */
import { createHash, randomBytes } from "node:crypto";
import { readlinkSync } from "node:fs";
import { opendir, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";

export const ABANDONED_AFTER_MS = 24 * 60 * 60 * 1000;

const TEMP_NAME = /^\.(.+)\.([0-9a-f]{8})-([0-9]+)\.[0-9a-f]{12}\.tmp$/;
/** The name before writers carried a host: `.<name>.<pid>.<random>.tmp`. Only the age rule applies. */
const UNHOSTED_TEMP_NAME = /^\.(.+)\.([0-9]+)\.[0-9a-f]{12}\.tmp$/;

let hostTag: string | undefined;

/** This process's <host>: which machine and pid namespace its pid means something in. */
export function writerHost(): string {
  if (hostTag === undefined) {
    let namespace = "";
    try {
      namespace = readlinkSync("/proc/self/ns/pid"); // "pid:[4026531836]"; absent off Linux
    } catch {
      /* one namespace per host name is all we can tell */
    }
    hostTag = createHash("sha256").update(`${hostname()}\0${namespace}`).digest("hex").slice(0, 8);
  }
  return hostTag;
}

/** The temp file name for a file named `name`, unique to this write. */
export function tempNameFor(name: string): string {
  return `.${name}.${writerHost()}-${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
}

export interface TempFile {
  /** The temp file's own name. */
  name: string;
  /** The name of the file it was to become. */
  target: string;
  /** Its writer's pid, when the writer ran here (same host and pid namespace). */
  localPid?: number;
}

/** The temp file `name` describes, or undefined if it is not one of ociutil's. */
export function parseTempName(name: string): TempFile | undefined {
  const m = TEMP_NAME.exec(name);
  if (m !== null) {
    return { name, target: m[1]!, ...(m[2] === writerHost() ? { localPid: Number(m[3]) } : {}) };
  }
  const old = UNHOSTED_TEMP_NAME.exec(name);
  return old !== null ? { name, target: old[1]! } : undefined;
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, someone else's
  }
}

/** Why the temp file at `file` is abandoned, or undefined if a writer may still be using it. */
export async function abandonedBecause(file: string, temp: TempFile, now = Date.now()): Promise<string | undefined> {
  if (temp.localPid !== undefined && !isRunning(temp.localPid)) return `its writer, pid ${temp.localPid}, is not running`;
  let modified: number;
  try {
    modified = (await stat(file)).mtimeMs;
  } catch {
    return undefined; // gone already: renamed or removed by its writer
  }
  if (now - modified > ABANDONED_AFTER_MS) return `not modified for ${Math.floor((now - modified) / 3_600_000)} hours`;
  return undefined;
}

/** Every ociutil temp file directly in `dir` (none if `dir` does not exist). Reads the directory as a stream. */
export async function* tempFilesIn(dir: string): AsyncGenerator<TempFile> {
  let entries;
  try {
    entries = await opendir(dir);
  } catch {
    return;
  }
  for await (const entry of entries) {
    if (!entry.isFile()) continue;
    const temp = parseTempName(entry.name);
    if (temp !== undefined) yield temp;
  }
}

/**
 * Removes the abandoned temp files in `dir` (those of `target` only, when given). Returns how many.
 * A file that vanished meanwhile was someone else's to remove: not an error.
 */
export async function removeAbandonedTemps(dir: string, target?: string): Promise<number> {
  let removed = 0;
  for await (const temp of tempFilesIn(dir)) {
    if (target !== undefined && temp.target !== target) continue;
    const file = path.join(dir, temp.name);
    if ((await abandonedBecause(file, temp)) === undefined) continue;
    await rm(file, { force: true });
    removed++;
  }
  return removed;
}
