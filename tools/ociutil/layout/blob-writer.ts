/**
 * Writes one blob's bytes to a file as they arrive, checking them against the blob's descriptor.
 *
 * `write()` copies each chunk into a staging buffer and returns: it never waits, so it can take
 * bytes straight from a socket's reused read buffer (remote/reused-read-buffers.ts). Each full
 * buffer moves to a worker thread that writes it at its offset and hashes it (blob-workers.ts),
 * and comes back to be reused. `done` settles when every buffer is back: it resolves when the file
 * holds exactly the descriptor's bytes, and rejects with one line otherwise. The file is the
 * caller's to rename or remove.
 */
import { close, open } from "node:fs";
import { promisify } from "node:util";
import { digestAlgorithm, type Digest } from "../name/digest.js";
import type { BodySink } from "../util/body-sink.js";
import { OciError, VerificationError } from "../util/errors.js";
import { startBlobJob, type BlobJob } from "./blob-workers.js";
import { STAGING_BUFFER_SIZE, type StagingBuffer, type StagingBuffers } from "./staging-buffers.js";

const openFile = promisify(open);
const closeFile = promisify(close);

export class BlobWriter implements BodySink {
  private readonly job: BlobJob;
  private current: StagingBuffer | undefined;
  private filled = 0;
  private received = 0;
  private flushed = 0;
  /** Buffers still with the worker. */
  private away = 0;
  private ended = false;
  private error: Error | undefined;
  private settle!: () => void;
  private readonly settled = new Promise<void>((resolve) => (this.settle = resolve));
  /** Resolves once the file holds exactly the blob; rejects with the first failure. */
  readonly done: Promise<void>;

  private constructor(
    private readonly fd: number,
    private readonly desc: { digest: Digest; size: number },
    private readonly what: string,
    private readonly staging: StagingBuffers,
  ) {
    this.job = startBlobJob(fd, digestAlgorithm(desc.digest));
    staging.attachWriter();
    this.done = this.finish();
    this.done.catch(() => undefined); // observed by the caller; never an unhandled rejection
  }

  /** Creates `path` (which must not exist) and a writer for it. */
  static async create(path: string, desc: { digest: Digest; size: number }, what: string, staging: StagingBuffers): Promise<BlobWriter> {
    const fd = await openFile(path, "wx", 0o644);
    return new BlobWriter(fd, desc, what, staging);
  }

  write(chunk: Uint8Array): void {
    if (this.error !== undefined || this.ended) throw this.error ?? new Error(`${this.what}: write after end`);
    this.received += chunk.length;
    if (this.received > this.desc.size) {
      const err = new VerificationError(`${this.what}: more than the ${this.desc.size} bytes its descriptor says`);
      this.fail(err);
      throw err;
    }
    let offset = 0;
    while (offset < chunk.length) {
      this.current ??= this.staging.take();
      const n = Math.min(chunk.length - offset, STAGING_BUFFER_SIZE - this.filled);
      this.current.bytes.set(chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === STAGING_BUFFER_SIZE) this.flush();
    }
  }

  end(): void {
    if (this.error !== undefined || this.ended) return;
    this.ended = true;
    if (this.current !== undefined) this.flush();
    this.check();
  }

  fail(err: Error): void {
    if (this.error !== undefined) return;
    this.error = err;
    if (this.current !== undefined) {
      this.staging.release(this.current);
      this.current = undefined;
    }
    this.check();
  }

  /** Sends the current buffer to the worker; it is reused when it comes back. */
  private flush(): void {
    const buffer = this.current!;
    const length = this.filled;
    this.current = undefined;
    this.filled = 0;
    this.away++;
    this.job.write(buffer.bytes, length, this.flushed, (returned) => {
      buffer.bytes = returned;
      this.staging.release(buffer);
      this.away--;
      this.check();
    });
    this.flushed += length;
  }

  private check(): void {
    if (this.away === 0 && (this.ended || this.error !== undefined)) this.settle();
  }

  private async finish(): Promise<void> {
    await this.settled;
    try {
      if (this.error !== undefined) {
        this.job.abort();
        throw this.error;
      }
      if (this.received !== this.desc.size) {
        this.job.abort();
        throw new VerificationError(`${this.what}: got ${this.received} bytes, its descriptor says ${this.desc.size}`);
      }
      let hex: string;
      try {
        hex = await this.job.finish();
      } catch (err) {
        throw new OciError(`${this.what}: writing it failed: ${(err as Error).message}`);
      }
      const got = `${digestAlgorithm(this.desc.digest)}:${hex}`;
      if (got !== this.desc.digest) throw new VerificationError(`${this.what}: content has digest ${got}, expected ${this.desc.digest}`);
    } finally {
      this.staging.detachWriter();
      await closeFile(this.fd);
    }
  }
}
