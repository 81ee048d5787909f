/**
 * Backpressure between the code that holds received blob bytes and the sockets that receive them.
 * Blob bodies can arrive faster than a disk takes them. When the buffers waiting for disk are full,
 * their owner closes the gate: the sockets that receive blob bodies stop reading (and TCP slows the
 * sender) until it opens again. One gate serves every blob download in the process, because those
 * downloads share one set of buffers (layout/staging-buffers.ts).
 */
export class ReceiveGate {
  private isClosed = false;
  private readonly waiting = new Map<object, () => void>();

  get closed(): boolean {
    return this.isClosed;
  }

  close(): void {
    this.isClosed = true;
  }

  open(): void {
    if (!this.isClosed) return;
    this.isClosed = false;
    const resumes = [...this.waiting.values()];
    this.waiting.clear();
    for (const resume of resumes) resume();
  }

  /** Calls `resume` once the gate is open again; one waiting callback per `waiter`. */
  waitToOpen(waiter: object, resume: () => void): void {
    this.waiting.set(waiter, resume);
  }

  forget(waiter: object): void {
    this.waiting.delete(waiter);
  }
}

/** The gate of blob downloads: closed by the staging buffers, obeyed by the blob sockets. */
export const blobReceiveGate = new ReceiveGate();
