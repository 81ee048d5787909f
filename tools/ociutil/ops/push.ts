/** push: an image or index from an OCI layout to a registry, digest preserved. */
import { repositoryName, type Reference } from "../name/reference.js";
import { ImageLayout, LayoutError, REF_NAME_ANNOTATION } from "../layout/layout.js";
import type { RegistryClient } from "../remote/client.js";
import type { Descriptor } from "../spec/schemas.js";
import type { Manifest } from "../spec/manifest.js";
import { OciError, VerificationError } from "../util/errors.js";
import { LayoutSource } from "./source.js";
import { transferTree, type TransferStats } from "./transfer.js";
import { loadTree, parentFirst } from "./tree.js";
import type { Pushed } from "../provenance/pushed.js";

export interface PushOptions {
  tags: string[];
  /** Which index.json entry to push, by its ref name, when there are several. */
  refName?: string;
  jobs: number;
  chunkSize?: number;
  /** Called with what will be pushed, before anything is: a chance to refuse (records that won't fit). */
  beforeTransfer?: (pushed: Pushed) => Promise<void> | void;
}

export interface PushResult {
  reference: string;
  digest: string;
  mediaType: string;
  tags: string[];
  blobs: TransferStats;
  pushed: Pushed;
  /** What the image was built from: the layout, and the base its annotations name (ko's convention). */
  builtFrom: { layout: string; base?: { name?: string; digest?: string } };
}

const BASE_NAME = "org.opencontainers.image.base.name";
const BASE_DIGEST = "org.opencontainers.image.base.digest";

/** The index.json entry to push: the one named, or the only one. */
export function selectEntry(manifests: Descriptor[], dir: string, refName: string | undefined): Descriptor {
  if (refName !== undefined) {
    const named = manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === refName);
    if (named.length === 1) return named[0] as Descriptor;
    if (named.length === 0) throw new LayoutError(`${dir}/index.json has no manifest named "${refName}" (${REF_NAME_ANNOTATION})`);
    throw new LayoutError(`${dir}/index.json has ${named.length} manifests named "${refName}"`);
  }
  if (manifests.length === 1) return manifests[0] as Descriptor;
  if (manifests.length === 0) throw new LayoutError(`${dir}/index.json lists no manifests`);
  const names = manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION] ?? m.digest).join(", ");
  throw new OciError(`${dir}/index.json lists ${manifests.length} manifests (${names}): choose one with --ref-name`);
}

export async function push(client: RegistryClient, dir: string, ref: Reference, opts: PushOptions): Promise<PushResult> {
  const layout = await ImageLayout.open(dir);
  const index = await layout.readIndex();
  const entry = selectEntry(index.manifests, dir, opts.refName);
  const source = LayoutSource.forEntry(layout, entry, client);
  const root = await source.manifest(entry);
  if (ref.digest !== undefined && ref.digest !== root.digest) {
    throw new VerificationError(`${dir} holds ${root.digest}, but the destination names ${ref.digest}`);
  }
  const tree = await loadTree(root, (desc) => source.manifest(desc));
  if (source.remote === undefined) {
    // Nowhere to fetch a missing blob from: say so before touching the registry.
    for (const { descriptor } of tree.blobs) {
      if (!(await source.hasLocal(descriptor))) await source.open(descriptor); // throws the LayoutError naming it
    }
  }
  const tags = [...new Set([...(ref.tag !== undefined ? [ref.tag] : []), ...opts.tags])];
  const pushed: Pushed = { repository: repositoryName(ref), digest: root.digest, mediaType: root.mediaType, size: root.bytes.length, tags, manifests: parentFirst(tree) };
  await opts.beforeTransfer?.(pushed);
  const stats = await transferTree(tree, source, client.repository(ref, "push"), tags, {
    jobs: opts.jobs,
    retry: client.retry,
    ...(opts.chunkSize !== undefined ? { chunkSize: opts.chunkSize } : {}),
  });
  return { reference: `${repositoryName(ref)}@${root.digest}`, digest: root.digest, mediaType: root.mediaType, tags, blobs: stats, pushed, builtFrom: builtFrom(dir, root) };
}

function builtFrom(dir: string, root: Manifest): PushResult["builtFrom"] {
  const annotations = (root.kind === "index" ? root.index.annotations : root.manifest.annotations) ?? {};
  const name = annotations[BASE_NAME];
  const digest = annotations[BASE_DIGEST];
  if (name === undefined && digest === undefined) return { layout: dir };
  return { layout: dir, base: { ...(name !== undefined ? { name } : {}), ...(digest !== undefined ? { digest } : {}) } };
}
