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
 * The images of one name in one manifest: they go from one source repository to the same
 * destination repositories, so what is checked and deduplicated per destination is kept once here.
 * A thin directory of 720,000 edges has about 20,000 owners and 8,000 destination repositories;
 * anything kept per (destination, digest) or per edge would be tens of megabytes more.
 */
interface Owner {
  destinations: Repo[];
  /** tag -> its first claim in this owner. */
  claims: Map<string, { digest: string; at: Location }>;
  /** digest -> the tags (null: tagless) already made into edges, to every destination. */
  pairs: Map<string, Set<string | null>>;
}

/**
 * Checks every manifest and returns its problems (empty when all is well) and, from the manifests
 * that passed, the set of edges: one per (digest, tag or none, destination), each once.
 */
export function validateManifests(manifests: PromoterManifest[]): { problems: Problem[]; edges: Edge[] } {
  const problems: Problem[] = [];
  repos.clear();
  /** destination name -> the owners that promote to it (nearly always one; two manifests may share one). */
  const ownersOf = new Map<string, Owner[]>();
  const edges: Edge[] = [];

  for (const m of manifests) {
    const before = problems.length;
    if (m.registries.length === 0) problems.push(problem(m.registriesAt, "registries", "must list the source registry (src: true) and its destinations"));
    const sources = m.registries.filter((r) => r.src);
    if (sources.length === 0 && m.registries.length > 0) problems.push(problem(m.registriesAt, "registries", "no source registry: exactly one must have src: true"));
    for (const extra of sources.slice(1)) {
      problems.push(problem(extra.srcAt, `${extra.field}.src`, `a second source registry (the first is ${sources[0]!.name} at line ${sources[0]!.at.line}): exactly one may have src: true`));
    }
    const goodRegistries = m.registries.filter((r) => checkRegistry(r, problems));
    const destinationPrefixes = [...new Set(goodRegistries.filter((r) => !r.src).map((r) => r.name))];
    const owners = new Map<string, Owner>();

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
      let owner = owners.get(img.name);
      if (owner === undefined) {
        owner = { destinations: destinationPrefixes.map((prefix) => repoOf(prefix, img.name)), claims: new Map(), pairs: new Map() };
        owners.set(img.name, owner);
        for (const destination of owner.destinations) {
          const list = ownersOf.get(destination.name);
          if (list === undefined) ownersOf.set(destination.name, [owner]);
          else list.push(owner);
        }
      }
      checkClaims(owner, img.dmap, ownersOf, problems);
    }
    if (problems.length > before) continue;

    const src = sources[0]!;
    for (const img of m.images) {
      const owner = owners.get(img.name)!;
      const source = repoOf(src.name, img.name);
      for (const d of img.dmap) {
        let made = owner.pairs.get(d.digest);
        if (made === undefined) owner.pairs.set(d.digest, (made = new Set()));
        const tagged = d.tags.length > 0;
        for (let i = 0; i < (tagged ? d.tags.length : 1); i++) {
          const tag = tagged ? d.tags[i]!.tag : null;
          if (made.has(tag)) continue;
          made.add(tag);
          const at = tagged ? d.tags[i]!.at : d.at;
          for (const destination of owner.destinations) {
            // Another manifest promoting the same image to the same repository made it already?
            const others = ownersOf.get(destination.name)!;
            if (others.length > 1 && others.some((o) => o !== owner && o.pairs.get(d.digest)?.has(tag) === true)) continue;
            edges.push({ source, destination, digest: d.digest, tag, at });
          }
        }
      }
    }
  }
  return { problems, edges };
}

/** A destination tag claimed by two digests is a problem, named once per destination, within a manifest or across them. */
function checkClaims(owner: Owner, dmap: PromoterManifest["images"][number]["dmap"], ownersOf: Map<string, Owner[]>, problems: Problem[]): void {
  for (const d of dmap) {
    for (const t of d.tags) {
      const mine = owner.claims.get(t.tag);
      for (const destination of owner.destinations) {
        let first = mine;
        const others = ownersOf.get(destination.name)!;
        if (first === undefined && others.length > 1) {
          for (const o of others) if (o !== owner) first ??= o.claims.get(t.tag);
        }
        if (first !== undefined && first.digest !== d.digest) {
          problems.push(
            problem(t.at, t.field, `${destination.name}:${t.tag} is claimed by two digests: ${d.digest} here and ${first.digest} at ${first.at.file}:${first.at.line}`),
          );
        }
      }
      if (mine === undefined) owner.claims.set(t.tag, { digest: d.digest, at: t.at });
    }
  }
}

export function formatProblem(p: Problem): string {
  const line = `${p.file}${p.line > 0 ? `:${p.line}` : ""}: ${p.field}: ${p.message}`;
  // Keys and values quoted from the file (and the YAML parser's own messages) may hold a carriage
  // return, a newline or an escape sequence: one problem stays one line, and prints no control codes.
  // eslint-disable-next-line no-control-regex
  return line.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
