/**
 * A file's bytes as an upload body, read into two 1 MiB buffers used in turn. fs.createReadStream
 * allocates a new buffer for every read, and on a 512 MiB push that churn (and the garbage collection
 * it forces) cost more CPU than the registry could spare on 2 cores.
 *
 * Reuse is safe because of how undici writes an async-iterable body: it asks for the next chunk only
 * after socket.write() of this one returned true (less than 16 KiB left in Node's buffer, all of it
 * this chunk's tail) or after 'drain'. Either way the buffer used two chunks ago has reached the
 * kernel before it is filled again. Middle chunks are always full, so no chunk is small enough to sit
 * whole in Node's buffer. The registry checks the digest of what arrives in any case.
 */
import { open } from "node:fs/promises";

const CHUNK = 1 << 20;

export async function* fileChunks(path: string, start = 0, end?: number): AsyncGenerator<Buffer> {
  const file = await open(path, "r");
  try {
    const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let position = start;
    const stop = end ?? (await file.stat()).size;
    for (let turn = 0; position < stop; turn ^= 1) {
      const buffer = buffers[turn] as Buffer;
      const want = Math.min(CHUNK, stop - position);
      let filled = 0;
      while (filled < want) {
        const { bytesRead } = await file.read(buffer, filled, want - filled, position + filled);
        if (bytesRead === 0) throw new Error(`${path}: file ended at ${position + filled} bytes, expected ${stop}`);
        filled += bytesRead;
      }
      position += filled;
      yield buffer.subarray(0, filled);
    }
  } finally {
    await file.close();
  }
}
