/**
 * OCI Image Layout directories (image-spec image-layout.md):
 *
 *   DIR/oci-layout          {"imageLayoutVersion": "1.0.0"}
 *   DIR/index.json          an image index naming the layout's manifests
 *   DIR/blobs/<alg>/<hex>   content-addressed blobs
 *
 * Every blob is written to a temp file in its final directory, verified against its descriptor while
 * it streams (blob-writer.ts), then renamed into place; index.json is replaced atomically. A reader
 * never sees a blob whose bytes don't match its name, or half an index. A writer killed mid-blob
 * leaves its temp file: the next writer removes it once it is provably abandoned (temp-files.ts).
 */
import { createReadStream } from "node:fs";
import { mkdir, opendir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { digestAlgorithm, digestHex, digestOf, parseDigest, type Digest } from "../name/digest.js";
import { MediaType } from "../spec/mediatypes.js";
import {
  ImageIndexSchema,
  OciLayoutFileSchema,
  describeIssues,
  type Descriptor,
  type ImageIndex,
} from "../spec/schemas.js";
import type { BodySink } from "../util/body-sink.js";
import { OciError, VerificationError } from "../util/errors.js";
import { startBlobWorkers } from "./blob-workers.js";
import { BlobWriter } from "./blob-writer.js";
import { sharedStaging } from "./staging-buffers.js";
import { tempPathFor, writeFileAtomic } from "../util/fsutil.js";
import { removeAbandonedTemps } from "../util/temp-files.js";

/** Annotation on an index.json descriptor: the tag or name the manifest is known by. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
/**
 * Annotation on an index.json descriptor of a shallow pull: the repository ("registry/repo") that holds
 * the blobs this layout leaves out, so a push can mount or copy them from there.
 */
export const SOURCE_ANNOTATION = "dev.rules-ociutil.source.repository";

export class LayoutError extends OciError {
  override readonly name = "LayoutError";
}

const STREAM_CHUNK = 1 << 20;

export class ImageLayout {
  private constructor(readonly dir: string) {}

  /**
   * Opens DIR to write into it, creating an empty layout (oci-layout, index.json, blobs/) if it has
   * none, and removing the temp files that interrupted writers left in it.
   */
  static async init(dir: string): Promise<ImageLayout> {
    await mkdir(path.join(dir, "blobs"), { recursive: true });
    const layout = new ImageLayout(dir);
    for (const d of await layout.tempFileDirs()) await removeAbandonedTemps(d);
    const marker = path.join(dir, "oci-layout");
    try {
      await stat(marker);
    } catch {
      await writeFileAtomic(marker, `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
    }
    try {
      await stat(path.join(dir, "index.json"));
    } catch {
      await layout.writeIndex({ schemaVersion: 2, mediaType: MediaType.OciImageIndex, manifests: [] });
    }
    return await ImageLayout.open(dir);
  }

  /** Opens an existing layout; fails with one line if DIR is not one. */
  static async open(dir: string): Promise<ImageLayout> {
    let marker: Buffer;
    try {
      marker = await readFile(path.join(dir, "oci-layout"));
    } catch {
      throw new LayoutError(`${dir} is not an OCI image layout: it has no oci-layout file`);
    }
    let json: unknown;
    try {
      json = JSON.parse(marker.toString("utf8"));
    } catch {
      throw new LayoutError(`${dir}/oci-layout is not JSON`);
    }
    const parsed = OciLayoutFileSchema.safeParse(json);
    if (!parsed.success) throw new LayoutError(`${dir}/oci-layout: ${describeIssues(parsed.error)} (expected imageLayoutVersion "1.0.0")`);
    return new ImageLayout(dir);
  }

  /** Where writers put temp files: the layout's root (index.json) and each blobs/<algorithm>/. */
  async tempFileDirs(): Promise<string[]> {
    const dirs = [this.dir];
    try {
      for await (const entry of await opendir(path.join(this.dir, "blobs"))) {
        if (entry.isDirectory()) dirs.push(path.join(this.dir, "blobs", entry.name));
      }
    } catch {
      /* no blobs/ yet */
    }
    return dirs;
  }

  blobPath(digest: Digest): string {
    const checked = parseDigest(digest); // never build a path from an unchecked string
    return path.join(this.dir, "blobs", digestAlgorithm(checked), digestHex(checked));
  }

  /** The size of the stored blob, or undefined if there is none. */
  async blobSize(digest: Digest): Promise<number | undefined> {
    try {
      const s = await stat(this.blobPath(digest));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }

  /** True if the blob is stored with the descriptor's size (content is checked by `verify`). */
  async hasBlob(desc: Pick<Descriptor, "digest" | "size">): Promise<boolean> {
    return (await this.blobSize(desc.digest)) === desc.size;
  }

  /** About to receive `parallel` blobs at once: start what writes them now, while the caller talks to the registry. */
  static prepareToReceive(parallel: number): void {
    startBlobWorkers(parallel);
  }

  /**
   * Receives the blob named by `desc`: `deliver` hands a sink to whatever produces the bytes (a
   * registry download) and resolves once the sink is in use; the bytes then arrive through it. They
   * are verified on the way, and the blob appears only if they match; on any failure nothing is left.
   */
  async receiveBlob(desc: Pick<Descriptor, "digest" | "size">, what: string, deliver: (sink: BodySink) => Promise<void>): Promise<void> {
    const target = this.blobPath(desc.digest);
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = tempPathFor(target);
    const writer = await BlobWriter.create(tmp, desc, what, sharedStaging);
    try {
      try {
        await deliver(writer);
      } catch (err) {
        writer.fail(err instanceof Error ? err : new Error(String(err)));
      }
      await writer.done;
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Stores small in-memory content (manifests, configs) under its own digest. */
  async writeBlobBytes(bytes: Uint8Array, expected?: Digest): Promise<Digest> {
    const digest = digestOf(bytes, expected !== undefined ? digestAlgorithm(expected) : "sha256");
    if (expected !== undefined && digest !== expected) {
      throw new VerificationError(`content has digest ${digest}, expected ${expected}`);
    }
    const target = this.blobPath(digest);
    if ((await this.blobSize(digest)) === bytes.length) return digest;
    await mkdir(path.dirname(target), { recursive: true });
    await writeFileAtomic(target, bytes);
    return digest;
  }

  /** Reads a small blob fully and checks it against its descriptor. */
  async readBlob(desc: Pick<Descriptor, "digest" | "size">): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(desc.digest));
    } catch {
      throw new LayoutError(`${this.dir}: blob ${desc.digest} is missing`);
    }
    if (bytes.length !== desc.size) {
      throw new VerificationError(`${this.dir}: blob ${desc.digest} has ${bytes.length} bytes, its descriptor says ${desc.size}`);
    }
    const got = digestOf(bytes, digestAlgorithm(desc.digest));
    if (got !== desc.digest) throw new VerificationError(`${this.dir}: blob ${desc.digest} has content with digest ${got}`);
    return bytes;
  }

  /** A stream of a stored blob's bytes (callers verify if they need to). */
  openBlob(digest: Digest): Readable {
    return createReadStream(this.blobPath(digest), { highWaterMark: STREAM_CHUNK });
  }

  async readIndex(): Promise<ImageIndex> {
    const file = path.join(this.dir, "index.json");
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      throw new LayoutError(`${this.dir} is not an OCI image layout: it has no index.json`);
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch (err) {
      throw new LayoutError(`${file} is not JSON: ${(err as Error).message}`);
    }
    const parsed = ImageIndexSchema.safeParse(json);
    if (!parsed.success) throw new LayoutError(`${file}: ${describeIssues(parsed.error)}`);
    return parsed.data;
  }

  async writeIndex(index: ImageIndex): Promise<void> {
    await writeFileAtomic(path.join(this.dir, "index.json"), `${JSON.stringify(index, null, 2)}\n`);
  }

  /**
   * Adds `desc` to index.json. An entry with the same ref name is replaced (a tag names one manifest);
   * an identical descriptor without a ref name is not added twice.
   */
  async addManifest(desc: Descriptor, refName?: string): Promise<void> {
    const index = await this.readIndex();
    const annotations = { ...(desc.annotations ?? {}) };
    if (refName !== undefined) annotations[REF_NAME_ANNOTATION] = refName;
    const entry: Descriptor = { ...desc, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) };
    const kept = index.manifests.filter((m) => {
      const name = m.annotations?.[REF_NAME_ANNOTATION];
      if (refName !== undefined) return name !== refName;
      return !(name === undefined && m.digest === desc.digest);
    });
    await this.writeIndex({ ...index, manifests: [...kept, entry] });
  }
}
