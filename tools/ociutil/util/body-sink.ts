/**
 * Where a body goes as it arrives, chunk by chunk. A chunk is valid only during `write` (the sender
 * may reuse its memory for the next one), so a sink copies what it keeps and never waits. A sink
 * that wants no more bytes throws from `write`; the sender then stops and calls `fail`.
 */
export interface BodySink {
  write(chunk: Uint8Array): void;
  /** The body is complete. */
  end(): void;
  /** The body will not complete (connection lost, or `write` threw). Safe to call more than once. */
  fail(err: Error): void;
}
