/**
 * OCI 1.1 referrers: the manifests whose `subject` names another manifest (signatures, attestations,
 * SBOMs). A registry with the referrers API lists them itself; one without it (distribution 2.8)
 * relies on the client to keep the "referrers tag schema": an image index tagged `<alg>-<hex>` of the
 * subject's digest that lists every referrer. Readers (oras discover, cosign) try the API, then the tag.
 */
import { digestOf, type Digest } from "../name/digest.js";
import type { Manifest } from "../spec/manifest.js";
import { MediaType } from "../spec/mediatypes.js";
import type { Descriptor } from "../spec/schemas.js";
import { OciError } from "../util/errors.js";
import { RegistryError, type RemoteRepository } from "./registry.js";

export interface Referrers {
  descriptors: Descriptor[];
  /** Where the list came from: the registry's API, or the referrers tag. */
  via: "api" | "tag";
}

/** The referrers tag of a digest: `sha256:<hex>` → `sha256-<hex>` (algorithm ≤ 32, hex ≤ 64 characters). */
export function referrersTag(digest: Digest): string {
  const [alg, hex] = digest.split(":") as [string, string];
  return `${alg.slice(0, 32)}-${hex.slice(0, 64)}`;
}

/** The subject a manifest refers to, if any. */
export function subjectOf(m: Manifest): Descriptor | undefined {
  return m.kind === "image" ? m.manifest.subject : m.index.subject;
}

/**
 * How a referrer is listed: its own descriptor plus `artifactType` (falling back to the config's
 * media type, as the spec says) and the manifest's annotations, which readers filter on (cosign
 * reads `dev.sigstore.bundle.predicateType` from them).
 */
export function referrerDescriptor(m: Manifest): Descriptor {
  const doc = m.kind === "image" ? m.manifest : m.index;
  const artifactType = doc.artifactType ?? (m.kind === "image" ? m.manifest.config.mediaType : undefined);
  return {
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.bytes.length,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(doc.annotations !== undefined ? { annotations: doc.annotations } : {}),
  };
}

export async function listReferrers(repo: RemoteRepository, subject: Digest): Promise<Referrers> {
  const api = await repo.referrers(subject);
  if (api !== undefined) return { descriptors: api, via: "api" };
  const index = await referrersIndex(repo, subject);
  return { descriptors: index?.index.manifests ?? [], via: "tag" };
}

/**
 * Pushes a manifest that has a `subject`, then, unless the registry answered with `OCI-Subject`
 * (it indexed the subject itself), adds it to the subject's referrers tag, keeping every entry there.
 */
export async function attachReferrer(repo: RemoteRepository, m: Manifest): Promise<Referrers["via"]> {
  const subject = subjectOf(m);
  if (subject === undefined) throw new OciError(`manifest ${m.digest} has no subject: it cannot be attached as a referrer`);
  const { ociSubject } = await repo.putManifest(m.digest, m);
  if (ociSubject !== undefined) return "api";
  await addToReferrersTag(repo, subject.digest, referrerDescriptor(m));
  return "tag";
}

/**
 * Read, append, write back. Distribution 2.8 offers no conditional PUT, so two clients attaching to
 * the same subject at the same moment can lose one entry; re-attaching repairs it (entries are unique).
 */
export async function addToReferrersTag(repo: RemoteRepository, subject: Digest, entry: Descriptor): Promise<void> {
  const existing = await referrersIndex(repo, subject);
  const manifests = existing?.index.manifests ?? [];
  if (manifests.some((d) => d.digest === entry.digest)) return;
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciImageIndex, manifests: [...manifests, entry] }));
  await repo.putManifest(referrersTag(subject), { bytes, mediaType: MediaType.OciImageIndex, digest: digestOf(bytes) });
}

async function referrersIndex(repo: RemoteRepository, subject: Digest): Promise<Extract<Manifest, { kind: "index" }> | undefined> {
  const tag = referrersTag(subject);
  const m = await getIfPresent(repo, tag);
  if (m === undefined) return undefined;
  if (m.kind !== "index") throw new OciError(`${repo.fullName}:${tag} should be the referrers index of ${subject}, but it is an image manifest`);
  return m;
}

/** GET a manifest by tag or digest; undefined when the registry says it does not exist. */
export async function getIfPresent(repo: RemoteRepository, identifier: string): Promise<Manifest | undefined> {
  try {
    return await repo.getManifest(identifier);
  } catch (err) {
    if (err instanceof RegistryError && err.status === 404) return undefined;
    throw err;
  }
}
