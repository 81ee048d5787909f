/**
 * Worker threads that write blob buffers to their files and hash them. The thread that receives a
 * blob only copies bytes into 1 MiB buffers (blob-writer.ts) and hands each full one over: the
 * memory moves to a worker, which writes it at its offset, hashes it, and gives it back. So the
 * receiving thread does no file I/O and no sha256, and the work spreads over the cores as it does
 * in Go clients.
 *
 * Measured on these machines, and why it is built this way:
 * - Synchronous pwrite on a worker, not fs.write from the main thread: libuv 1.46 (Node 20) sends
 *   async file writes through io_uring, which copies them into the page cache on the main thread.
 * - Memory that moves (transfer), not a SharedArrayBuffer that both threads read: writing shared
 *   memory to a file cost 10× the system time of ordinary memory.
 * - Each blob stays on one worker, so its writes and hash updates happen in order.
 * - Writes of 64 KiB, not 1 MiB: on Linux 6.x a big write makes the page cache allocate big folios,
 *   and on these VMs that now and then cost 5-10× the system time (0.1 s per 512 MiB became
 *   0.3-0.7 s). 64 KiB writes were steady; Go's io.Copy writes 32 KiB.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { DigestAlgorithm } from "../name/digest.js";

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { writeSync } = require("node:fs");
const message = (err) => String((err && err.message) || err);
const WRITE_PIECE = 32 * 1024; // see the module comment
const jobs = new Map();
parentPort.on("message", (m) => {
  if (m.op === "start") {
    const job = { fd: m.fd, hash: null, error: null };
    try { job.hash = createHash(m.algorithm); } catch (err) { job.error = message(err); }
    jobs.set(m.job, job);
  } else if (m.op === "chunk") {
    const job = jobs.get(m.job);
    if (job !== undefined && job.error === null) {
      try {
        const bytes = new Uint8Array(m.memory, 0, m.length);
        for (let done = 0; done < m.length; ) {
          done += writeSync(job.fd, bytes, done, Math.min(WRITE_PIECE, m.length - done), m.position + done);
        }
        job.hash.update(bytes);
      } catch (err) { job.error = message(err); }
    }
    parentPort.postMessage({ op: "chunk", chunk: m.chunk, memory: m.memory }, [m.memory]); // always: the sender reuses it
  } else if (m.op === "finish") {
    const job = jobs.get(m.job);
    jobs.delete(m.job);
    if (job === undefined) parentPort.postMessage({ op: "finish", job: m.job, error: "unknown job" });
    else if (job.error !== null) parentPort.postMessage({ op: "finish", job: m.job, error: job.error });
    else parentPort.postMessage({ op: "finish", job: m.job, hex: job.hash.digest("hex") });
  } else if (m.op === "abort") {
    jobs.delete(m.job);
  }
});
`;

type Reply = { op: "chunk"; chunk: number; memory: ArrayBuffer } | { op: "finish"; job: number; hex?: string; error?: string };

export interface BlobJob {
  /**
   * Writes the first `length` bytes of `bytes` at `position`, and hashes them.
   * `bytes` must span its whole ArrayBuffer, which moves to the worker: don't touch it until `done`
   * gives the memory back, as a new Buffer.
   */
  write(bytes: Buffer, length: number, position: number, done: (returned: Buffer) => void): void;
  /** Waits for every write; the hex digest of everything written. */
  finish(): Promise<string>;
  /** Stop; pending writes still give their memory back. */
  abort(): void;
}

class BlobWorker {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true });
  private readonly chunks = new Map<number, { done: (returned: Buffer) => void; size: number }>();
  private readonly finishes = new Map<number, { resolve: (hex: string) => void; reject: (err: Error) => void }>();
  private nextChunk = 0;
  private owed = 0;
  private failure: Error | undefined;
  /** Jobs started and not finished: new jobs go to the least loaded worker. */
  jobs = 0;

  constructor() {
    this.worker.on("message", (m: Reply) => {
      if (m.op === "chunk") {
        const pending = this.chunks.get(m.chunk);
        this.chunks.delete(m.chunk);
        this.paid();
        pending?.done(Buffer.from(m.memory));
      } else {
        const waiter = this.finishes.get(m.job);
        this.finishes.delete(m.job);
        this.paid();
        if (m.error !== undefined) waiter?.reject(new Error(m.error));
        else waiter?.resolve(m.hex ?? "");
      }
    });
    this.worker.on("error", (err) => {
      // Nothing comes back from a dead worker: fail every job, and replace the memory it held.
      this.failure = err;
      for (const w of this.finishes.values()) w.reject(err);
      this.finishes.clear();
      for (const { done, size } of this.chunks.values()) done(Buffer.allocUnsafeSlow(size));
      this.chunks.clear();
    });
    // After the listeners: adding a "message" listener refs the worker again.
    this.worker.unref();
  }

  /** Keeps the process alive only while the worker owes an answer. */
  private owe(): void {
    if (this.owed++ === 0) this.worker.ref();
  }
  private paid(): void {
    if (--this.owed === 0) this.worker.unref();
  }

  start(job: number, fd: number, algorithm: DigestAlgorithm): BlobJob {
    this.jobs++;
    this.worker.postMessage({ op: "start", job, fd, algorithm });
    let ended = false;
    const end = (): void => {
      if (!ended) this.jobs--;
      ended = true;
    };
    return {
      write: (bytes, length, position, done) => {
        const memory = bytes.buffer as ArrayBuffer;
        if (bytes.byteOffset !== 0 || bytes.length !== memory.byteLength) throw new Error("blob worker: a buffer must span its memory");
        const chunk = this.nextChunk++;
        this.chunks.set(chunk, { done, size: memory.byteLength });
        this.owe();
        this.worker.postMessage({ op: "chunk", job, chunk, memory, length, position }, [memory]);
      },
      finish: () =>
        new Promise<string>((resolve, reject) => {
          end();
          if (this.failure !== undefined) return reject(this.failure);
          this.finishes.set(job, { resolve, reject });
          this.owe();
          this.worker.postMessage({ op: "finish", job });
        }),
      abort: () => {
        end();
        this.worker.postMessage({ op: "abort", job });
      },
    };
  }
}

const workers: BlobWorker[] = [];
let nextJob = 0;

function maxWorkers(): number {
  return Math.min(2, availableParallelism());
}

/**
 * Starts up to `count` workers now (a worker takes ~20 ms to start), so that they are ready when the
 * first blob arrives instead of holding it up. Idle workers do not keep the process alive.
 */
export function startBlobWorkers(count: number): void {
  while (workers.length < Math.min(count, maxWorkers())) workers.push(new BlobWorker());
}

/**
 * Starts writing a blob to `fd` and hashing it with `algorithm`, on an idle worker, else a new one
 * (two at most: with the receiving thread, that fills two cores), else the least loaded.
 */
export function startBlobJob(fd: number, algorithm: DigestAlgorithm): BlobJob {
  let worker = workers.find((w) => w.jobs === 0);
  if (worker === undefined && workers.length < maxWorkers()) workers.push((worker = new BlobWorker()));
  worker ??= workers.reduce((a, b) => (b.jobs < a.jobs ? b : a));
  return worker.start(nextJob++, fd, algorithm);
}
