/**
 * Checks bytes against a descriptor while they stream past: counts and hashes each chunk, fails as
 * soon as there are more bytes than the size promised, and at the end when the size or digest differ.
 */
import { Transform, type TransformCallback } from "node:stream";
import { digestAlgorithm, newHash, type Digest } from "../name/digest.js";
import { VerificationError } from "./errors.js";

export class VerifyingStream extends Transform {
  private readonly hash;
  private received = 0;

  constructor(
    private readonly expected: { digest: Digest; size: number },
    private readonly what: string,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.hash = newHash(digestAlgorithm(expected.digest));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.expected.size) {
      done(new VerificationError(`${this.what}: more than the ${this.expected.size} bytes its descriptor says`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.received !== this.expected.size) {
      done(new VerificationError(`${this.what}: got ${this.received} bytes, its descriptor says ${this.expected.size}`));
      return;
    }
    const got = `${digestAlgorithm(this.expected.digest)}:${this.hash.digest("hex")}`;
    if (got !== this.expected.digest) {
      done(new VerificationError(`${this.what}: content has digest ${got}, expected ${this.expected.digest}`));
      return;
    }
    done();
  }
}
