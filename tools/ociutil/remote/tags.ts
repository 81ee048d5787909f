/**
 * Tag listing (distribution spec "content discovery": GET /v2/<name>/tags/list), following the
 * `Link: <...>; rel="next"` header across pages. A repository that does not exist has no tags.
 */
import * as z from "zod";
import { repositoryScope } from "./auth.js";
import { RegistryError, type RemoteRepository } from "./registry.js";
import { header } from "./transport.js";

/** A page of tags is a small JSON document; refuse to buffer an unbounded one. */
const MAX_PAGE_BYTES = 16 << 20;
const TagPage = z.object({ tags: z.array(z.string()).nullish() });

export async function listTags(repo: RemoteRepository): Promise<string[]> {
  const out: string[] = [];
  let url: URL | undefined = repo.registry.url(`/v2/${repo.name}/tags/list`);
  for (let page = 0; url !== undefined; page++) {
    if (page > 100_000) throw new RegistryError(`tags of ${repo.fullName}: the registry keeps sending more pages`);
    const res = await repo.registry.send({ method: "GET", url, headers: { accept: "application/json" } }, [repositoryScope(repo.name, "pull")]);
    const what = `tags of ${repo.fullName}`;
    if (res.status === 404) {
      await res.body.dump().catch(() => undefined);
      return out; // NAME_UNKNOWN: nothing pushed there yet
    }
    if (res.status !== 200) {
      await res.body.dump().catch(() => undefined);
      const why = res.status === 401 || res.status === 403 ? "no pull access with the credentials in use" : `answered ${res.status}`;
      throw new RegistryError(`${what}: ${why}`, res.status);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > MAX_PAGE_BYTES) throw new RegistryError(`${what}: a page larger than ${MAX_PAGE_BYTES} bytes`);
      chunks.push(Buffer.from(chunk));
    }
    let parsed;
    try {
      parsed = TagPage.parse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    } catch {
      throw new RegistryError(`${what}: the registry's answer is not a tag list`);
    }
    out.push(...(parsed.tags ?? []));
    url = nextPage(header(res, "link"), url);
  }
  return out;
}

/** The rel="next" target of a Link header, resolved against the page that sent it. */
function nextPage(link: string | undefined, base: URL): URL | undefined {
  if (link === undefined) return undefined;
  const m = /<([^>]+)>\s*;[^,]*rel="?next"?/.exec(link);
  if (m === null) return undefined;
  const next = new URL(m[1]!, base);
  if (next.host !== base.host) throw new RegistryError(`tags/list: the registry sent a next page on another host (${next.host})`);
  return next;
}
