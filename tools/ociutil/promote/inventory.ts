/**
 * What the registries hold, read once per repository and only as far as the plan needs:
 *   0. first of all, where a destination registry takes many repositories, its catalog: a repository
 *      it does not list holds nothing, so it needs no tag list and no HEAD (a new release to 22
 *      destinations costs 22 catalog reads, not 8,250 tag lists). Registries that refuse the catalog
 *      (most public ones) are read repository by repository. A repository taken as absent this way
 *      is checked again just before anything is written to it (see `absentByCatalog`).
 *   1. each repository's tags listed (tags/list), then each digest the manifests name looked up in
 *      its source (HEAD); on Google's registries the list names every manifest with its tags (the
 *      extension kpromo reads), and no HEAD is needed in that repository, here or below;
 *   2. the named tags that exist in a destination, resolved to digests (HEAD);
 *   3. a digest looked up in a destination only where the plan depends on it: a tagless edge, or a
 *      tag the destination lacks for a digest the source lacks (tagged from the destination itself).
 *      A tagged edge whose source has the digest is a copy whether or not the destination has it,
 *      so a new release to 22 destinations costs no HEAD per edge.
 * Works with any registry that speaks the distribution API (kpromo reads through the Google-only
 * extension alone). Reads run concurrently, at most `limit` at a time.
 */
import type { RegistryClient } from "../remote/client.js";
import type { RemoteRepository } from "../remote/registry.js";
import { listRepositories, listTagsAndManifests } from "../remote/listing.js";
import { errorMessage } from "../util/errors.js";
import { forEachLimit } from "../util/pool.js";
import type { Edge, Repo } from "./validate.js";

export interface RepoInventory {
  repo: Repo;
  /** tag -> digest, for the tags the edges name that exist. */
  tags: Map<string, string>;
  /** digest -> present, for the digests looked up (a digest not in the map was not needed). */
  digests: Map<string, boolean>;
  /** Set when the repository could not be read; its edges cannot be planned. */
  error?: string;
  /**
   * Set when the registry's catalog does not list the repository: it was taken to hold nothing and
   * was not read. A catalog can lag behind or leave out what the credentials cannot see, so the
   * promotion lists the repository's tags again before it writes there.
   */
  absentByCatalog?: boolean;
  /** Set when the tag list carried every manifest (Google's extension): a digest not in `digests` is absent. */
  complete?: boolean;
  /** A source's tags, as listed here: the referrers step looks for cosign tags in them, unread again. */
  listedTags?: string[];
}

/** A destination registry is read through its catalog when it takes at least this many repositories. */
export const CATALOG_MIN_REPOSITORIES = 20;

interface Wanted {
  inv: RepoInventory;
  remote: RemoteRepository;
  /** As a destination: the tags named, and whether to list them. */
  tags: Set<string>;
  listTags: boolean;
  /** As a source: the digests to look up. */
  sourceDigests: Set<string>;
}

export type Inventory = Map<string, RepoInventory>;

type Lookup = { w: Wanted; tag?: string; digest?: string; list?: true; optional?: true };

export async function readInventory(client: RegistryClient, edges: Edge[], limit: number): Promise<Inventory> {
  const wanted = new Map<string, Wanted>();
  const want = (repo: Repo): Wanted => {
    let w = wanted.get(repo.name);
    if (w === undefined) {
      w = { inv: { repo, tags: new Map(), digests: new Map() }, remote: client.repository(repo), tags: new Set(), listTags: false, sourceDigests: new Set() };
      wanted.set(repo.name, w);
    }
    return w;
  };
  for (const e of edges) {
    want(e.source).sourceDigests.add(e.digest);
    const d = want(e.destination);
    d.listTags = true;
    if (e.tag !== null) d.tags.add(e.tag);
  }
  const repos = [...wanted.values()];

  // 0: the catalogs of registries that take many repositories.
  await markAbsentByCatalog(client, repos, limit);

  // 1: tag lists, of destinations and sources (on Google's registries a list carries every
  // manifest, so it replaces the HEADs below; elsewhere a source costs one request more).
  // A source's list is only a shortcut: if the registry will not list (ECR needs a permission of its
  // own for it), its digests are looked up one by one as before.
  await run(
    repos.filter((w) => w.listTags || w.sourceDigests.size > 0).map((w): Lookup => ({ w, list: true, ...(w.listTags ? {} : { optional: true as const }) })),
    limit,
  );

  // 1b: source digests, where the list did not say.
  const sourced: Lookup[] = [];
  for (const w of repos) if (w.inv.complete !== true) for (const digest of w.sourceDigests) sourced.push({ w, digest });
  await run(sourced, limit);

  // 2: the named tags that exist.
  const second: Lookup[] = [];
  for (const w of repos) if (w.inv.error === undefined) for (const tag of w.tags) if (!w.inv.tags.has(tag)) second.push({ w, tag });
  await run(second, limit);

  // 3: destination digests the plan depends on.
  const third = new Map<string, Lookup>();
  for (const e of edges) {
    const d = wanted.get(e.destination.name)!;
    if (d.inv.error !== undefined || d.inv.absentByCatalog === true || d.inv.complete === true || d.inv.digests.has(e.digest)) continue;
    const s = wanted.get(e.source.name)!.inv;
    const sourceHas = s.error === undefined && s.digests.get(e.digest) === true;
    if (e.tag === null || (!d.inv.tags.has(e.tag) && !sourceHas)) third.set(`${e.destination.name}@${e.digest}`, { w: d, digest: e.digest });
  }
  await run([...third.values()], limit);

  return new Map(repos.map((w) => [w.inv.repo.name, w.inv]));
}

/**
 * Marks the destination repositories that a registry's catalog does not list. A registry that will
 * not serve its catalog (401, 403, 404, or any failure) is simply read repository by repository.
 */
async function markAbsentByCatalog(client: RegistryClient, repos: Wanted[], limit: number): Promise<void> {
  const byRegistry = new Map<string, Wanted[]>();
  for (const w of repos) {
    if (!w.listTags) continue;
    const list = byRegistry.get(w.inv.repo.registry);
    if (list === undefined) byRegistry.set(w.inv.repo.registry, [w]);
    else list.push(w);
  }
  const read = [...byRegistry].filter(([, ws]) => ws.length >= CATALOG_MIN_REPOSITORIES);
  await forEachLimit(read, limit, async ([registry, ws]) => {
    let listed: Set<string>;
    try {
      listed = new Set(await listRepositories(client.registry(registry)));
    } catch {
      return;
    }
    for (const w of ws) {
      if (listed.has(w.inv.repo.repository)) continue;
      w.inv.absentByCatalog = true;
      w.listTags = false;
      w.tags.clear();
    }
  });
}

async function run(lookups: Lookup[], limit: number): Promise<void> {
  await forEachLimit(lookups, limit, async (l) => {
    const inv = l.w.inv;
    if (inv.error !== undefined) return;
    try {
      if (l.list) {
        const listing = await listTagsAndManifests(l.w.remote);
        if (l.w.sourceDigests.size > 0) inv.listedTags = listing.tags;
        // Only the named tags that exist are resolved in step 2.
        const existing = new Set(listing.tags);
        l.w.tags = new Set([...l.w.tags].filter((t) => existing.has(t)));
        if (listing.manifests !== undefined) {
          inv.complete = true;
          for (const [digest, { tags }] of listing.manifests) {
            inv.digests.set(digest, true);
            for (const t of tags) if (l.w.tags.has(t)) inv.tags.set(t, digest);
          }
        }
      } else if (l.tag !== undefined) {
        const head = await l.w.remote.headManifest(l.tag);
        const digest = head?.digest ?? (await l.w.remote.getManifest(l.tag).catch(() => undefined))?.digest;
        if (digest !== undefined) {
          inv.tags.set(l.tag, digest);
          inv.digests.set(digest, true);
        }
      } else {
        inv.digests.set(l.digest!, (await l.w.remote.headManifest(l.digest!)) !== undefined);
      }
    } catch (err) {
      if (!l.optional) inv.error = errorMessage(err);
    }
  });
}
