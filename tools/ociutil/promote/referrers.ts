/**
 * What refers to the promoted images, planned as edges of their own so a dry run shows them and a
 * re-run skips what is already there: OCI 1.1 referrers (signatures, attestations, SBOMs; through the
 * referrers API or the `sha256-<hex>` referrers tag) of every manifest under a promoted digest, and
 * cosign's `sha256-<hex>.sig`/`.att`/`.sbom` tags. Referrers of referrers follow their subject.
 *
 * Cost: a registry without the referrers API (distribution 2.8) is read through each source
 * repository's tag list, so an unsigned image costs no request; one with the API is asked per subject.
 */
import type { Digest } from "../name/digest.js";
import { COSIGN_TAG_SUFFIXES } from "../ops/referrers.js";
import type { RegistryClient } from "../remote/client.js";
import { listTags } from "../remote/listing.js";
import { listReferrers, referrersTag } from "../remote/referrers.js";
import type { RemoteRepository } from "../remote/registry.js";
import { errorMessage } from "../util/errors.js";
import { forEachLimit } from "../util/pool.js";
import type { PlannedEdge } from "./plan.js";
import type { Repo } from "./validate.js";

/** One thing that refers to a promoted image, found at the source. */
export interface Found {
  kind: "referrer" | "cosign-tag";
  /** The manifest it refers to (the promoted digest, a child of it, or another referrer). */
  subject: Digest;
  digest: Digest;
  size?: number;
  /** For a cosign tag: the tag. */
  tag?: string;
}

export interface ReferrerLink {
  /** A referrer or cosign tag found at the source, or a promotion attestation to make (promote/attest.ts). */
  kind: Found["kind"] | "attestation";
  subject: Digest;
  /** The promoted digest whose copy this one waits for. */
  root: Digest;
  size?: number;
  /** For an attestation: the tags it names. */
  tags?: string[];
}

/** A tag that names a digest: the referrers tag, or a cosign tag. */
const REFERRER_ISH = /^sha256-([0-9a-f]{64})(\.sig|\.att|\.sbom)?$/;

/**
 * Plans the referrer edges of `plan`: for each (destination, digest) that is promoted or already
 * there (and whose source has it), one edge per referrer or cosign tag, present or to copy.
 * A repository that cannot be read gives edges "unreadable".
 */
export async function planReferrers(
  client: RegistryClient,
  plan: PlannedEdge[],
  limit: number,
  /** A source's tags when the plan already listed them (so they are not listed twice). */
  listedTags: (repo: Repo) => string[] | undefined = () => undefined,
): Promise<PlannedEdge[]> {
  const sourced = (e: PlannedEdge): boolean =>
    e.referrer === undefined && ((e.action === "copy" && e.from?.name === e.source.name) || (e.action === "present" && e.sourceHas === true));
  const roots = new Map<string, { repo: Repo; digests: Set<Digest> }>();
  for (const e of plan) {
    if (!sourced(e)) continue;
    let r = roots.get(e.source.name);
    if (r === undefined) roots.set(e.source.name, (r = { repo: e.source, digests: new Set() }));
    r.digests.add(e.digest as Digest);
  }
  if (roots.size === 0) return [];

  // At each source repository: what refers to each promoted digest.
  const found = new Map<string, Found[] | { error: string }>();
  // Repositories and the digests within each are both read concurrently: split the bound between
  // them so at most about `limit` requests are in flight.
  const inner = Math.max(1, Math.ceil(limit / 4));
  await forEachLimit([...roots.values()], Math.max(1, Math.floor(limit / inner)), async ({ repo, digests }) => {
    try {
      const byRoot = await discover(client.repository(repo), [...digests], inner, listedTags(repo));
      for (const [root, list] of byRoot) found.set(`${repo.name}@${root}`, list);
    } catch (err) {
      for (const d of digests) found.set(`${repo.name}@${d}`, { error: errorMessage(err) });
    }
  });

  // One parent edge per (destination, digest) that has anything referring to it (most have nothing:
  // no key is made for those, which at 440,000 edges matters).
  const parents: PlannedEdge[] = [];
  const taken = new Map<string, Set<string>>();
  for (const e of plan) {
    if (!sourced(e) || !found.has(`${e.source.name}@${e.digest}`)) continue;
    let digests = taken.get(e.destination.name);
    if (digests === undefined) taken.set(e.destination.name, (digests = new Set()));
    if (digests.has(e.digest)) continue;
    digests.add(e.digest);
    parents.push(e);
  }

  // At each destination: which of them are there already.
  const edges: PlannedEdge[] = [];
  const listed = new Map<string, Promise<Set<string>>>();
  const work: Array<() => Promise<void>> = [];
  for (const parent of parents) {
    const list = found.get(`${parent.source.name}@${parent.digest}`);
    if (list === undefined || (Array.isArray(list) && list.length === 0)) continue;
    const dest = client.repository(parent.destination);
    for (const f of Array.isArray(list) ? list : [undefined]) {
      const edge: PlannedEdge = {
        source: parent.source,
        destination: parent.destination,
        digest: f?.digest ?? parent.digest,
        tag: f?.tag ?? null,
        at: parent.at,
        action: "unreadable",
        ...(f !== undefined ? { referrer: { kind: f.kind, subject: f.subject, root: parent.digest as Digest, ...(f.size !== undefined ? { size: f.size } : {}) } } : {}),
        ...(f === undefined ? { detail: `referrers at ${parent.source.name}: ${(list as { error: string }).error}` } : {}),
      };
      edges.push(edge);
      if (f === undefined) continue;
      work.push(async () => {
        try {
          if (f.kind === "cosign-tag") {
            const current = (await dest.headManifest(f.tag!))?.digest ?? (await dest.getManifest(f.tag!).catch(() => undefined))?.digest;
            if (current === undefined) Object.assign(edge, { action: "copy", from: parent.source });
            else if (current === f.digest) edge.action = "present";
            else Object.assign(edge, { action: "tag-move", detail: `${parent.destination.name}:${f.tag} points at ${current}; tag moves are refused` });
            return;
          }
          const key = `${parent.destination.name}@${f.subject}`;
          let set = listed.get(key);
          if (set === undefined) {
            set = listReferrers(dest, f.subject).then((r) => new Set(r.descriptors.map((d) => d.digest)));
            listed.set(key, set);
          }
          if ((await set).has(f.digest)) edge.action = "present";
          else Object.assign(edge, { action: "copy", from: parent.source });
        } catch (err) {
          edge.detail = errorMessage(err);
        }
      });
    }
  }
  await forEachLimit(work, limit, (w) => w());
  return edges;
}

/** Everything that refers to each of `roots` (and to the manifests under them) in one repository. */
async function discover(repo: RemoteRepository, roots: Digest[], limit: number, listed: string[] | undefined): Promise<Map<Digest, Found[]>> {
  const tags = new Set(listed ?? (await listTags(repo)));
  const hasApi = (await repo.referrers(roots[0]!)) !== undefined;
  // Without the API, only digests named by a referrers or cosign tag have anything to find.
  const named = new Set<string>();
  for (const t of tags) {
    const m = REFERRER_ISH.exec(t);
    if (m !== null) named.add(`sha256:${m[1]}`);
  }
  const out = new Map<Digest, Found[]>();
  if (!hasApi && named.size === 0) return out;
  const rootSet = new Set<string>(roots);
  const needChildren = hasApi || [...named].some((d) => !rootSet.has(d));

  await forEachLimit(roots, limit, async (root) => {
    const list: Found[] = [];
    const subjects: Digest[] = [root];
    if (needChildren) {
      const m = await repo.getManifest(root);
      if (m.kind === "index") subjects.push(...m.index.manifests.map((d) => d.digest as Digest));
    }
    const seen = new Set<string>(subjects);
    for (let subject = subjects.shift(); subject !== undefined; subject = subjects.shift()) {
      if (!hasApi && !named.has(subject)) continue;
      const referrers = hasApi || tags.has(referrersTag(subject)) ? (await listReferrers(repo, subject)).descriptors : [];
      for (const desc of referrers) {
        if (seen.has(desc.digest)) continue;
        seen.add(desc.digest);
        // A referrers tag can list a referrer that was deleted since: nothing to copy.
        if ((await repo.headManifest(desc.digest)) === undefined) continue;
        list.push({ kind: "referrer", subject, digest: desc.digest as Digest, size: desc.size });
        subjects.push(desc.digest as Digest);
      }
      for (const suffix of COSIGN_TAG_SUFFIXES) {
        const tag = `${referrersTag(subject)}${suffix}`;
        if (!tags.has(tag)) continue;
        const digest = (await repo.headManifest(tag))?.digest ?? (await repo.getManifest(tag)).digest;
        list.push({ kind: "cosign-tag", subject, digest, tag });
        if (!seen.has(digest)) {
          seen.add(digest);
          subjects.push(digest);
        }
      }
    }
    if (list.length > 0) out.set(root, list);
  });
  return out;
}
