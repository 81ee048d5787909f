/**
 * Provenance of a built image: an in-toto Statement v1 (in-toto/attestation spec/v1) whose predicate
 * is SLSA Provenance v1 (slsa-framework/slsa spec/build-provenance.md), made from a JSON description
 * of the build. The same description gives the same bytes: nothing of the host or the clock goes in
 * unless the description carries it (`metadata`, when the build is stamped).
 */
import * as z from "zod";
import { parseDigest, type Digest } from "../name/digest.js";
import { parseReference } from "../name/reference.js";
import { describeIssues } from "../spec/schemas.js";
import { OciError } from "../util/errors.js";
import { VERSION } from "../version.js";

export const STATEMENT_V1 = "https://in-toto.io/Statement/v1";
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
/** Our build type; what each parameter means is in docs/provenance.md ("Build type"). */
export const BUILD_TYPE = "https://github.com/rules-ociutil/rules_ociutil/blob/main/docs/provenance.md#build-type-v1";
/** The builder when the description names none: a Bazel build whose platform is not attested. */
export const DEFAULT_BUILDER_ID = "https://bazel.build/";

const sha256 = z.string().refine((s) => s.startsWith("sha256:") && isDigestString(s), "a sha256:<64 hex> digest");
const rfc3339Utc = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, "an RFC 3339 time in UTC (…Z)");
const uri = z.string().regex(/^[a-z][a-z0-9+.-]*:\S+$/, "a URI");
const platform = z.string().regex(/^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/, "os/arch[/variant]");

const BuildDescriptionSchema = z
  .object({
    /** The subject name of the top manifest (its repository, or a Bazel label). */
    name: z.string().min(1).optional(),
    subjects: z.array(z.object({ name: z.string().min(1).optional(), digest: sha256 }).strict()).optional(),
    buildType: uri.optional(),
    externalParameters: z.record(z.string(), z.unknown()),
    internalParameters: z.record(z.string(), z.unknown()).optional(),
    bases: z
      .array(
        z
          .object({
            repository: z.string().min(1),
            digest: sha256,
            tag: z.string().min(1).optional(),
            platform: platform.optional(),
          })
          .strict(),
      )
      .default([]),
    source: z.object({ url: z.string().regex(/^https?:\/\/\S+$/, "an http(s) URL"), revision: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, "a git commit id"), ref: z.string().min(1).optional() }).strict().optional(),
    builder: z.object({ id: uri.optional(), version: z.record(z.string(), z.string()).optional() }).strict().optional(),
    metadata: z.object({ invocationId: z.string().min(1).optional(), startedOn: rfc3339Utc.optional(), finishedOn: rfc3339Utc.optional() }).strict().optional(),
  })
  .strict();
export type BuildDescription = z.infer<typeof BuildDescriptionSchema>;

function isDigestString(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

export function parseBuildDescription(json: unknown, what: string): BuildDescription {
  const parsed = BuildDescriptionSchema.safeParse(json);
  if (!parsed.success) throw new OciError(`${what}: ${describeIssues(parsed.error)}`);
  for (const base of parsed.data.bases) {
    try {
      parseReference(base.repository);
    } catch (err) {
      throw new OciError(`${what}: bases: ${(err as Error).message}`);
    }
  }
  return parsed.data;
}

export interface Subject {
  name?: string;
  digest: Digest;
}

type ResourceDescriptor = { uri?: string; name?: string; digest: Record<string, string>; annotations?: Record<string, string> };

/**
 * purl-spec types/oci-definition.json: `pkg:oci/<name>@sha256%3A<hex>?repository_url=<registry/repo>`,
 * name the last path segment, lowercased; no namespace. `:` in a value is percent-encoded, `/` is not.
 */
export function ociPurl(repository: string, digest: Digest): string {
  const ref = parseReference(repository);
  const full = `${ref.registry}/${ref.repository}`;
  const name = ref.repository.split("/").pop()!.toLowerCase();
  const enc = (s: string) => encodeURIComponent(s).replace(/%2F/g, "/");
  return `pkg:oci/${enc(name)}@${enc(digest)}?repository_url=${enc(full)}`;
}

const hexOf = (d: Digest) => d.slice(d.indexOf(":") + 1);

/** The Statement for `subjects` (the top manifest first) built as `build` describes. */
export function provenanceStatement(subjects: Subject[], build: BuildDescription): object {
  if (subjects.length === 0) throw new OciError("provenance needs at least one subject");
  const resolvedDependencies: ResourceDescriptor[] = build.bases.map((b) => {
    const annotations = { ...(b.tag !== undefined ? { tag: b.tag } : {}), ...(b.platform !== undefined ? { platform: b.platform } : {}) };
    return {
      uri: ociPurl(b.repository, b.digest as Digest),
      digest: { sha256: hexOf(b.digest as Digest) },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    };
  });
  if (build.source !== undefined) {
    resolvedDependencies.push({
      uri: `git+${build.source.url}${build.source.ref !== undefined ? `@${build.source.ref}` : ""}`,
      digest: { gitCommit: build.source.revision },
    });
  }
  const metadata = build.metadata;
  return {
    _type: STATEMENT_V1,
    subject: subjects.map((s) => ({ ...(s.name !== undefined ? { name: s.name } : {}), digest: { sha256: hexOf(s.digest) } })),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: build.buildType ?? BUILD_TYPE,
        externalParameters: build.externalParameters,
        ...(build.internalParameters !== undefined ? { internalParameters: build.internalParameters } : {}),
        resolvedDependencies,
      },
      runDetails: {
        builder: { id: build.builder?.id ?? DEFAULT_BUILDER_ID, version: { rules_ociutil: VERSION, ...(build.builder?.version ?? {}) } },
        ...(metadata !== undefined && Object.keys(metadata).length > 0 ? { metadata } : {}),
      },
    },
  };
}
