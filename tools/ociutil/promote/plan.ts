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

/** Each edge becomes its planned edge in place: at 440,000 edges a copy of each costs tens of megabytes. */
export function planEdges(edges: Edge[], inventory: Inventory): PlannedEdge[] {
  return edges.map((e): PlannedEdge => {
    const s = inventory.get(e.source.name)!;
    const d = inventory.get(e.destination.name)!;
    const to = (fields: Omit<PlannedEdge, keyof Edge>): PlannedEdge => Object.assign(e, fields);
    if (d.error !== undefined) return to({ action: "unreadable", detail: d.error });
    const present = (): PlannedEdge => to({ action: "present", sourceHas: s.error === undefined && s.digests.get(e.digest) === true });
    if (e.tag !== null) {
      const current = d.tags.get(e.tag);
      if (current === e.digest) return present();
      if (current !== undefined) return to({ action: "tag-move", detail: `${e.destination.name}:${e.tag} points at ${current}; tag moves are refused` });
    } else if (d.digests.get(e.digest) === true) {
      return present();
    }
    if (s.error === undefined && s.digests.get(e.digest) === true) return to({ action: "copy", from: e.source, ...(d.absentByCatalog === true ? { destinationUnread: true } : {}) });
    if (d.digests.get(e.digest) === true) return to({ action: "copy", from: e.destination });
    if (s.error !== undefined) return to({ action: "unreadable", detail: s.error });
    return to({ action: "missing", detail: `${e.digest} is in neither ${e.source.name} nor ${e.destination.name}` });
  });
}

/** Edges in a stable order: destination, tag (tagless last), digest. */
export function sortEdges<T extends Edge>(edges: T[]): T[] {
  return [...edges].sort(
    (a, b) =>
      cmp(a.destination.name, b.destination.name) || cmp(a.tag ?? "\uffff", b.tag ?? "\uffff") || cmp(a.digest, b.digest) || cmp(a.source.name, b.source.name),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
