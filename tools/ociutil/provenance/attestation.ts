/**
 * An in-toto Statement attached to an image as an OCI 1.1 referrer, in the shapes readers find:
 *
 * - signed: a Sigstore bundle v0.3 holding the DSSE envelope, one layer
 *   `application/vnd.dev.sigstore.bundle.v0.3+json`, `artifactType` the same, manifest annotations
 *   `dev.sigstore.bundle.content: dsse-envelope` and `dev.sigstore.bundle.predicateType`: what cosign 3
 *   writes and what `cosign verify-attestation` reads first (sigstore/cosign pkg/oci/remote Bundle:
 *   exactly one layer whose media type starts with `application/vnd.dev.sigstore.bundle`).
 * - unsigned: the statement itself, one layer `application/vnd.in-toto+json` (BuildKit's layer type
 *   and `in-toto.io/predicate-type` annotation). `oras discover` lists it; cosign verifies only signed ones.
 */
import * as z from "zod";
import type { Digest } from "../name/digest.js";
import type { Artifact } from "../ops/attach.js";
import { describeIssues } from "../spec/schemas.js";
import { OciError } from "../util/errors.js";
import { signEnvelope, type SigningKey } from "./dsse.js";

export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
export const SIGSTORE_BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json";
export const STATEMENT_TYPES = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"] as const;

const hexDigest = z.string().regex(/^[0-9a-f]+$/, "lowercase hex");
/** in-toto attestation spec/v1/statement.md; top-level fields exactly these (cosign parses it strictly). */
const StatementSchema = z
  .object({
    _type: z.enum(STATEMENT_TYPES),
    subject: z
      .array(z.object({ name: z.string().optional(), uri: z.string().optional(), digest: z.record(z.string(), hexDigest) }).passthrough())
      .min(1),
    predicateType: z.string().min(1),
    predicate: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type Statement = z.infer<typeof StatementSchema>;

/** Parses and checks a statement file's bytes; they are attached as they are, never re-serialized. */
export function parseStatement(bytes: Buffer, what: string): Statement {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new OciError(`${what}: not JSON (${(err as Error).message})`);
  }
  const parsed = StatementSchema.safeParse(json);
  if (!parsed.success) throw new OciError(`${what}: not an in-toto Statement: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Verifiers match subjects by digest: refuse a statement that does not name the image it is attached to. */
export function checkSubject(statement: Statement, digest: Digest, what: string): void {
  const [alg, hex] = digest.split(":") as [string, string];
  if (!statement.subject.some((s) => s.digest[alg] === hex)) {
    throw new OciError(`${what}: no subject has digest ${digest}, the image it would be attached to`);
  }
}

/** The referrer for a statement: a signed Sigstore bundle with `key`, else the bare statement. */
export function attestationArtifact(bytes: Buffer, statement: Statement, key: SigningKey | undefined, created: string): Artifact {
  if (key === undefined) {
    return {
      artifactType: IN_TOTO_PAYLOAD_TYPE,
      layers: [{ mediaType: IN_TOTO_PAYLOAD_TYPE, bytes, annotations: { "in-toto.io/predicate-type": statement.predicateType } }],
      annotations: { "in-toto.io/predicate-type": statement.predicateType, "org.opencontainers.image.created": created },
    };
  }
  const bundle = {
    mediaType: SIGSTORE_BUNDLE_V03,
    verificationMaterial: { publicKey: { hint: key.hint } },
    dsseEnvelope: signEnvelope(IN_TOTO_PAYLOAD_TYPE, bytes, key),
  };
  return {
    artifactType: SIGSTORE_BUNDLE_V03,
    layers: [{ mediaType: SIGSTORE_BUNDLE_V03, bytes: Buffer.from(JSON.stringify(bundle)) }],
    annotations: {
      "dev.sigstore.bundle.content": "dsse-envelope",
      "dev.sigstore.bundle.predicateType": statement.predicateType,
      "org.opencontainers.image.created": created,
    },
  };
}
