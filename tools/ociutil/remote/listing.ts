/**
 * Listings: a repository's tags (distribution spec "content discovery": GET /v2/<name>/tags/list)
 * and a registry's repositories (the `_catalog` extension most registries serve, some only to
 * administrators). Both follow the `Link: <...>; rel="next"` header across pages.
 */
import * as z from "zod";
import { repositoryScope } from "./auth.js";
import { RegistryError, type Registry, type RemoteRepository } from "./registry.js";
import { nextPage } from "./link.js";
import { readCapped } from "./capped-body.js";
import { header } from "./transport.js";

/** A page is a small JSON document; refuse to buffer an unbounded one. */
const MAX_PAGE_BYTES = 16 << 20;
const MAX_PAGES = 100_000;
const TagPage = z.object({ tags: z.array(z.string()).nullish() });
const CatalogPage = z.object({ repositories: z.array(z.string()).nullish() });

/**
 * Google's registries (GCR, Artifact Registry) extend tags/list with a `manifest` map: every manifest
 * in the repository, tagged or not, with its tags (go-containerregistry's pkg/v1/google). Only the
 * fields read here are checked; a map that does not have this shape is ignored.
 */
const ManifestMap = z.record(z.string().regex(/^sha256:[0-9a-f]{64}$/), z.object({ tag: z.array(z.string()).nullish(), mediaType: z.string().nullish() }));

export interface ListedManifest {
  tags: string[];
  mediaType?: string;
}

export interface TagListing {
  tags: string[];
  /** From the Google extension: digest -> its tags and media type, for every manifest in the repository. */
  manifests?: Map<string, ListedManifest>;
}

/** Every tag of a repository; a repository that does not exist has none. */
export async function listTags(repo: RemoteRepository): Promise<string[]> {
  return (await listTagsAndManifests(repo)).tags;
}

/** Every tag, and every manifest with its tags where the registry says (the Google extension). */
export async function listTagsAndManifests(repo: RemoteRepository): Promise<TagListing> {
  const what = `tags of ${repo.fullName}`;
  const pages = await readPages(repo.registry, repo.registry.url(`/v2/${repo.name}/tags/list`), [repositoryScope(repo.name, "pull")], what);
  if (pages === undefined) return { tags: [] };
  const tags = pages.flatMap((p) => checked(TagPage, p, what).tags ?? []);
  // Every page must carry the map: a partial one would hide manifests the repository has.
  const maps = pages.map((p) => ManifestMap.safeParse((p as { manifest?: unknown } | null)?.manifest));
  if (!maps.every((m) => m.success)) return { tags };
  const manifests = new Map<string, ListedManifest>();
  for (const m of maps) {
    for (const [digest, info] of Object.entries(m.data!)) manifests.set(digest, { tags: info.tag ?? [], ...(info.mediaType ? { mediaType: info.mediaType } : {}) });
  }
  return { tags, manifests };
}

/** Pages of the catalog are asked for this large (distribution's default maximum); 100 otherwise. */
const CATALOG_PAGE = 1000;

/** Every repository the registry's catalog lists (RegistryError with the status if it will not). */
export async function listRepositories(registry: Registry): Promise<string[]> {
  const what = `catalog of ${registry.host}`;
  let pages: unknown[] | undefined;
  try {
    pages = await readPages(registry, registry.url(`/v2/_catalog?n=${CATALOG_PAGE}`), ["registry:catalog:*"], what);
  } catch (err) {
    // A registry with a smaller maximum refuses the page size (distribution: 400 PAGINATION_NUMBER_INVALID).
    if (!(err instanceof RegistryError && err.status === 400)) throw err;
    pages = await readPages(registry, registry.url("/v2/_catalog"), ["registry:catalog:*"], what);
  }
  if (pages === undefined) throw new RegistryError(`${what}: not found (the registry does not serve /v2/_catalog)`, 404);
  return pages.flatMap((p) => checked(CatalogPage, p, what).repositories ?? []);
}

function checked<T>(schema: z.ZodType<T>, page: unknown, what: string): T {
  const r = schema.safeParse(page);
  if (!r.success) throw new RegistryError(`${what}: the registry's answer is not a list of names`);
  return r.data;
}

/** The JSON of every page, or undefined on a 404 for the first page. */
async function readPages(registry: Registry, first: URL, scopes: string[], what: string): Promise<unknown[] | undefined> {
  const out: unknown[] = [];
  let url: URL | undefined = first;
  for (let page = 0; url !== undefined; page++) {
    if (page > MAX_PAGES) throw new RegistryError(`${what}: the registry keeps sending more pages`);
    const res = await registry.send({ method: "GET", url, headers: { accept: "application/json" } }, scopes);
    if (res.status === 404 && page === 0) {
      await res.body.dump().catch(() => undefined);
      return undefined;
    }
    if (res.status !== 200) {
      await res.body.dump().catch(() => undefined);
      const why = res.status === 401 || res.status === 403 ? "no access with the credentials in use" : `answered ${res.status}`;
      throw new RegistryError(`${what}: ${why}`, res.status);
    }
    const bytes = await readCapped(res.body, MAX_PAGE_BYTES, `${what}: a page`);
    try {
      out.push(JSON.parse(bytes.toString("utf8")));
    } catch {
      throw new RegistryError(`${what}: the registry's answer is not JSON`);
    }
    url = nextPage(header(res, "link"), url, what);
  }
  return out;
}

