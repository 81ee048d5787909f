/**
 * Stalls: a transfer whose connection stays open but that moves (almost) nothing. undici's
 * `bodyTimeout` is an idle timeout between chunks, so a registry sending one byte a second never
 * trips it. The rule here is curl's `--speed-limit`/`--speed-time`: every STALL_MIN_BYTES must move
 * within the stall timeout of the previous ones, else the transfer has stalled. Time during which our
 * own side holds the transfer back (a full disk queue, a slow reader of the body, a source that is
 * still producing the bytes to upload) does not count against the other side.
 */

/** Bytes that must move within each stall timeout: 1 KiB (a drip of a few bytes a second is a stall). */
export const STALL_MIN_BYTES = 1024;
/** The default stall timeout; `--stall-timeout` or OCIUTIL_STALL_TIMEOUT change it. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

let stallTimeoutMs = DEFAULT_STALL_TIMEOUT_MS;

/** Sets the stall timeout for every transfer this process starts from now on. */
export function setStallTimeout(ms: number): void {
  stallTimeoutMs = ms;
}

export function stallTimeout(): number {
  return stallTimeoutMs;
}

/** A stalled transfer; retried like a dropped connection (transport.ts lists its code). */
export class StallError extends Error {
  override readonly name = "StallError";
  readonly code = STALL_ERROR_CODE;
  constructor(timeoutMs: number) {
    super(`stalled: fewer than ${STALL_MIN_BYTES} bytes in ${timeoutMs / 1000} s`);
  }
}

export const STALL_ERROR_CODE = "OCIUTIL_STALLED";

/**
 * Watches one transfer. `progress(n)` after every n bytes moved; `held()` says whether our side is
 * holding the transfer back right now. Checked a few times per timeout, so a hold is seen to within
 * a fifth of it. `onStall` is called at most once.
 */
export class StallWatch {
  private bytes = 0;
  private since = performance.now();
  private readonly timeoutMs = stallTimeoutMs;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly held: () => boolean,
    private readonly onStall: (err: StallError) => void,
  ) {
    this.timer = setInterval(() => this.check(), Math.max(20, this.timeoutMs / 5));
    this.timer.unref(); // the connection keeps the process alive, never this timer
  }

  progress(n: number): void {
    this.bytes += n;
    if (this.bytes < STALL_MIN_BYTES) return;
    this.bytes = 0;
    this.since = performance.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const now = performance.now();
    if (this.held()) {
      this.bytes = 0;
      this.since = now;
      return;
    }
    if (now - this.since < this.timeoutMs) return;
    this.stop();
    this.onStall(new StallError(this.timeoutMs));
  }
}

/** Request bodies are handed to the socket in pieces this large, so that progress is seen within one. */
const UPLOAD_PIECE = 64 << 10;

export interface WatchedUpload {
  body: AsyncIterable<Uint8Array>;
  /** Aborted, with the StallError, when the upload stalls: give it to the request. */
  signal: AbortSignal;
  /** The request is over (answered or failed): stop watching. */
  stop(): void;
}

/**
 * An upload body held to the stall rule. The socket takes a piece only when it has room for it, so
 * pieces taken measure what the registry reads; the time spent waiting for the source's next chunk
 * (a file, or a blob still arriving from another registry) is ours, not the registry's.
 */
export function watchedUpload(source: AsyncIterable<Uint8Array>): WatchedUpload {
  const abort = new AbortController();
  let pulling = false;
  let watch: StallWatch | undefined;
  async function* pieces(): AsyncGenerator<Uint8Array> {
    watch = new StallWatch(() => pulling, (err) => abort.abort(err));
    const chunks = source[Symbol.asyncIterator]();
    let done = false;
    try {
      for (;;) {
        pulling = true;
        const next = await chunks.next();
        pulling = false;
        if (next.done === true) {
          done = true;
          return;
        }
        const chunk = next.value;
        for (let at = 0; at < chunk.length; at += UPLOAD_PIECE) {
          const piece = chunk.subarray(at, at + UPLOAD_PIECE);
          yield piece;
          watch.progress(piece.length);
        }
      }
    } finally {
      watch.stop();
      if (!done) await chunks.return?.();
    }
  }
  return { body: pieces(), signal: abort.signal, stop: () => watch?.stop() };
}
