/**
 * Carries out a plan's copies. Edges are grouped by (destination, digest) so one transfer sends the
 * content once and puts all its tags; groups run `jobs` at a time. The graph under each digest is
 * read from its source once, however many destinations take it. A group that fails does not stop
 * the others: every edge that can be promoted is.
 */
import type { RegistryClient } from "../remote/client.js";
import { RegistrySource } from "../ops/source.js";
import { transferTree } from "../ops/transfer.js";
import { loadTree, type ImageTree } from "../ops/tree.js";
import { defaultJobs, forEachLimit } from "../util/pool.js";
import { copyReferrer, copyTagged } from "../ops/referrers.js";
import { errorMessage, VerificationError } from "../util/errors.js";
import { listTags } from "../remote/listing.js";
import type { SigningKey } from "../provenance/dsse.js";
import { imageFinished, planImages, type ImageOutcome } from "../progress/events.js";
import { attestPromotion } from "./attest.js";
import type { PlannedEdge } from "./plan.js";
import type { Repo } from "./validate.js";

export type Outcome = "present" | "copied" | "failed" | "missing" | "refused" | "planned";

export interface EdgeResult extends PlannedEdge {
  outcome: Outcome;
}

interface Group {
  /** Where the image is read from; unset when only its referrers are copied (the image is there). */
  from?: Repo;
  destination: Repo;
  digest: string;
  edges: PlannedEdge[];
  /** Referrers and cosign tags of this digest to copy once the image is in place, subjects first. */
  referrers: PlannedEdge[];
}

/** The outcome of an edge that is not copied (or not yet: a dry run). */
export function staticOutcome(e: PlannedEdge): Outcome {
  switch (e.action) {
    case "present":
      return "present";
    case "copy":
      return "planned";
    case "missing":
      return "missing";
    case "tag-move":
      return "refused";
    case "unreadable":
      return "failed";
  }
}

export interface ExecuteOptions {
  /** Signs promotion attestations (Sigstore bundles); without it they are bare statements. */
  attestKey?: SigningKey;
}

export async function executePlan(client: RegistryClient, plan: PlannedEdge[], jobs: number, opts: ExecuteOptions = {}): Promise<EdgeResult[]> {
  const results = new Map<PlannedEdge, EdgeResult>();
  const groups = new Map<string, Group>();
  for (const e of plan) {
    if (e.action !== "copy") {
      results.set(e, { ...e, outcome: staticOutcome(e) });
      continue;
    }
    const root = e.referrer?.root ?? e.digest;
    const key = `${e.destination.name}@${root}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = { destination: e.destination, digest: root, edges: [], referrers: [] };
      groups.set(key, g);
    }
    if (e.referrer !== undefined) g.referrers.push(e);
    else {
      g.from = e.from!;
      g.edges.push(e);
    }
  }

  // One tree per source digest, shared by its destinations and forgotten when the last is done.
  const trees = new Map<string, { tree?: Promise<ImageTree>; users: number }>();
  const treeKey = (g: Group): string => `${g.from!.name}@${g.digest}`;
  const list = [...groups.values()];
  for (const g of list) {
    if (g.from === undefined) continue;
    const t = trees.get(treeKey(g));
    if (t) t.users++;
    else trees.set(treeKey(g), { users: 1 });
  }
  const treeFor = (g: Group): Promise<ImageTree> => {
    const t = trees.get(treeKey(g))!;
    if (t.tree === undefined) {
      const from = client.repository(g.from!);
      t.tree = from.getManifest(g.digest).then((root) => loadTree(root, (desc) => from.getManifest(desc.digest)));
    }
    return t.tree;
  };
  const release = (g: Group): void => {
    const t = trees.get(treeKey(g))!;
    if (--t.users === 0) trees.delete(treeKey(g));
  };

  // Groups sorted by source digest so the ones sharing a tree run close together.
  list.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const blobJobs = Math.max(1, Math.min(defaultJobs(), jobs));
  const recheck = new DestinationRecheck(client);
  planImages(list.length);
  await forEachLimit(list, jobs, async (g) => {
    let imageOk = true;
    if (g.from !== undefined) {
      try {
        const settled = await recheck.settle(g, results);
        if (settled === "copy") {
          const tree = await treeFor(g);
          const tags = [...new Set(g.edges.map((e) => e.tag).filter((t): t is string => t !== null))];
          await transferTree(tree, new RegistrySource(client.repository(g.from)), client.repository(g.destination, "push"), tags, {
            jobs: blobJobs,
            retry: client.retry,
          });
          for (const e of g.edges) results.set(e, { ...e, outcome: "copied" });
        } else {
          imageOk = settled === "present"; // nothing left to copy: the referrers follow an image that is there
        }
      } catch (err) {
        imageOk = false;
        for (const e of g.edges) results.set(e, { ...e, outcome: "failed", detail: errorMessage(err) });
      } finally {
        release(g);
      }
    }
    for (const r of g.referrers) {
      if (!imageOk) {
        results.set(r, { ...r, outcome: "failed", detail: `not copied: ${g.digest} itself was not promoted` });
        continue;
      }
      try {
        if (r.referrer!.kind === "attestation") {
          const digest = await attestPromotion(client, r, opts.attestKey);
          results.set(r, { ...r, outcome: "copied", detail: `attestation ${digest}` });
          continue;
        }
        await copyReferrerEdge(client, r, blobJobs);
        results.set(r, { ...r, outcome: "copied" });
      } catch (err) {
        results.set(r, { ...r, outcome: "failed", detail: errorMessage(err) });
      }
    }
    imageFinished(`${g.destination.name}@${g.digest}`, groupOutcome(g, results));
  });
  return plan.map((e) => results.get(e)!);
}

/** A group as a progress display counts it: failed (or refused) if any of its edges was, else copied if any was copied. */
function groupOutcome(g: Group, results: Map<PlannedEdge, EdgeResult>): ImageOutcome {
  const outcomes = [...g.edges, ...g.referrers].map((e) => results.get(e)?.outcome);
  if (outcomes.some((o) => o === "failed" || o === "refused")) return "failed";
  return outcomes.includes("copied") ? "copied" : "present";
}

/** A referrer (pushed with its referrers-tag entry) or a cosign tag, by the digest the plan saw. */
async function copyReferrerEdge(client: RegistryClient, e: PlannedEdge, jobs: number): Promise<void> {
  const from = client.repository(e.from!);
  const to = client.repository(e.destination, "push");
  const m = await from.getManifest(e.digest);
  const opts = { jobs, retry: client.retry };
  if (e.referrer!.kind === "cosign-tag") return await copyTagged(from, to, m, e.tag!, opts);
  const size = e.referrer!.size;
  if (size !== undefined && m.bytes.length !== size) throw new VerificationError(`referrer ${from.fullName}@${e.digest} has ${m.bytes.length} bytes, its descriptor says ${size}`);
  await copyReferrer(from, to, m, opts);
}

/**
 * A destination repository the plan took as empty from its registry's catalog was never read. Before
 * the first write there, its tags are listed (once per repository); a tag the group would write that
 * exists after all is resolved, and the edge becomes present or a refused tag move, as the plan would
 * have had it. A catalog that lags behind, or hides what the credentials cannot see, never moves a tag.
 */
class DestinationRecheck {
  private readonly tags = new Map<string, Promise<Set<string>>>();

  constructor(private readonly client: RegistryClient) {}

  /**
   * Settles the group's edges whose tags exist after all; "copy" when edges are left to copy, else
   * "present" when the image is there under a wanted tag, "refused" when every tag was moved.
   */
  async settle(g: Group, results: Map<PlannedEdge, EdgeResult>): Promise<"copy" | "present" | "refused"> {
    if (!g.edges.some((e) => e.destinationUnread === true)) return "copy";
    const repo = this.client.repository(g.destination);
    let tags = this.tags.get(g.destination.name);
    if (tags === undefined) {
      tags = listTags(repo).then((t) => new Set(t));
      this.tags.set(g.destination.name, tags);
    }
    const existing = await tags;
    const keep: PlannedEdge[] = [];
    for (const e of g.edges) {
      if (e.tag === null || !existing.has(e.tag)) {
        keep.push(e);
        continue;
      }
      const current = (await repo.headManifest(e.tag))?.digest;
      if (current === undefined) keep.push(e);
      else if (current === e.digest) results.set(e, { ...e, action: "present", outcome: "present" });
      else {
        const detail = `${e.destination.name}:${e.tag} points at ${current}; tag moves are refused`;
        results.set(e, { ...e, action: "tag-move", outcome: "refused", detail });
      }
    }
    const present = g.edges.some((e) => results.get(e)?.outcome === "present");
    g.edges = keep;
    return keep.length > 0 ? "copy" : present ? "present" : "refused";
  }
}
