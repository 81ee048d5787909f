/**
 * The plan, per destination, in the promoter's set terms (M: the manifests, S: the source,
 * D: the destination):
 *   M ∩ D        present   nothing to do
 *   (M ∩ S) \ D  copy
 *   M \ (S ∪ D)  missing   reported, never silently passed
 *   a destination tag that points at another digest: a tag move, refused (as kpromo does)
 * A digest the destination already holds under no tag (or another one) is tagged from there.
 */
import type { Inventory } from "./inventory.js";
import type { ReferrerLink } from "./referrers.js";
import type { Edge, Repo } from "./validate.js";

export type Action = "present" | "copy" | "missing" | "tag-move" | "unreadable";

export interface PlannedEdge extends Edge {
  action: Action;
  /** For a copy: where the content is read from (the source, or the destination itself). */
  from?: Repo;
  detail?: string;
  /** Set on a "present" edge whose source also has the digest (its referrers can still be copied). */
  sourceHas?: boolean;
  /** Set when the destination was taken as empty from its registry's catalog, unread (inventory.ts). */
  destinationUnread?: boolean;
  /** Set on the edge of a referrer or cosign tag of a promoted image (promote/referrers.ts). */
  referrer?: ReferrerLink;
}

/**
 * Each edge becomes its planned edge in place, with no per-edge allocation: at 720,000 edges a
 * copy of each, or a detail string each ("… is in neither …"), costs well over 100 MB. What a
 * report says about an edge is made when it is printed (report.ts `edgeDetail`).
 */
export function planEdges(edges: Edge[], inventory: Inventory): PlannedEdge[] {
  const plan = edges as PlannedEdge[];
  for (const p of plan) {
    const s = inventory.get(p.source.name)!;
    const d = inventory.get(p.destination.name)!;
    const sourceHas = s.error === undefined && s.digests.get(p.digest) === true;
    if (d.error !== undefined) {
      p.action = "unreadable";
      p.detail = d.error; // one string per repository, shared
    } else if (p.tag !== null ? d.tags.get(p.tag) === p.digest : d.digests.get(p.digest) === true) {
      p.action = "present";
      p.sourceHas = sourceHas;
    } else if (p.tag !== null && d.tags.has(p.tag)) {
      p.action = "tag-move";
      p.detail = `${p.destination.name}:${p.tag} points at ${d.tags.get(p.tag)}; tag moves are refused`;
    } else if (sourceHas) {
      p.action = "copy";
      p.from = p.source;
      if (d.absentByCatalog === true) p.destinationUnread = true;
    } else if (d.digests.get(p.digest) === true) {
      p.action = "copy";
      p.from = p.destination;
    } else if (s.error !== undefined) {
      p.action = "unreadable";
      p.detail = s.error;
    } else {
      p.action = "missing";
    }
  }
  return plan;
}

/** Why a missing edge is missing (made when printed, not kept per edge). */
export function missingDetail(e: Edge): string {
  return `${e.digest} is in neither ${e.source.name} nor ${e.destination.name}`;
}

/** Sorts edges in place into a stable order: destination, tag (tagless last), digest. */
export function sortEdges<T extends Edge>(edges: T[]): T[] {
  return edges.sort(
    (a, b) =>
      cmp(a.destination.name, b.destination.name) || cmp(a.tag ?? "\uffff", b.tag ?? "\uffff") || cmp(a.digest, b.digest) || cmp(a.source.name, b.source.name),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
