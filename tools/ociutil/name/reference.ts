/**
 * Image references, parsed as the Docker/OCI ecosystem does (distribution/reference):
 *
 *   [registry[:port]/]repository[:tag][@algorithm:hex]
 *
 * - The first path component is a registry only if it has a "." or ":", is "localhost", or is an
 *   IPv6 literal in brackets; otherwise the registry is Docker Hub ("docker.io").
 * - On Docker Hub, a single-component repository gets "library/" ("alpine" -> "library/alpine").
 * - With neither tag nor digest, the tag is "latest". With both, the digest is what is pulled.
 */
import { isDigest, parseDigest, type Digest } from "./digest.js";
import { OciError, UsageError } from "../util/errors.js";

export const DOCKER_HUB = "docker.io";

export interface Reference {
  /** Registry host with optional port, as written ("localhost:5000", "[::1]:5000", "docker.io"). */
  readonly registry: string;
  /** Repository path within the registry ("library/alpine"). */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

/** Bad input, not a malformed command line: exit 1 like any other input that fails validation. */
export class ReferenceError extends OciError {
  override readonly name = "ReferenceError";
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const TAG_RULE = 'letters, digits, "_", "." and "-", at most 128, not starting with "." or "-"';

/** A tag as the distribution spec allows it; throws the same error a bad tag in a reference gets. */
export function parseTag(tag: string): string {
  if (!TAG.test(tag)) throw new UsageError(`bad tag ${quote(tag)} (${TAG_RULE})`);
  return tag;
}
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6 = /^\[[a-fA-F0-9:.]+\]$/;
const PORT = /^[0-9]{1,5}$/;

/**
 * `user:password@host[:port]/repo` (with or without a scheme): userinfo, as in a URL, before a
 * registry host. A digest's "@" is followed by `algorithm:hex`, which is no host[:port]/.
 */
const USERINFO = /^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?([^/@]*)@(?=(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?\/)/;

/**
 * The reference with any userinfo replaced, so that an error line never repeats a password. Besides
 * `user:password@host/`, whatever stands before an "@" that no valid digest follows is replaced too
 * ("user:password@host" without a path would otherwise be echoed as a name with a bad digest).
 */
export function redactReference(input: string): string {
  const redacted = input.replace(USERINFO, (m, userinfo: string) => m.replace(userinfo, "<redacted>"));
  if (redacted !== input) return redacted;
  const at = input.indexOf("@");
  if (at < 0 || isDigest(input.slice(at + 1))) return input;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(input)?.[0] ?? "";
  return `${scheme}<redacted>${input.slice(at)}`;
}

/** A value quoted for an error line: escaped (no raw control characters or newlines) and clipped. */
function quote(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 197)}...` : s);
}

export function parseReference(input: string): Reference {
  const bad = (why: string): never => {
    throw new ReferenceError(`invalid image reference ${quote(redactReference(input))}: ${why}`);
  };
  if (input.length === 0) bad("it is empty");
  if (USERINFO.test(input)) bad("credentials do not belong in a reference (log in with docker login, or set DOCKER_CONFIG or REGISTRY_AUTH_FILE)");
  if (/\s/.test(input)) bad("it contains whitespace");

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const digestPart = rest.slice(at + 1);
    try {
      digest = parseDigest(digestPart);
    } catch (err) {
      bad(`bad digest ${quote(digestPart)} (${(err as Error).message.replace(/^invalid digest "[^"]*": /, "")})`);
    }
    rest = rest.slice(0, at);
  }

  let registry = DOCKER_HUB;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("[") || first !== first.toLowerCase()) {
      registry = validateRegistry(first, bad);
      rest = rest.slice(slash + 1);
    }
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.indexOf(":", lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(`bad tag ${quote(tag)} (${TAG_RULE})`);
  }

  if (rest.length === 0) bad("the repository is empty");
  for (const component of rest.split("/")) {
    if (!PATH_COMPONENT.test(component)) {
      bad(`bad repository component ${quote(component)} (lowercase letters and digits, separated by ".", "_", "__" or "-")`);
    }
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !rest.includes("/")) rest = `library/${rest}`;
  if (registry.length + 1 + rest.length > 255) bad("the name is longer than 255 characters");

  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

function validateRegistry(host: string, bad: (why: string) => never): string {
  let name = host;
  let port: string | undefined;
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    if (close < 0) bad(`bad registry ${quote(host)} (unclosed IPv6 bracket)`);
    name = host.slice(0, close + 1);
    const after = host.slice(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(":")) bad(`bad registry ${quote(host)}`);
      port = after.slice(1);
    }
    if (!IPV6.test(name)) bad(`bad registry ${quote(host)} (bad IPv6 address)`);
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
    if (name.length === 0 || !name.split(".").every((label) => DOMAIN_LABEL.test(label))) {
      bad(`bad registry host ${quote(name)}`);
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535 || Number(port) === 0)) bad(`bad registry port ${quote(port)}`);
  return host;
}

/** "registry/repository", the name a digest belongs to. */
export function repositoryName(ref: Pick<Reference, "registry" | "repository">): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The canonical string: registry/repository[:tag][@digest]. */
export function formatReference(ref: Reference): string {
  return `${repositoryName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** What the registry API is asked for: the digest if there is one, else the tag. */
export function identifier(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

export function withDigest(ref: Reference, digest: Digest): Reference {
  return { registry: ref.registry, repository: ref.repository, digest };
}

export function withTag(ref: Reference, tag: string): Reference {
  if (!TAG.test(tag)) throw new ReferenceError(`invalid tag ${quote(tag)}`);
  return { registry: ref.registry, repository: ref.repository, tag };
}

/** True for registries on the loopback interface: the only ones plain HTTP is offered for by name. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(0, registry.indexOf("]") + 1) : registry.split(":")[0];
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host ?? "");
}
