/**
 * Hashes files on worker threads, reading them back from disk (usually the page cache): `verify`
 * hashes a layout's big blobs this way, so several of them use every core. A job follows a file up to
 * where `advance()` says it has grown, so it can also hash a file that is still being written.
 * Workers are tiny eval'd scripts, so starting one costs a few milliseconds, not a second load of the
 * bundle. (Blobs being received are hashed by layout/blob-workers.ts, from memory, instead.)
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { DigestAlgorithm } from "../name/digest.js";

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { openSync, readSync, closeSync } = require("node:fs");
const buf = Buffer.allocUnsafe(1 << 20);
const jobs = new Map();
parentPort.on("message", (m) => {
  const job = jobs.get(m.id);
  try {
    if (m.op === "open") {
      jobs.set(m.id, { hash: createHash(m.algorithm), fd: openSync(m.path, "r"), offset: 0, failed: false });
    } else if (job === undefined || job.failed) {
      if (m.op === "finish" || m.op === "abort") jobs.delete(m.id);
    } else if (m.op === "advance") {
      while (job.offset < m.end) {
        const n = readSync(job.fd, buf, 0, Math.min(buf.length, m.end - job.offset), job.offset);
        if (n <= 0) throw new Error("file shorter than the bytes written to it");
        job.hash.update(buf.subarray(0, n));
        job.offset += n;
      }
    } else if (m.op === "finish" || m.op === "abort") {
      closeSync(job.fd);
      jobs.delete(m.id);
      if (m.op === "finish") parentPort.postMessage({ id: m.id, hex: job.hash.digest("hex") });
    }
  } catch (err) {
    if (job !== undefined) { job.failed = true; try { closeSync(job.fd); } catch {} }
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
});
`;

interface Pending {
  resolve: (hex: string) => void;
  reject: (err: Error) => void;
  error?: string;
}

class HasherThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private active = 0;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.on("message", (m: { id: number; hex?: string; error?: string }) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      if (m.error !== undefined) {
        p.error = m.error; // reported at finish(), in order with the rest of the job
        return;
      }
      this.pending.delete(m.id);
      this.done();
      if (p.error !== undefined) p.reject(new Error(`hashing failed: ${p.error}`));
      else p.resolve(m.hex ?? "");
    });
    this.worker.on("error", (err) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
    // After the listeners: adding a "message" listener refs the worker again.
    this.worker.unref();
  }

  get load(): number {
    return this.active;
  }

  post(message: object): void {
    this.worker.postMessage(message);
  }

  start(id: number, p: Pending): void {
    // Keep the process alive only while a hash is owed to someone.
    if (this.active++ === 0) this.worker.ref();
    this.pending.set(id, p);
  }

  done(): void {
    if (--this.active === 0) this.worker.unref();
  }

  forget(id: number): void {
    if (this.pending.delete(id)) this.done();
  }
}

export interface FileHashJob {
  /** The file now holds at least `end` bytes: hash up to there. */
  advance(end: number): void;
  /** Hex digest of everything advanced over. */
  finish(): Promise<string>;
  /** Stop; the file may be removed. */
  abort(): void;
}

let threads: HasherThread[] | undefined;
let nextId = 0;

/** Starts hashing `path` (being written) on the least busy worker thread. */
export function hashFileAsWritten(path: string, algorithm: DigestAlgorithm): FileHashJob {
  threads ??= Array.from({ length: Math.max(1, Math.min(2, availableParallelism() - 1 || 1)) }, () => new HasherThread());
  const thread = threads.reduce((a, b) => (b.load < a.load ? b : a));
  const id = nextId++;
  let result: Promise<string> | undefined;
  let resolve!: (hex: string) => void;
  let reject!: (err: Error) => void;
  result = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  result.catch(() => undefined); // observed by finish(); never an unhandled rejection
  thread.start(id, { resolve, reject });
  thread.post({ op: "open", id, path, algorithm });
  return {
    advance: (end) => thread.post({ op: "advance", id, end }),
    finish: () => {
      thread.post({ op: "finish", id });
      return result;
    },
    abort: () => {
      thread.post({ op: "abort", id });
      thread.forget(id);
    },
  };
}
