/** Bytes passing through a body counted into a blob's progress, without a copy or a buffer per chunk. */
import { Readable } from "node:stream";
import type { BodySink } from "../util/body-sink.js";
import { isIgnored, type BlobProgress } from "./events.js";

/** A sink that counts what it passes on to `sink`. */
export function countingSink(sink: BodySink, blob: BlobProgress): BodySink {
  if (isIgnored(blob)) return sink;
  return {
    write(chunk) {
      sink.write(chunk);
      blob.add(chunk.length);
    },
    end: () => sink.end(),
    fail: (err) => sink.fail(err),
  };
}

/** The body's chunks, counted as the reader takes them. */
export function countedBody<T extends AsyncIterable<Uint8Array>>(body: T, blob: BlobProgress): T | AsyncIterable<Uint8Array> {
  if (isIgnored(blob)) return body;
  return counted(body, blob);
}

async function* counted(body: AsyncIterable<Uint8Array>, blob: BlobProgress): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    blob.add(chunk.length);
    yield chunk;
  }
}

/** countedBody for a caller that needs a Readable. */
export function countedStream(body: Readable, blob: BlobProgress): Readable {
  if (isIgnored(blob)) return body;
  return Readable.from(counted(body, blob), { objectMode: false });
}
