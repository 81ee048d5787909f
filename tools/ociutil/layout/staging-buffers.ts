/**
 * Buffers where received blob bytes wait until they are on disk and hashed: 1 MiB each, moved to a
 * worker that writes and hashes them (blob-workers.ts), then reused. Reuse is the point: a pull
 * allocates ~20 buffers, not one per socket read.
 *
 * The set has a soft cap: `inFlight` buffers on their way to disk, plus one being filled per open
 * writer (a writer keeps a partly filled buffer until it is full, so the cap must leave each one
 * room, or a closed gate could wait forever for buffers that never fill). Reaching the cap closes
 * the receive gate (util/receive-gate.ts) and sockets stop reading; a socket may still deliver the
 * read it already has, so `take()` never fails: it grows the set by the one buffer that read needs.
 */
import { blobReceiveGate, type ReceiveGate } from "../util/receive-gate.js";

export const STAGING_BUFFER_SIZE = 1 << 20;

export interface StagingBuffer {
  /** Spans its whole ArrayBuffer, so it can move to the hash worker; replaced when it comes back. */
  bytes: Buffer;
}

export class StagingBuffers {
  private readonly free: StagingBuffer[] = [];
  private created = 0;
  private inUse = 0;
  private writers = 0;

  constructor(
    readonly inFlight: number,
    private readonly gate: ReceiveGate,
  ) {}

  private get softCap(): number {
    return this.inFlight + this.writers;
  }

  get buffersInUse(): number {
    return this.inUse;
  }
  get buffersCreated(): number {
    return this.created;
  }

  /** A writer starts (it will hold up to one partly filled buffer) or ends. */
  attachWriter(): void {
    this.writers++;
    this.changed();
  }
  detachWriter(): void {
    this.writers--;
    this.changed();
  }

  take(): StagingBuffer {
    let buffer = this.free.pop();
    if (buffer === undefined) {
      buffer = { bytes: Buffer.allocUnsafeSlow(STAGING_BUFFER_SIZE) };
      this.created++;
    }
    this.inUse++;
    this.changed();
    return buffer;
  }

  release(buffer: StagingBuffer): void {
    this.inUse--;
    this.free.push(buffer);
    this.changed();
  }

  private changed(): void {
    if (this.inUse >= this.softCap) {
      this.gate.close();
    } else {
      this.gate.open();
    }
  }
}

/**
 * The process's staging buffers, shared by every blob being written, and tied to the gate of blob
 * downloads. 16 MiB on its way to disk keeps 4 parallel downloads busy on a loopback registry.
 */
export const sharedStaging = new StagingBuffers(16, blobReceiveGate);
