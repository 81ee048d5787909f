/**
 * copy: registry to registry, every platform, digest preserved, mounting within one registry; then
 * what refers to each copied manifest (OCI referrers, cosign tags), so signatures still verify.
 */
import { identifier, repositoryName, type Reference } from "../name/reference.js";
import type { RegistryClient } from "../remote/client.js";
import { VerificationError } from "../util/errors.js";
import { RegistrySource } from "./source.js";
import { transferTree, type TransferStats } from "./transfer.js";
import { loadTree, parentFirst } from "./tree.js";
import { copyReferrers, type CopiedReferrers } from "./referrers.js";
import type { Pushed } from "../provenance/pushed.js";

export interface CopyOptions {
  tags: string[];
  jobs: number;
  /** Called with what will be pushed, before anything is: a chance to refuse (records that won't fit). */
  beforeTransfer?: (pushed: Pushed) => Promise<void> | void;
  /** Also copy the referrers and cosign tags of every manifest copied (default true). */
  referrers?: boolean;
}

export interface CopyResult {
  source: string;
  reference: string;
  digest: string;
  mediaType: string;
  tags: string[];
  blobs: TransferStats;
  pushed: Pushed;
  referrers: CopiedReferrers;
}

export async function copy(client: RegistryClient, src: Reference, dst: Reference, opts: CopyOptions): Promise<CopyResult> {
  const from = client.repository(src);
  const root = await from.getManifest(identifier(src));
  if (dst.digest !== undefined && dst.digest !== root.digest) {
    throw new VerificationError(`${repositoryName(src)} resolves to ${root.digest}, but the destination names ${dst.digest}`);
  }
  const tree = await loadTree(root, (desc) => from.getManifest(desc.digest));
  const tags = [...new Set([...(dst.tag !== undefined ? [dst.tag] : []), ...opts.tags])];
  const pushed: Pushed = { repository: repositoryName(dst), digest: root.digest, mediaType: root.mediaType, size: root.bytes.length, tags, manifests: parentFirst(tree) };
  await opts.beforeTransfer?.(pushed);
  const to = client.repository(dst, "push");
  const stats = await transferTree(tree, new RegistrySource(from), to, tags, { jobs: opts.jobs, retry: client.retry });
  const referrers =
    opts.referrers === false ? { referrers: [], cosignTags: [], missing: [] } : await copyReferrers(from, to, pushed.manifests, { jobs: opts.jobs, retry: client.retry });
  return {
    source: `${repositoryName(src)}@${root.digest}`,
    reference: `${repositoryName(dst)}@${root.digest}`,
    digest: root.digest,
    mediaType: root.mediaType,
    tags,
    blobs: stats,
    pushed,
    referrers,
  };
}
