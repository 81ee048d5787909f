/**
 * What the registries hold, read once per repository and only as far as the edges need: a
 * destination's tags are listed once (tags/list), the tags the manifests name are resolved to digests,
 * and each digest the manifests name is looked up by digest where no tag already showed it.
 * Works with any registry that speaks the distribution API (kpromo reads through a Google-only
 * extension of tags/list). Reads run concurrently, at most `limit` at a time.
 */
import type { RegistryClient } from "../remote/client.js";
import type { RemoteRepository } from "../remote/registry.js";
import { listTags } from "../remote/listing.js";
import { errorMessage } from "../util/errors.js";
import { forEachLimit } from "../util/pool.js";
import type { Edge, Repo } from "./validate.js";

export interface RepoInventory {
  repo: Repo;
  /** tag -> digest, for the tags the edges name that exist. */
  tags: Map<string, string>;
  /** digest -> present, for the digests the edges name. */
  digests: Map<string, boolean>;
  /** Set when the repository could not be read; its edges cannot be planned. */
  error?: string;
}

interface Wanted {
  repo: Repo;
  tags: Set<string>;
  digests: Set<string>;
  /** Sources are read by digest only; destinations also list their tags. */
  listTags: boolean;
}

export type Inventory = Map<string, RepoInventory>;

export async function readInventory(client: RegistryClient, edges: Edge[], limit: number): Promise<Inventory> {
  const wanted = new Map<string, Wanted>();
  const want = (repo: Repo, list: boolean): Wanted => {
    let w = wanted.get(repo.name);
    if (w === undefined) {
      w = { repo, tags: new Set(), digests: new Set(), listTags: false };
      wanted.set(repo.name, w);
    }
    w.listTags ||= list;
    return w;
  };
  for (const e of edges) {
    want(e.source, false).digests.add(e.digest);
    const d = want(e.destination, true);
    d.digests.add(e.digest);
    if (e.tag !== null) d.tags.add(e.tag);
  }

  const inventory: Inventory = new Map();
  // Step 1: list each destination's tags, all repositories at once (bounded).
  const repos = [...wanted.values()];
  await forEachLimit(repos, limit, async (w) => {
    const inv: RepoInventory = { repo: w.repo, tags: new Map(), digests: new Map() };
    inventory.set(w.repo.name, inv);
    if (!w.listTags) return;
    try {
      const existing = new Set(await listTags(client.repository(w.repo)));
      w.tags = new Set([...w.tags].filter((t) => existing.has(t)));
    } catch (err) {
      inv.error = errorMessage(err);
    }
  });

  // Step 2: resolve the named tags that exist, then the digests no tag showed; one flat bounded queue.
  type Lookup = { inv: RepoInventory; remote: RemoteRepository; tag?: string; digest?: string };
  const tagLookups: Lookup[] = [];
  for (const w of repos) {
    const inv = inventory.get(w.repo.name)!;
    if (inv.error !== undefined) continue;
    const remote = client.repository(w.repo);
    for (const tag of w.tags) tagLookups.push({ inv, remote, tag });
  }
  await forEachLimit(tagLookups, limit, async (l) => {
    if (l.inv.error !== undefined) return;
    try {
      const head = await l.remote.headManifest(l.tag!);
      const digest = head?.digest ?? (await l.remote.getManifest(l.tag!).catch(() => undefined))?.digest;
      if (digest !== undefined) {
        l.inv.tags.set(l.tag!, digest);
        l.inv.digests.set(digest, true);
      }
    } catch (err) {
      l.inv.error = errorMessage(err);
    }
  });
  const digestLookups: Lookup[] = [];
  for (const w of repos) {
    const inv = inventory.get(w.repo.name)!;
    if (inv.error !== undefined) continue;
    const remote = client.repository(w.repo);
    for (const digest of w.digests) if (!inv.digests.has(digest)) digestLookups.push({ inv, remote, digest });
  }
  await forEachLimit(digestLookups, limit, async (l) => {
    if (l.inv.error !== undefined) return;
    try {
      l.inv.digests.set(l.digest!, (await l.remote.headManifest(l.digest!)) !== undefined);
    } catch (err) {
      l.inv.error = errorMessage(err);
    }
  });
  return inventory;
}
