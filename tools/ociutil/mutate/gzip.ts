/**
 * The gzip compressor of `ociutil layer`: a layer's compressed bytes must be fixed by the ruleset's
 * version, not by the Node that runs the action. node:zlib is whatever zlib the Node build links:
 * the official builds carry Chromium's zlib, Debian's node the system zlib, and the same tar gives
 * different .tar.gz bytes under each (so different layer and image digests for one action key).
 *
 * pako (pinned exactly in package.json and bundled) is zlib's deflate in JavaScript; with its default
 * hash it writes the bytes of the official Node builds' zlib, so images built before this change with
 * an official Node keep their digests. Cost: about half of node:zlib's speed (docs/remote-execution.md).
 */
import { Transform, type TransformCallback } from "node:stream";
import { Deflate, Z_DEFAULT_STRATEGY } from "pako";
import { OciError } from "../util/errors.js";

/** Settings of the layers this ruleset writes; changing any of them changes every layer digest. */
const LEVEL = 6;
const OUTPUT_CHUNK = 1 << 16;
/** Offset of the gzip header's OS byte (RFC 1952 §2.3), and 255, "unknown": no trace of the OS. */
const OS_BYTE = 9;
const OS_UNKNOWN = 0xff;

/** A Transform from bytes to gzip (mtime 0, OS unknown, level 6), the same on any Node and OS. */
export class ReproducibleGzip extends Transform {
  private readonly deflate = new Deflate({ level: LEVEL, gzip: true, chunkSize: OUTPUT_CHUNK, strategy: Z_DEFAULT_STRATEGY });
  private headerDone = false;

  constructor() {
    super();
    this.deflate.onData = (chunk: Uint8Array) => {
      // pako hands over a fresh buffer each time (it allocates the next one): no copy needed.
      const out = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (!this.headerDone) {
        out[OS_BYTE] = OS_UNKNOWN;
        this.headerDone = true;
      }
      this.push(out);
    };
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    done(this.step(chunk, false));
  }

  override _flush(done: TransformCallback): void {
    done(this.step(new Uint8Array(0), true));
  }

  private step(data: Uint8Array, last: boolean): Error | null {
    if (!this.deflate.push(data, last)) {
      return new OciError(`internal error: gzip failed: ${this.deflate.msg || String(this.deflate.err)}`);
    }
    return null;
  }
}
