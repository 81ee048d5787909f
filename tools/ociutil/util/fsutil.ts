/** Filesystem helpers for writing files that are either complete or absent. */
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { tempNameFor } from "./temp-files.js";

/**
 * A unique temporary path in the same directory as `target`, so that rename() is atomic; its name
 * says which process writes it, so that a run after a crash can tell it is abandoned (temp-files.ts).
 */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), tempNameFor(path.basename(target)));
}

/** Writes `data` (or its pieces) to `target` through a temp file and rename: readers see the old or new file, never half. */
export async function writeFileAtomic(target: string, data: string | Uint8Array | Iterable<string>): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    const handle = await open(tmp, "wx", 0o644);
    try {
      if (typeof data === "string" || data instanceof Uint8Array) await handle.writeFile(data);
      else {
        // Pieces (a large report): written in batches, never joined into one string.
        let batch = "";
        for (const piece of data) {
          batch += piece;
          if (batch.length >= 1 << 16) {
            await handle.write(batch);
            batch = "";
          }
        }
        if (batch.length > 0) await handle.write(batch);
      }
    } finally {
      await handle.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
