/**
 * Copies what refers to the manifests of a copied image: OCI 1.1 referrers (through the API or the
 * referrers tag) and cosign's legacy `sha256-<hex>.sig`/`.att`/`.sbom` tags, byte for byte, so every
 * signature and attestation still verifies against the same digests at the destination. Referrers of
 * referrers (a signature on an attestation) are followed too.
 */
import type { Digest } from "../name/digest.js";
import { attachReferrer, getIfPresent, listReferrers, referrersTag } from "../remote/referrers.js";
import type { RemoteRepository } from "../remote/registry.js";
import type { Manifest } from "../spec/manifest.js";
import { VerificationError } from "../util/errors.js";
import { RegistrySource } from "./source.js";
import { transferTree, type TransferOptions } from "./transfer.js";
import { loadTree } from "./tree.js";

/** cosign's tag suffixes (sigstore/cosign pkg/oci/remote/options.go). */
export const COSIGN_TAG_SUFFIXES = [".sig", ".att", ".sbom"] as const;

export interface CopiedReferrers {
  /** Referrer manifests copied, by digest. */
  referrers: Digest[];
  /** cosign tags copied. */
  cosignTags: string[];
  /** Referrers the source lists but does not have (a stale referrers tag entry): not copied. */
  missing: Digest[];
}

export async function copyReferrers(from: RemoteRepository, to: RemoteRepository, subjects: Digest[], opts: TransferOptions): Promise<CopiedReferrers> {
  const source = new RegistrySource(from);
  const out: CopiedReferrers = { referrers: [], cosignTags: [], missing: [] };
  const seen = new Set<string>(subjects);
  const queue = [...subjects];
  for (let subject = queue.shift(); subject !== undefined; subject = queue.shift()) {
    for (const desc of (await listReferrers(from, subject)).descriptors) {
      if (seen.has(desc.digest)) continue;
      seen.add(desc.digest);
      const m = await getIfPresent(from, desc.digest);
      if (m === undefined) {
        // A referrers tag is kept by clients, and a deleted referrer can stay listed in it.
        out.missing.push(desc.digest);
        continue;
      }
      if (m.bytes.length !== desc.size) throw new VerificationError(`referrer ${from.fullName}@${desc.digest} has ${m.bytes.length} bytes, its descriptor says ${desc.size}`);
      await copyReferrer(from, to, m, opts, source);
      out.referrers.push(m.digest);
      queue.push(m.digest);
    }
    for (const suffix of COSIGN_TAG_SUFFIXES) {
      const tag = `${referrersTag(subject)}${suffix}`;
      const m = await getIfPresent(from, tag);
      if (m === undefined) continue;
      await copyTagged(from, to, m, tag, opts, source);
      out.cosignTags.push(tag);
    }
  }
  return out;
}

/**
 * One referrer manifest: its blobs and child manifests first; the referrer itself is pushed by
 * attachReferrer, which also keeps the destination's referrers tag when the registry has no referrers API.
 */
export async function copyReferrer(from: RemoteRepository, to: RemoteRepository, m: Manifest, opts: TransferOptions, source = new RegistrySource(from)): Promise<void> {
  await transferTree(await loadTree(m, (d) => from.getManifest(d.digest)), source, to, [], { ...opts, pushRoot: false });
  await attachReferrer(to, m);
}

/** One manifest under a tag (a cosign `.sig`/`.att`/`.sbom` tag), with everything under it. */
export async function copyTagged(from: RemoteRepository, to: RemoteRepository, m: Manifest, tag: string, opts: TransferOptions, source = new RegistrySource(from)): Promise<void> {
  await transferTree(await loadTree(m, (d) => from.getManifest(d.digest)), source, to, [tag], opts);
}
