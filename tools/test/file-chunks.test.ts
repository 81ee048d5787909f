import { randomBytes, createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileChunks } from "../ociutil/util/file-chunks.js";
import { makeTempDir, removeTempDir } from "./harness/index.js";

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir("file-chunks");
});
afterAll(async () => removeTempDir(tmp));

/** Consumes the chunks the way an upload must: each one before the next is read (buffers are reused). */
async function hashOf(chunks: AsyncIterable<Uint8Array>): Promise<{ digest: string; sizes: number[] }> {
  const hash = createHash("sha256");
  const sizes: number[] = [];
  for await (const c of chunks) {
    hash.update(c);
    sizes.push(c.length);
  }
  return { digest: hash.digest("hex"), sizes };
}

describe("fileChunks", () => {
  it.each([0, 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 12345])("yields every byte of a %i-byte file, full chunks but the last", async (size) => {
    const bytes = randomBytes(size);
    const file = join(tmp, `f${size}`);
    await writeFile(file, bytes);
    const { digest, sizes } = await hashOf(fileChunks(file));
    expect(digest).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(sizes.slice(0, -1).every((n) => n === 1 << 20)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(size);
  });

  it("reads a range, and fails if the file is shorter than asked", async () => {
    const bytes = randomBytes(3 << 20);
    const file = join(tmp, "range");
    await writeFile(file, bytes);
    const { digest } = await hashOf(fileChunks(file, 100, (2 << 20) + 7));
    expect(digest).toBe(createHash("sha256").update(bytes.subarray(100, (2 << 20) + 7)).digest("hex"));
    await expect(hashOf(fileChunks(file, 0, (3 << 20) + 1))).rejects.toThrow(/file ended at 3145728 bytes, expected 3145729/);
  });
});
