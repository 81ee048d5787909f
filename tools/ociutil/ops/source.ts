/**
 * Where an image's content is read from when it is pushed or copied: an OCI layout (whose missing
 * blobs live in a recorded source repository), or a registry repository.
 */
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { parseReference } from "../name/reference.js";
import { ImageLayout, LayoutError, SOURCE_ANNOTATION } from "../layout/layout.js";
import type { RegistryClient } from "../remote/client.js";
import type { RemoteRepository } from "../remote/registry.js";
import { parseManifest, type Manifest } from "../spec/manifest.js";
import { fileChunks } from "../util/file-chunks.js";
import type { Descriptor } from "../spec/schemas.js";

export interface ImageSource {
  /** For messages: "layout DIR" or "registry/repo". */
  readonly description: string;
  manifest(desc: Pick<Descriptor, "digest" | "size" | "mediaType">): Promise<Manifest>;
  /** True if the blob can be read without the network. */
  hasLocal(desc: Descriptor): Promise<boolean>;
  /** The bytes of a blob: a local file, else a GET from the remote repository. */
  open(desc: Descriptor): Promise<Readable>;
  /** A local blob's bytes as an upload body (see util/file-chunks.ts). */
  openChunks?(desc: Descriptor): AsyncIterable<Uint8Array>;
  /** Bytes [start, end) of a local blob, for chunked uploads that may resend a chunk. */
  openRange?(desc: Descriptor, start: number, end: number): Readable;
  /** The repository blobs can be mounted from, when the destination is on the same registry. */
  readonly remote: RemoteRepository | undefined;
}

export class RegistrySource implements ImageSource {
  constructor(readonly remote: RemoteRepository) {}
  get description(): string {
    return this.remote.fullName;
  }
  async manifest(desc: Pick<Descriptor, "digest">): Promise<Manifest> {
    return await this.remote.getManifest(desc.digest);
  }
  async hasLocal(): Promise<boolean> {
    return false;
  }
  async open(desc: Descriptor): Promise<Readable> {
    return await this.remote.openBlob(desc.digest);
  }
}

export class LayoutSource implements ImageSource {
  constructor(
    readonly layout: ImageLayout,
    readonly remote: RemoteRepository | undefined,
  ) {}

  /** A layout source for the index.json entry `entry`, with its recorded source repository, if any. */
  static forEntry(layout: ImageLayout, entry: Descriptor, client: RegistryClient): LayoutSource {
    const recorded = entry.annotations?.[SOURCE_ANNOTATION];
    let remote: RemoteRepository | undefined;
    if (recorded !== undefined) {
      let ref;
      try {
        ref = parseReference(recorded);
      } catch {
        throw new LayoutError(`${layout.dir}/index.json: annotation ${SOURCE_ANNOTATION} is not a repository name: "${recorded}"`);
      }
      remote = client.repository(ref);
    }
    return new LayoutSource(layout, remote);
  }

  get description(): string {
    return `layout ${this.layout.dir}`;
  }
  async manifest(desc: Pick<Descriptor, "digest" | "size" | "mediaType">): Promise<Manifest> {
    const bytes = await this.layout.readBlob(desc);
    return parseManifest(bytes, desc.mediaType, `${desc.digest} in ${this.layout.dir}`);
  }
  async hasLocal(desc: Descriptor): Promise<boolean> {
    return await this.layout.hasBlob(desc);
  }
  openChunks(desc: Descriptor): AsyncIterable<Uint8Array> {
    return fileChunks(this.layout.blobPath(desc.digest), 0, desc.size);
  }
  openRange(desc: Descriptor, start: number, end: number): Readable {
    return createReadStream(this.layout.blobPath(desc.digest), { start, end: end - 1, highWaterMark: 1 << 20 });
  }
  async open(desc: Descriptor): Promise<Readable> {
    if (await this.layout.hasBlob(desc)) return this.layout.openBlob(desc.digest);
    if (this.remote === undefined) {
      throw new LayoutError(
        `${this.layout.dir}: blob ${desc.digest} is missing and index.json records no source repository (${SOURCE_ANNOTATION}) to fetch it from`,
      );
    }
    return await this.remote.openBlob(desc.digest);
  }
}
