import type { Command } from "commander";
import { identifier, repositoryName } from "../name/reference.js";
import { attest, prepareAttestation } from "../ops/attest.js";
import { action } from "./run.js";
import { addRegistryOptions, clientFor, print, reference, type RegistryFlags } from "./options.js";

interface AttestFlags extends RegistryFlags {
  statement: string;
  key?: string;
}

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
      const prepared = await prepareAttestation(flags.statement, flags.key);
      const repo = clientFor(flags).repository(ref, "push");
      const subject = await repo.getManifest(identifier(ref));
      const { manifest, via } = await attest(repo, { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length }, prepared);
      const name = repositoryName(ref);
      print(flags, { ...attestationJson(name, manifest.digest, prepared, via), subject: `${name}@${subject.digest}` }, `${name}@${manifest.digest}`);
    }),
  );
}

export function attestationJson(name: string, digest: string, prepared: { statement: { predicateType: string }; key: unknown }, via: "api" | "tag"): object {
  return {
    reference: `${name}@${digest}`,
    predicateType: prepared.statement.predicateType,
    signed: prepared.key !== undefined,
    listedBy: via === "api" ? "referrers API" : "referrers tag",
  };
}
