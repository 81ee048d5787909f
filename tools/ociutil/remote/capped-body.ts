/**
 * Reading a response body into memory, up to a cap. Every body a registry or token server sends that
 * is kept whole (manifests, listings, error documents, tokens) goes through here, so that an endless
 * or oversized answer ends in one line instead of growing the process without bound.
 */
import { RegistryError } from "./registry-error.js";

/** The most of an error document kept (the first error's code and message are all that is read). */
export const MAX_ERROR_BODY = 64 << 10;
/** A token server's answer: a JWT or an opaque token, sometimes with a refresh token. */
export const MAX_TOKEN_BODY = 1 << 20;

/**
 * The bytes of `body`, or a RegistryError naming `what` as soon as more than `max` have arrived.
 * Leaving the loop early destroys the body, which closes its connection.
 */
export async function readCapped(body: AsyncIterable<Uint8Array>, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > max) throw new RegistryError(`${what} is larger than ${max} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
