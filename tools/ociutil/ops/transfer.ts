/**
 * Sends an image graph to a registry repository: blobs first (skipping what the destination has,
 * mounting what the same registry holds elsewhere, streaming the rest from the source), then
 * manifests children-first, so the registry never sees a manifest whose content is missing.
 * Bytes are never re-serialized: the destination gets the digests the source has.
 */
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import type { Digest } from "../name/digest.js";
import type { RemoteRepository } from "../remote/registry.js";
import type { RetryPolicy } from "../remote/transport.js";
import type { Descriptor } from "../spec/schemas.js";
import { VerifyingStream } from "../util/verify-stream.js";
import { forEachLimit } from "../util/pool.js";
import { countedBody, countedStream } from "../progress/counting.js";
import { planBlobs, trackBlob, type BlobProgress } from "../progress/events.js";
import type { ImageSource } from "./source.js";
import { withRetries } from "./retry.js";
import type { ImageTree } from "./tree.js";

export interface TransferOptions {
  jobs: number;
  retry: RetryPolicy;
  /** Upload in PATCH chunks of this many bytes instead of one PUT. */
  chunkSize?: number;
  /** False: send everything but the root manifest (a caller that pushes it itself, as a referrer). */
  pushRoot?: boolean;
}

export interface TransferStats {
  existing: number;
  mounted: number;
  uploaded: number;
  uploadedBytes: number;
}

export async function transferTree(tree: ImageTree, source: ImageSource, dest: RemoteRepository, tags: string[], opts: TransferOptions): Promise<TransferStats> {
  const stats: TransferStats = { existing: 0, mounted: 0, uploaded: 0, uploadedBytes: 0 };
  const sameRegistry = source.remote !== undefined && source.remote.registry.host === dest.registry.host;
  const mountFrom = sameRegistry && source.remote !== undefined && source.remote.name !== dest.name ? source.remote.name : undefined;
  // Same registry and repository: every blob is already there (re-tagging, or a layout pulled from here).

  planBlobs(tree.blobs.length, tree.blobs.reduce((sum, b) => sum + b.descriptor.size, 0));
  await forEachLimit(tree.blobs, opts.jobs, async ({ descriptor }) => {
    const progress = trackBlob(descriptor.digest, descriptor.size);
    if ((await dest.blobSize(descriptor.digest)) !== undefined) {
      stats.existing++;
      progress.done("present");
      return;
    }
    let uploadUrl: URL | undefined;
    if (mountFrom !== undefined) {
      const mount = await dest.mountBlob(descriptor.digest, mountFrom);
      if (mount.mounted) {
        stats.mounted++;
        progress.done("mounted");
        return;
      }
      uploadUrl = mount.uploadUrl; // the registry declined (202): upload into the session it opened
    }
    await withRetries(opts.retry, async () => {
      const url = uploadUrl ?? (await dest.startUpload());
      uploadUrl = undefined; // a failed session is not reused
      progress.restart();
      await upload(dest, url, descriptor, source, opts, progress);
    });
    progress.done("uploaded");
    stats.uploaded++;
    stats.uploadedBytes += descriptor.size;
  });

  const root = tree.root;
  for (const m of tree.manifests) {
    if (m === root) continue;
    await dest.putManifest(m.digest, m);
  }
  if (opts.pushRoot === false) return stats;
  const targets = tags.length > 0 ? tags : [root.digest];
  for (const tag of targets) await dest.putManifest(tag, root);
  return stats;
}

async function upload(dest: RemoteRepository, url: URL, desc: Descriptor, source: ImageSource, opts: TransferOptions, progress: BlobProgress): Promise<void> {
  // Every attempt reads the source again from the start. Bytes streamed from another registry are
  // verified as they pass, so a corrupt source fails with a message naming it; local files are not
  // hashed again here (the registry checks the digest before it accepts a blob, and hashing twice on
  // the same two cores made pushes twice as slow).
  const local = await source.hasLocal(desc);
  const openChunks = source.openChunks?.bind(source);
  const openBody = async (): Promise<Readable | AsyncIterable<Uint8Array>> => {
    if (local && openChunks !== undefined) return countedBody(openChunks(desc), progress);
    const body = await source.open(desc);
    return countedBody(local ? body : verified(body, desc, source.description), progress);
  };
  const openRange = source.openRange?.bind(source);
  if (opts.chunkSize !== undefined && desc.size > opts.chunkSize && openRange !== undefined && local) {
    // Chunks are re-read by offset when a PATCH must be resent; the registry checks the digest at the end.
    await dest.uploadChunked(url, desc, opts.chunkSize, async (start, end) => countedStream(await openRange(desc, start, end), progress));
    return;
  }
  await dest.uploadMonolithic(url, desc, openBody);
}

function verified(stream: Readable, desc: { digest: Digest; size: number }, from: string): Readable {
  const check = new VerifyingStream(desc, `blob ${desc.digest} from ${from}`);
  pipeline(stream, check).catch(() => undefined); // errors surface on `check`, which the upload reads
  return check;
}
