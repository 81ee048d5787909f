/**
 * `promote --attest`: one in-toto Statement per promoted digest in each destination, saying where it
 * was promoted from, to where, and under which tags; attached there as an OCI 1.1 referrer (signed as
 * a Sigstore bundle with `--attest-key`, so `cosign verify-attestation` accepts it). kpromo attaches
 * one per edge (promo-tools #1944); one per digest and destination says the same with fewer referrers.
 *
 * Planned as edges like the referrers: present when the destination already lists a referrer of that
 * digest with this predicate type (as kpromo skips it), so a re-run or a resumed run attests exactly
 * the digests that have none yet.
 */
import type { Digest } from "../name/digest.js";
import { attach } from "../ops/attach.js";
import { attestationArtifact, parseStatement } from "../provenance/attestation.js";
import type { SigningKey } from "../provenance/dsse.js";
import { STATEMENT_V1 } from "../provenance/slsa.js";
import type { RegistryClient } from "../remote/client.js";
import { listReferrers } from "../remote/referrers.js";
import { VERSION } from "../version.js";
import { errorMessage } from "../util/errors.js";
import { forEachLimit } from "../util/pool.js";
import type { PlannedEdge } from "./plan.js";

/** The predicate type of a promotion statement; docs/cli/promote.md#promotion-v1 defines it. */
export const PROMOTION_PREDICATE_V1 = "https://github.com/rules-ociutil/rules_ociutil/blob/main/docs/cli/promote.md#promotion-v1";

/** The annotations under which readers find a referrer's predicate type (bare statement; Sigstore bundle). */
const PREDICATE_ANNOTATIONS = ["in-toto.io/predicate-type", "dev.sigstore.bundle.predicateType"];

export interface Promotion {
  source: string;
  destination: string;
  digest: string;
  tags: string[];
}

/** One attestation edge per (destination, digest) that is promoted or already there, from the source. */
export async function planAttestations(client: RegistryClient, plan: PlannedEdge[], limit: number): Promise<PlannedEdge[]> {
  const byTarget = new Map<string, { parent: PlannedEdge; tags: Set<string> }>();
  for (const e of plan) {
    if (e.referrer !== undefined) continue;
    const sourced = (e.action === "copy" && e.from?.name === e.source.name) || (e.action === "present" && e.sourceHas === true);
    if (!sourced) continue;
    const key = `${e.destination.name}@${e.digest}`;
    let t = byTarget.get(key);
    if (t === undefined) byTarget.set(key, (t = { parent: e, tags: new Set() }));
    if (e.tag !== null) t.tags.add(e.tag);
  }
  const edges: PlannedEdge[] = [];
  await forEachLimit([...byTarget.values()], limit, async ({ parent, tags }) => {
    const edge: PlannedEdge = {
      source: parent.source,
      destination: parent.destination,
      digest: parent.digest,
      tag: null,
      at: parent.at,
      action: "copy",
      from: parent.source,
      referrer: { kind: "attestation", subject: parent.digest as Digest, root: parent.digest as Digest, tags: [...tags].sort() },
    };
    edges.push(edge);
    // An image still to be copied has nothing attached at the destination yet.
    if (parent.action !== "present") return;
    try {
      const { descriptors } = await listReferrers(client.repository(parent.destination), parent.digest as Digest);
      if (descriptors.some((d) => PREDICATE_ANNOTATIONS.some((a) => d.annotations?.[a] === PROMOTION_PREDICATE_V1))) edge.action = "present";
    } catch (err) {
      Object.assign(edge, { action: "unreadable", detail: errorMessage(err) });
    }
  });
  return edges;
}

/** The statement's bytes: subject the destination's digest, predicate the promotion. */
export function promotionStatement(p: Promotion, promotedOn: string): Buffer {
  const [alg, hex] = p.digest.split(":") as [string, string];
  return Buffer.from(
    JSON.stringify({
      _type: STATEMENT_V1,
      subject: [{ name: p.destination, digest: { [alg]: hex } }],
      predicateType: PROMOTION_PREDICATE_V1,
      predicate: {
        source: `${p.source}@${p.digest}`,
        destination: `${p.destination}@${p.digest}`,
        tags: p.tags,
        promotedOn,
        promoter: { id: "https://github.com/rules-ociutil/rules_ociutil", version: VERSION },
      },
    }),
  );
}

/** Attaches the statement of an attestation edge to its digest in the destination; the referrer's digest. */
export async function attestPromotion(client: RegistryClient, e: PlannedEdge, key: SigningKey | undefined): Promise<string> {
  const dest = client.repository(e.destination, "push");
  const subject = await dest.getManifest(e.digest);
  const promotedOn = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const bytes = promotionStatement({ source: e.source.name, destination: e.destination.name, digest: e.digest, tags: e.referrer?.tags ?? [] }, promotedOn);
  const statement = parseStatement(bytes, "promotion statement");
  const { manifest } = await attach(dest, { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length }, attestationArtifact(bytes, statement, key, promotedOn));
  return manifest.digest;
}
