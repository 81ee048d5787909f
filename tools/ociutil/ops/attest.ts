/**
 * attest: an in-toto statement file, checked (and its signing key loaded) before anything is pushed,
 * then attached to a manifest as a referrer (provenance/attestation.ts says in which shape).
 */
import { readFile, stat } from "node:fs/promises";
import type { Digest } from "../name/digest.js";
import { attestationArtifact, checkSubject, parseStatement, type Statement } from "../provenance/attestation.js";
import { loadSigningKey, type SigningKey } from "../provenance/dsse.js";
import type { RemoteRepository } from "../remote/registry.js";
import type { Descriptor } from "../spec/schemas.js";
import { OciError } from "../util/errors.js";
import { attach, type Attached } from "./attach.js";

/** A statement is a small JSON document; a bigger file is a mistake, not provenance. */
const MAX_STATEMENT_BYTES = 4 << 20;

export interface PreparedAttestation {
  /** For messages: "--statement FILE". */
  what: string;
  bytes: Buffer;
  statement: Statement;
  key: SigningKey | undefined;
}

export async function prepareAttestation(statementFile: string, keyFile: string | undefined, flag = "--statement"): Promise<PreparedAttestation> {
  const what = `${flag} ${statementFile}`;
  const size = (await stat(statementFile)).size;
  if (size > MAX_STATEMENT_BYTES) throw new OciError(`${what}: ${size} bytes, more than the ${MAX_STATEMENT_BYTES} a statement may have`);
  const bytes = await readFile(statementFile);
  const statement = parseStatement(bytes, what);
  const key = keyFile !== undefined ? await loadSigningKey(keyFile) : undefined;
  return { what, bytes, statement, key };
}

/** Refuses a statement none of whose subjects is `digest`. */
export function checkAttestationSubject(prepared: PreparedAttestation, digest: Digest): void {
  checkSubject(prepared.statement, digest, prepared.what);
}

export async function attest(repo: RemoteRepository, subject: Pick<Descriptor, "mediaType" | "digest" | "size">, prepared: PreparedAttestation): Promise<Attached> {
  checkAttestationSubject(prepared, subject.digest);
  const created = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  return await attach(repo, subject, attestationArtifact(prepared.bytes, prepared.statement, prepared.key, created));
}
