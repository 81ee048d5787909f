/**
 * What one build cost, from outside Bazel: the spawns of Bazel's execution log (`--execution_log_json_file`,
 * SpawnExec objects one after another) and the CPU time of the Bazel server's processes from /proc.
 * Every process an action starts is the server's descendant and is waited for, so its CPU ends up in
 * the server's cutime/cstime; persistent workers stay alive and are read directly.
 */
import { readFile, readdir } from "node:fs/promises";

export interface Spawn {
  mnemonic: string;
  runner: string;
  /** Seconds, Bazel's wall time of the spawn. */
  wall: number;
}

/** Splits concatenated JSON objects (Bazel writes the log so). */
function* objects(text: string): Generator<string> {
  let depth = 0;
  let start = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") {
      if (depth++ === 0) start = i;
    } else if (c === "}" && --depth === 0) yield text.slice(start, i + 1);
  }
}

const seconds = (d: unknown): number => (typeof d === "string" && d.endsWith("s") ? Number(d.slice(0, -1)) : 0);

export async function readExecutionLog(path: string): Promise<Spawn[]> {
  const spawns: Spawn[] = [];
  for (const text of objects(await readFile(path, "utf8"))) {
    const s = JSON.parse(text) as { mnemonic?: string; runner?: string; walltime?: string; metrics?: { totalTime?: string } };
    if (s.mnemonic === undefined) continue;
    spawns.push({ mnemonic: s.mnemonic, runner: s.runner ?? "", wall: seconds(s.walltime) || seconds(s.metrics?.totalTime) });
  }
  return spawns;
}

/** CPU seconds so far: the server's own, its waited-for children's, and each live worker's. */
export interface CpuSample {
  server: number;
  children: number;
  workers: Map<number, number>;
}

const TICK = 100; // USER_HZ on Linux

async function stat(pid: number): Promise<{ ppid: number; self: number; children: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const f = text.slice(text.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
  return { ppid: Number(f[1]), self: (Number(f[11]) + Number(f[12])) / TICK, children: (Number(f[13]) + Number(f[14])) / TICK };
}

export async function sampleCpu(serverPid: number): Promise<CpuSample> {
  const server = await stat(serverPid);
  if (server === undefined) throw new Error(`no Bazel server with pid ${serverPid}`);
  const workers = new Map<number, number>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (!cmdline.includes("--persistent_worker") || !cmdline.includes("ociutil.mjs")) continue;
    const s = await stat(Number(name));
    if (s !== undefined && s.ppid === serverPid) workers.set(Number(name), s.self);
  }
  return { server: server.self, children: server.children, workers };
}

/** CPU seconds between two samples: Bazel's own, and its actions' (processes and workers). */
export function cpuBetween(a: CpuSample, b: CpuSample): { bazel: number; actions: number } {
  let workers = 0;
  for (const [pid, t] of b.workers) workers += t - (a.workers.get(pid) ?? 0);
  return { bazel: b.server - a.server, actions: b.children - a.children + workers };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
