/**
 * Validation of promoter manifests before any network call, for plain files and thin directories
 * alike (kpromo skips it for thin directories, and malformed digests reached real manifests that way).
 * Every problem is collected; the caller reports them all at once.
 */
import { parseReference, type Reference } from "../name/reference.js";
import type { Location, Problem, PromoterManifest, RegistryEntry } from "./manifest.js";

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const TAG = /^\w[\w.-]{0,127}$/;

/** One promotion: a digest, with one tag or none, from the source repository to one destination. */
export interface Edge {
  source: Repo;
  destination: Repo;
  digest: string;
  /** null: a tagless promotion. */
  tag: string | null;
  /** Where the manifest asks for it. */
  at: Location;
}

/** A repository: `registry` is the host, `repository` the path under it; `name` is both, joined. */
export interface Repo {
  registry: string;
  repository: string;
  name: string;
}

/**
 * Repositories are shared by every edge that names them: a thin directory of 440,000 edges has a few
 * thousand repositories, and one object each keeps validation within memory.
 */
const repos = new Map<string, Repo>();

function repoOf(prefix: string, image: string): Repo {
  const full = `${prefix}/${image}`;
  let repo = repos.get(full);
  if (repo === undefined) {
    const ref: Reference = parseReference(full);
    repo = { registry: ref.registry, repository: ref.repository, name: `${ref.registry}/${ref.repository}` };
    repos.set(full, repo);
  }
  return repo;
}

function problem(at: Location, field: string, message: string): Problem {
  return { ...at, field, message };
}

function checkRegistry(reg: RegistryEntry, problems: Problem[]): boolean {
  if (reg.name === "") {
    problems.push(problem(reg.at, `${reg.field}.name`, "must not be empty"));
    return false;
  }
  try {
    const ref = parseReference(`${reg.name}/x`);
    if (!reg.name.startsWith(ref.registry)) throw new Error(`"${reg.name}" does not start with a registry host`);
    return true;
  } catch (err) {
    problems.push(problem(reg.at, `${reg.name === "" ? reg.field : `${reg.field}.name`}`, `not a registry name: ${(err as Error).message}`));
    return false;
  }
}

/**
 * Checks every manifest and returns its problems (empty when all is well) and, from the manifests
 * that passed, the set of edges: one per (digest, tag or none, destination), each once.
 */
export function validateManifests(manifests: PromoterManifest[]): { problems: Problem[]; edges: Edge[] } {
  const problems: Problem[] = [];
  repos.clear();
  // Nested maps keyed by strings the edges share anyway (no key string per edge): at 440,000 edges
  // a flat map of "destination|digest|tag" keys alone took more memory than everything else.
  /** destination name -> digest -> tags (null: tagless) already made into edges. */
  const seen = new Map<string, Map<string, Set<string | null>>>();
  const edges: Edge[] = [];
  /** destination name -> tag -> the first claim on it, for conflicts across manifests. */
  const claims = new Map<string, Map<string, { digest: string; at: Location }>>();

  for (const m of manifests) {
    const before = problems.length;
    if (m.registries.length === 0) problems.push(problem(m.registriesAt, "registries", "must list the source registry (src: true) and its destinations"));
    const sources = m.registries.filter((r) => r.src);
    if (sources.length === 0 && m.registries.length > 0) problems.push(problem(m.registriesAt, "registries", "no source registry: exactly one must have src: true"));
    for (const extra of sources.slice(1)) {
      problems.push(problem(extra.srcAt, `${extra.field}.src`, `a second source registry (the first is ${sources[0]!.name} at line ${sources[0]!.at.line}): exactly one may have src: true`));
    }
    const goodRegistries = m.registries.filter((r) => checkRegistry(r, problems));

    for (const img of m.images) {
      let goodName = true;
      if (img.name === "") {
        problems.push(problem(img.at, `${img.field}.name`, "must not be empty"));
        goodName = false;
      } else if (goodRegistries.length > 0) {
        try {
          repoOf(goodRegistries[0]!.name, img.name);
        } catch (err) {
          problems.push(problem(img.at, `${img.field}.name`, `not a repository name: ${(err as Error).message}`));
          goodName = false;
        }
      }
      for (const d of img.dmap) {
        if (!DIGEST.test(d.digest)) problems.push(problem(d.at, d.field, `invalid digest "${d.digest}": want sha256: and 64 lowercase hex digits`));
        for (const t of d.tags) {
          if (!TAG.test(t.tag)) problems.push(problem(t.at, t.field, `invalid tag "${t.tag}": letters, digits, _ . -, at most 128, not starting with . or -`));
        }
      }
      if (!goodName) continue;
      // Cross-manifest conflicts: a destination tag claimed by two digests.
      for (const dst of goodRegistries.filter((r) => !r.src)) {
        const destination = repoOf(dst.name, img.name);
        let byTag = claims.get(destination.name);
        if (byTag === undefined) claims.set(destination.name, (byTag = new Map()));
        for (const d of img.dmap) {
          for (const t of d.tags) {
            const first = byTag.get(t.tag);
            if (first === undefined) {
              byTag.set(t.tag, { digest: d.digest, at: t.at });
            } else if (first.digest !== d.digest) {
              problems.push(
                problem(t.at, t.field, `${destination.name}:${t.tag} is claimed by two digests: ${d.digest} here and ${first.digest} at ${first.at.file}:${first.at.line}`),
              );
            }
          }
        }
      }
    }
    if (problems.length > before) continue;

    const src = sources[0]!;
    for (const img of m.images) {
      const source = repoOf(src.name, img.name);
      for (const dst of m.registries.filter((r) => !r.src)) {
        const destination = repoOf(dst.name, img.name);
        let byDigest = seen.get(destination.name);
        if (byDigest === undefined) seen.set(destination.name, (byDigest = new Map()));
        for (const d of img.dmap) {
          let tagsSeen = byDigest.get(d.digest);
          if (tagsSeen === undefined) byDigest.set(d.digest, (tagsSeen = new Set()));
          const tags = d.tags.length > 0 ? d.tags.map((t) => ({ tag: t.tag as string | null, at: t.at })) : [{ tag: null, at: d.at }];
          for (const { tag, at } of tags) {
            if (tagsSeen.has(tag)) continue;
            tagsSeen.add(tag);
            edges.push({ source, destination, digest: d.digest, tag, at });
          }
        }
      }
    }
  }
  return { problems, edges };
}

export function formatProblem(p: Problem): string {
  const line = `${p.file}${p.line > 0 ? `:${p.line}` : ""}: ${p.field}: ${p.message}`;
  // Keys and values quoted from the file (and the YAML parser's own messages) may hold a carriage
  // return, a newline or an escape sequence: one problem stays one line, and prints no control codes.
  // eslint-disable-next-line no-control-regex
  return line.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
