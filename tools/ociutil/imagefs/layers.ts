/**
 * A layer's tar entries, streamed from its blob in the layout: the compressed bytes are checked
 * against the layer's descriptor (size and digest) as they pass, decompressed by media type (gzip with
 * node:zlib, zstd with fzstd, plain tar as is) and parsed by tar-stream. Nothing is written to disk and
 * only one entry's chunk is in memory at a time.
 */
import { createReadStream } from "node:fs";
import { Transform, pipeline, type TransformCallback } from "node:stream";
import { createGunzip } from "node:zlib";
import { Decompress as ZstdDecompress } from "fzstd";
import tar from "tar-stream";
import type { ImageLayout } from "../layout/layout.js";
import { digestAlgorithm, newHash } from "../name/digest.js";
import type { Descriptor } from "../spec/schemas.js";
import { OciError, VerificationError, errorMessage } from "../util/errors.js";
import { VerifyingStream } from "../util/verify-stream.js";

export class LayerError extends OciError {
  override readonly name = "LayerError";
}

export type Compression = "gzip" | "zstd" | "none";

export function compressionOf(mediaType: string): Compression {
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip")) return "gzip";
  if (mediaType.endsWith("+zstd")) return "zstd";
  return "none";
}

export interface LayerEntry {
  readonly header: tar.Header;
  /** Position of the entry in the layer's tar stream (0-based): how its content is found again. */
  readonly ordinal: number;
  /**
   * The entry's content; read it to the end (or stop the iteration) before asking for the next. A
   * layer that ends or breaks inside it fails with the same LayerError as between entries.
   */
  readonly body: AsyncIterable<Buffer>;
}

/** "layer 2 (sha256:1234abcd5678)", for messages. */
export function layerName(index: number, desc: Descriptor): string {
  return `layer ${index} (${desc.digest.slice(0, 19)})`;
}

/**
 * Iterates the tar entries of `desc`. A bad blob (missing, wrong size or digest, not the compression
 * its media type says, not a tar) ends the iteration with one LayerError naming the layer.
 */
export async function* layerEntries(layout: ImageLayout, index: number, desc: Descriptor): AsyncGenerator<LayerEntry> {
  const what = layerName(index, desc);
  if (!(await layout.hasBlob(desc))) {
    const size = await layout.blobSize(desc.digest);
    throw new LayerError(`${what}: blob ${size === undefined ? "is missing" : `has ${size} bytes, its descriptor says ${desc.size}`}`);
  }
  const source = layout.openBlob(desc.digest);
  const extract = tar.extract();
  const decompress = decompressor(compressionOf(desc.mediaType));
  let failure: unknown;
  pipeline(source, new VerifyingStream(desc, what), decompress, extract, (err) => {
    if (err && failure === undefined) failure = err;
  });
  let ordinal = 0;
  try {
    for await (const entry of extract) {
      yield { header: entry.header, ordinal: ordinal++, body: explained(entry as AsyncIterable<Buffer>, (err) => layerFailure(layout, desc, what, err)) };
      entry.resume(); // drain what the consumer left, so the next header can be parsed
    }
  } catch (err) {
    failure ??= err;
  } finally {
    if (failure === undefined) source.destroy(); // stopped early: release the file
  }
  if (failure !== undefined) throw await layerFailure(layout, desc, what, failure);
}

/** The one-line error for a failure while reading a layer (its tar headers or an entry's body). */
async function layerFailure(layout: ImageLayout, desc: Descriptor, what: string, failure: unknown): Promise<OciError> {
  // A parse error in the middle of a blob is usually a corrupt blob: say so when its digest is wrong,
  // in the words VerifyingStream uses when it is the one that notices first.
  if (!(failure instanceof OciError)) {
    const got = await fileDigest(layout.blobPath(desc.digest), digestAlgorithm(desc.digest)).catch(() => undefined);
    if (got !== undefined && got !== desc.digest) return new VerificationError(`${what}: content has digest ${got}, expected ${desc.digest}`);
  }
  return asLayerError(what, desc, failure);
}

/**
 * An entry's body whose failures (a tar cut short inside the entry: tar-stream's "Unexpected end of
 * data") reach the consumer explained like the header parser's, not as tar-stream's bare Error.
 */
async function* explained(body: AsyncIterable<Buffer>, explain: (err: unknown) => Promise<OciError>): AsyncGenerator<Buffer> {
  try {
    yield* body;
  } catch (err) {
    throw await explain(err);
  }
}

async function fileDigest(file: string, algorithm: ReturnType<typeof digestAlgorithm>): Promise<string> {
  const hash = newHash(algorithm);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `${algorithm}:${hash.digest("hex")}`;
}

function asLayerError(what: string, desc: Descriptor, err: unknown): OciError {
  if (err instanceof OciError) return err;
  const msg = errorMessage(err);
  const kind = compressionOf(desc.mediaType);
  if (/zlib|header check|unexpected end of file|incorrect/i.test(msg) && kind === "gzip") return new LayerError(`${what}: not valid gzip data: ${msg}`);
  if (kind === "zstd" && (err as { code?: unknown }).code !== undefined && typeof (err as { code?: unknown }).code === "number") {
    return new LayerError(`${what}: not valid zstd data: ${msg}`);
  }
  return new LayerError(`${what}: not a valid tar stream: ${msg}`);
}

function decompressor(kind: Compression): Transform {
  if (kind === "gzip") return createGunzip({ chunkSize: 1 << 16 });
  if (kind === "zstd") return new ZstdStream();
  return new Transform({ transform: (chunk, _e, done) => done(null, chunk) });
}

/**
 * fzstd's streaming decompressor as a Transform. Node 20 has no zstd in node:zlib; fzstd is pure
 * JavaScript, streams, and keeps only the frame's window in memory.
 */
class ZstdStream extends Transform {
  private readonly inner = new ZstdDecompress((data) => {
    if (data.length > 0) this.push(Buffer.from(data.buffer, data.byteOffset, data.length));
  });

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.inner.push(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.inner.push(new Uint8Array(0), true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}
