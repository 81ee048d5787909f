/**
 * Digests as the image spec defines them: `algorithm ":" encoded`. We accept the two registered
 * algorithms (sha256, sha512) with lowercase hex of exactly the right length, so a digest can be
 * used as a path component (`blobs/<alg>/<hex>`) without any risk of `../` or separators.
 */
import { createHash, type Hash } from "node:crypto";
import { OciError } from "../util/errors.js";

export type DigestAlgorithm = "sha256" | "sha512";

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export type Digest = `${DigestAlgorithm}:${string}`;

export class DigestError extends OciError {
  override readonly name = "DigestError";
}

/** Returns `value` as a Digest, or throws a DigestError naming what is wrong with it. */
export function parseDigest(value: string): Digest {
  const colon = value.indexOf(":");
  if (colon < 0) throw new DigestError(`invalid digest "${clip(value)}": expected "sha256:<hex>"`);
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new DigestError(`invalid digest "${clip(value)}": unsupported algorithm "${clip(algorithm)}" (sha256 or sha512)`);
  }
  const want = HEX_LENGTH[algorithm];
  if (encoded.length !== want || !/^[0-9a-f]+$/.test(encoded)) {
    throw new DigestError(`invalid digest "${clip(value)}": ${algorithm} needs ${want} lowercase hex characters`);
  }
  return value as Digest;
}

export function isDigest(value: string): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(":")) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(":") + 1);
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

/** The digest of bytes held in memory (manifests, configs: small by nature). */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = "sha256"): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}` as Digest;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
