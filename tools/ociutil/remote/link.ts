/**
 * Paged answers (tag lists, the catalog, referrers) name their next page in a `Link: <...>; rel="next"`
 * header (RFC 8288). A page on another host is refused: a registry must not send its client, with
 * the client's credentials, to some other server.
 */
import { RegistryError } from "./registry-error.js";

/** The rel="next" target of a Link header, resolved against the page that sent it. */
export function nextPage(link: string | undefined, base: URL, what: string): URL | undefined {
  if (link === undefined) return undefined;
  const m = /<([^>]+)>\s*;[^,]*rel="?next"?/.exec(link);
  if (m === null) return undefined;
  let next: URL;
  try {
    next = new URL(m[1]!, base);
  } catch {
    throw new RegistryError(`${what}: the registry sent a next page that is not a URL`);
  }
  if (next.host !== base.host) throw new RegistryError(`${what}: the registry sent a next page on another host (${next.host})`);
  // A registry behind a TLS proxy may name its own pages http://; keep the scheme it is spoken to with.
  next.protocol = base.protocol;
  return next;
}
