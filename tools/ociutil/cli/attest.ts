import type { Command } from "commander";
import { readFile, stat } from "node:fs/promises";
import { identifier, repositoryName } from "../name/reference.js";
import { attach } from "../ops/attach.js";
import { attestationArtifact, checkSubject, parseStatement } from "../provenance/attestation.js";
import { loadSigningKey } from "../provenance/dsse.js";
import { OciError } from "../util/errors.js";
import { action } from "./run.js";
import { addRegistryOptions, clientFor, print, reference, type RegistryFlags } from "./options.js";

interface AttestFlags extends RegistryFlags {
  statement: string;
  key?: string;
}

/** A statement is a small JSON document; a bigger file is a mistake, not provenance. */
const MAX_STATEMENT_BYTES = 4 << 20;

export function registerAttest(program: Command): void {
  addRegistryOptions(
    program
      .command("attest")
      .description("attach an in-toto statement to an image as an OCI 1.1 referrer, signed (DSSE in a Sigstore bundle) with --key; prints registry/repo@<referrer digest>")
      .argument("<ref>", "the image or index: registry/repo[:tag][@digest]")
      .requiredOption("--statement <file>", "in-toto Statement (v1 or v0.1) JSON; one subject must have the image's digest")
      .option("--key <pem>", "ECDSA P-256 private key, PEM (PKCS#8 or SEC1, as openssl writes): sign it so cosign verify-attestation accepts it"),
  ).action(
    action(async (refArg: string, flags: AttestFlags) => {
      const ref = reference(refArg);
      const size = (await stat(flags.statement)).size;
      if (size > MAX_STATEMENT_BYTES) throw new OciError(`--statement ${flags.statement}: ${size} bytes, more than the ${MAX_STATEMENT_BYTES} a statement may have`);
      const bytes = await readFile(flags.statement);
      const statement = parseStatement(bytes, `--statement ${flags.statement}`);
      const key = flags.key !== undefined ? await loadSigningKey(flags.key) : undefined;

      const repo = clientFor(flags).repository(ref, "push");
      const subject = await repo.getManifest(identifier(ref));
      checkSubject(statement, subject.digest, `--statement ${flags.statement}`);
      const created = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
      const { manifest, via } = await attach(
        repo,
        { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length },
        attestationArtifact(bytes, statement, key, created),
      );
      const name = repositoryName(ref);
      print(
        flags,
        {
          reference: `${name}@${manifest.digest}`,
          subject: `${name}@${subject.digest}`,
          predicateType: statement.predicateType,
          signed: key !== undefined,
          listedBy: via === "api" ? "referrers API" : "referrers tag",
        },
        `${name}@${manifest.digest}`,
      );
    }),
  );
}
