/**
 * Peer tools (other OCI implementations and the registry) that the tests run against ociutil.
 *
 * A missing peer is an error, never a skip: `peer()` throws with the exact command that installs it.
 */
import { spawn, type SpawnOptions } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

export type PeerName = "crane" | "oras" | "umoci" | "skopeo" | "cosign" | "docker-registry" | "htpasswd" | "openssl";

export const DEFAULT_SID_ROOTFS = "/var/cache/rules_ociutil/sid-rootfs";

/** The Debian unstable rootfs made by `.ci/setup-sid-rootfs` (`$OCIUTIL_SID_ROOTFS`). */
export function sidRootfs(): string {
  return process.env["OCIUTIL_SID_ROOTFS"] || DEFAULT_SID_ROOTFS;
}

const SETUP_SID = `bash .ci/setup-sid-rootfs ${DEFAULT_SID_ROOTFS}`;

/**
 * Where each peer may come from, in order of preference.
 * - host: Debian 12 on PATH. sid: a Go binary from the sid rootfs that runs on the host as is.
 * - umoci: sid's 0.6.0 first, because 0.4.7's `umoci stat` panics on some valid images.
 * - skopeo from sid needs sid's shared libraries, so only the host's is used.
 * - crane, oras and cosign are not in Debian 12 at all.
 */
const SOURCES: Record<PeerName, { order: Array<"host" | "sid">; install: string }> = {
  crane: { order: ["host", "sid"], install: SETUP_SID },
  oras: { order: ["host", "sid"], install: SETUP_SID },
  umoci: { order: ["sid", "host"], install: `${SETUP_SID}   (or, for umoci 0.4.7: apt-get install -y umoci)` },
  skopeo: { order: ["host"], install: "apt-get install -y skopeo" },
  cosign: { order: ["host", "sid"], install: SETUP_SID },
  "docker-registry": { order: ["host"], install: "apt-get install -y docker-registry" },
  htpasswd: { order: ["host"], install: "apt-get install -y apache2-utils" },
  openssl: { order: ["host"], install: "apt-get install -y openssl" },
};

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Pure lookup (for tests of the lookup itself): PATH value and sid rootfs are given. */
export function findPeer(name: PeerName, where: { path: string; sidRootfs: string }): string {
  const src = SOURCES[name];
  if (!src) throw new Error(`unknown peer tool ${JSON.stringify(name)}`);
  for (const kind of src.order) {
    if (kind === "host") {
      for (const dir of where.path.split(delimiter)) {
        if (!dir) continue;
        const p = join(dir, name);
        if (isExecutable(p)) return p;
      }
    } else {
      const p = join(where.sidRootfs, "usr", "bin", name);
      if (isExecutable(p)) return p;
    }
  }
  const looked = src.order
    .map((k) => (k === "host" ? "PATH" : join(where.sidRootfs, "usr/bin", name)))
    .join(" and ");
  throw new Error(`peer tool '${name}' is missing (looked in ${looked}); install it with: ${src.install}`);
}

const cache = new Map<PeerName, string>();

/** Path of a peer executable; throws with the install command if it is missing. */
export function peer(name: PeerName): string {
  const hit = cache.get(name);
  if (hit) return hit;
  const p = findPeer(name, { path: process.env["PATH"] ?? "", sidRootfs: sidRootfs() });
  cache.set(name, p);
  return p;
}

export interface RunResult {
  code: number;
  /** Set when the process died of a signal (code is then 128 + signal number, or -1). */
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Merged over process.env; an undefined value removes the variable. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed (stdin is /dev/null otherwise). */
  input?: string | Buffer;
  /** Kill (SIGKILL) after this many ms. Default: no limit. */
  timeoutMs?: number;
  /** Max bytes kept per output stream (the rest is dropped). Default 256 MiB. */
  maxBuffer?: number;
  /**
   * On abort, the program gets SIGINT (as from ^C: a Bazel client then stops its server's command)
   * and SIGKILL 10 s later; runTool still resolves when it has exited, so nothing outlives the caller.
   */
  signal?: AbortSignal;
}

export function mergeEnv(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs a program (no shell). Resolves with its exit code; rejects only if it cannot be started. */
export function runTool(path: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const maxBuffer = opts.maxBuffer ?? 256 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = {
      cwd: opts.cwd,
      env: mergeEnv(opts.env),
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    };
    const child = spawn(path, args, spawnOpts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout!.on("data", (b: Buffer) => {
      if (outLen < maxBuffer) out.push(b);
      outLen += b.length;
    });
    child.stderr!.on("data", (b: Buffer) => {
      if (errLen < maxBuffer) err.push(b);
      errLen += b.length;
    });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      child.kill("SIGINT");
      killTimer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    child.on("error", (e) => {
      done();
      reject(e);
    });
    child.on("close", (code, signal) => {
      done();
      resolve({
        code: code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : -1),
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    if (opts.input !== undefined) {
      child.stdin!.on("error", () => {}); // the program may exit without reading it
      child.stdin!.end(opts.input);
    }
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  const map: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15, SIGABRT: 6 };
  return map[sig];
}

/** Like runTool, but throws (with the command line, exit code and stderr) unless it exits 0. */
export async function mustRun(path: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runTool(path, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `command failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ""}): ${[path, ...args].join(" ")}\n` +
        `stderr:\n${r.stderr.trimEnd()}` +
        (r.stdout.trim() ? `\nstdout:\n${r.stdout.slice(-4000).trimEnd()}` : ""),
    );
  }
  return r;
}
