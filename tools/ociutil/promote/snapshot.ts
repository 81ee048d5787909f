/**
 * Snapshots: what a registry (or the manifests) holds under a prefix, in kpromo's images.yaml format
 * or its CSV. Image names are relative to the prefix, so a snapshot of staging is the images.yaml
 * that promotes all of it.
 *
 * Over the plain distribution API a registry shows the manifests its tags reach; an index's
 * children are listed too (tagless unless tagged), as GCR's listing shows them, and `minimal` drops
 * them. Untagged manifests that no tag reaches cannot be listed by that API and are not shown.
 * Google's registries list every manifest with its tags in tags/list (the extension kpromo reads):
 * there every manifest is shown, untagged ones included, as kpromo shows them.
 */
import { isIndexMediaType } from "../spec/mediatypes.js";
import type { RegistryClient } from "../remote/client.js";
import { listRepositories, listTagsAndManifests, type ListedManifest } from "../remote/listing.js";
import { RegistryError, type RemoteRepository } from "../remote/registry.js";
import { errorMessage } from "../util/errors.js";
import { forEachLimit } from "../util/pool.js";
import type { Edge } from "./validate.js";

/** image name -> digest -> tags */
export type Snapshot = Map<string, Map<string, Set<string>>>;

function add(s: Snapshot, name: string, digest: string, tag: string | null): void {
  let dmap = s.get(name);
  if (dmap === undefined) s.set(name, (dmap = new Map()));
  let tags = dmap.get(digest);
  if (tags === undefined) dmap.set(digest, (tags = new Set()));
  if (tag !== null) tags.add(tag);
}

function sorted(s: Snapshot): Array<[string, Array<[string, string[]]>]> {
  const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return [...s.keys()].sort(byString).map((name) => {
    const dmap = s.get(name)!;
    return [name, [...dmap.keys()].sort(byString).map((digest): [string, string[]] => [digest, [...dmap.get(digest)!].sort(byString)])];
  });
}

/** kpromo's images.yaml format, byte for byte: sorted by name, then digest; tags sorted; `[]` for none. */
export function toYaml(s: Snapshot): string {
  let out = "";
  for (const [name, digests] of sorted(s)) {
    out += `- name: ${name}\n  dmap:\n`;
    for (const [digest, tags] of digests) out += `    ${JSON.stringify(digest)}: [${tags.map((t) => JSON.stringify(t)).join(", ")}]\n`;
  }
  return out;
}

/** One line per (digest, tag): `name@digest,name:tag`, or `name@digest,-` for a tagless digest. */
export function toCsv(s: Snapshot): string {
  let out = "";
  for (const [name, digests] of sorted(s)) {
    for (const [digest, tags] of digests) {
      if (tags.length === 0) out += `${name}@${digest},-\n`;
      for (const tag of tags) out += `${name}@${digest},${name}:${tag}\n`;
    }
  }
  return out;
}

/** A snapshot of the destinations the manifests promote to under `prefix` (a plain string prefix, as kpromo). No network. */
export function snapshotOfEdges(edges: Edge[], prefix: string): Snapshot {
  const s: Snapshot = new Map();
  const p = prefix.replace(/\/+$/, "");
  for (const e of edges) {
    if (!e.destination.name.startsWith(`${p}/`)) continue;
    add(s, e.destination.name.slice(p.length + 1), e.digest, e.tag);
  }
  return s;
}

export interface RegistrySnapshotOptions {
  minimal: boolean;
  /** Keep only digests that carry this tag. */
  tag?: string;
  concurrency: number;
  /** Told when the catalog cannot be read and only the prefix itself is read. */
  warn: (message: string) => void;
}

/** A snapshot of every repository under `registry/path` that the registry's catalog lists. */
export async function snapshotRegistry(client: RegistryClient, registry: string, path: string, opts: RegistrySnapshotOptions): Promise<Snapshot> {
  let repos: string[];
  try {
    repos = (await listRepositories(client.registry(registry))).filter((r) => path === "" || r === path || r.startsWith(`${path}/`));
  } catch (err) {
    if (path === "" || !(err instanceof RegistryError)) throw err;
    opts.warn(`${errorMessage(err)}; reading ${registry}/${path} alone`);
    repos = [path];
  }
  const relative = (repo: string): string => (path === "" ? repo : repo === path ? repo.slice(repo.lastIndexOf("/") + 1) : repo.slice(path.length + 1));

  const s: Snapshot = new Map();
  // Repositories a few at a time, each with its own bounded tag lookups.
  await forEachLimit(repos, 4, async (repoName) => {
    const repo = client.repository({ registry, repository: repoName });
    const name = relative(repoName);
    const listing = await listTagsAndManifests(repo);
    if (listing.manifests !== undefined) return await addListed(s, name, repo, listing.manifests, opts);
    const tags = listing.tags.filter((t) => opts.tag === undefined || t === opts.tag);
    const found: Array<{ tag: string; digest: string; mediaType: string | undefined }> = [];
    await forEachLimit(tags, opts.concurrency, async (tag) => {
      const head = await repo.headManifest(tag);
      if (head !== undefined) found.push({ tag, digest: head.digest, mediaType: head.mediaType });
      else {
        const m = await repo.getManifest(tag).catch(() => undefined);
        if (m !== undefined) found.push({ tag, digest: m.digest, mediaType: m.mediaType });
      }
    });
    for (const f of found) add(s, name, f.digest, f.tag);
    if (opts.minimal || opts.tag !== undefined) return;
    const indexes = [...new Set(found.filter((f) => isIndexMediaType(f.mediaType)).map((f) => f.digest))];
    await forEachLimit(indexes, opts.concurrency, async (digest) => {
      const m = await repo.getManifest(digest);
      if (m.kind === "index") for (const child of m.index.manifests) add(s, name, child.digest, null);
    });
  });
  return s;
}

/** A repository listed with Google's extension: every manifest, with no HEAD; indexes read only for `minimal`. */
async function addListed(s: Snapshot, name: string, repo: RemoteRepository, manifests: Map<string, ListedManifest>, opts: RegistrySnapshotOptions): Promise<void> {
  const children = new Set<string>();
  if (opts.minimal && opts.tag === undefined) {
    const indexes = [...manifests].filter(([, m]) => m.mediaType !== undefined && isIndexMediaType(m.mediaType)).map(([digest]) => digest);
    await forEachLimit(indexes, opts.concurrency, async (digest) => {
      const m = await repo.getManifest(digest);
      if (m.kind === "index") for (const child of m.index.manifests) children.add(child.digest);
    });
  }
  for (const [digest, { tags }] of manifests) {
    if (opts.tag !== undefined) {
      if (tags.includes(opts.tag)) add(s, name, digest, opts.tag);
      continue;
    }
    if (tags.length === 0 && children.has(digest)) continue; // --minimal: an untagged child of an index
    if (tags.length === 0) add(s, name, digest, null);
    for (const t of tags) add(s, name, digest, t);
  }
}
