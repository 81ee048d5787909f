import type { Command } from "commander";
import { Option } from "commander";
import { push } from "../ops/push.js";
import { action } from "./run.js";
import { addRegistryOptions, clientFor, collectTag, positiveInt, print, reference, type RegistryFlags } from "./options.js";
import { UsageError } from "../util/errors.js";
import { attest, checkAttestationSubject, prepareAttestation } from "../ops/attest.js";
import { attestationJson } from "./attest.js";
import { attach } from "../ops/attach.js";
import { checkSbomSubject, readSbomFile, sbomArtifact } from "../sbom/referrer.js";
import { addRecordOptions, checkBeforePush, recordPush, recordTargets, type RecordFlags } from "./records.js";

interface PushFlags extends RegistryFlags, RecordFlags {
  tag: string[];
  attest?: string;
  attestKey?: string;
  sbom?: string;
  refName?: string;
  chunkSize?: number;
}

export function registerPush(program: Command): void {
  addRecordOptions(
    addRegistryOptions(
      program
        .command("push")
        .description("push the image or index of an OCI image layout to a registry, digest preserved; prints registry/repo@digest")
        .argument("<dir>", "OCI image layout directory")
        .argument("<ref>", "destination: registry/repo[:tag]")
        .option("-t, --tag <tag>", "also tag it with this (repeatable)", collectTag, [])
        .option("--ref-name <name>", "push the index.json entry with this org.opencontainers.image.ref.name")
        .addOption(new Option("--chunk-size <bytes>", "upload blobs in PATCH chunks of this size instead of one PUT").argParser(positiveInt("--chunk-size")))
        .option("--attest <statement>", "after the push, attach this in-toto statement to the pushed manifest (as `ociutil attest` does)")
        .option("--attest-key <pem>", "sign the --attest statement with this ECDSA P-256 PEM key")
        .option("--sbom <file>", "after the push, attach this SPDX or CycloneDX JSON SBOM to the pushed manifest as a referrer"),
    ),
  ).action(
    action(async (dir: string, refArg: string, flags: PushFlags) => {
      const ref = reference(refArg);
      const targets = recordTargets(flags);
      if (flags.attestKey !== undefined && flags.attest === undefined) throw new UsageError("--attest-key needs --attest");
      // The statement and key are checked before the push: a bad one must not leave an unattested image behind.
      const attestation = flags.attest !== undefined ? await prepareAttestation(flags.attest, flags.attestKey, "--attest") : undefined;
      const sbom = flags.sbom !== undefined ? await readSbomFile(flags.sbom, "--sbom") : undefined;
      const client = clientFor(flags);
      const { pushed, ...result } = await push(client, dir, ref, {
        tags: flags.tag,
        jobs: flags.jobs,
        ...(flags.refName !== undefined ? { refName: flags.refName } : {}),
        ...(flags.chunkSize !== undefined ? { chunkSize: flags.chunkSize } : {}),
        beforeTransfer: async (p) => {
          await checkBeforePush(targets, p);
          if (attestation !== undefined) checkAttestationSubject(attestation, p.digest);
          if (sbom !== undefined) checkSbomSubject(sbom, p.digest, "--sbom");
        },
      });
      let attested: object | undefined;
      if (attestation !== undefined) {
        const { manifest, via } = await attest(client.repository(ref, "push"), { mediaType: result.mediaType, digest: pushed.digest, size: pushed.size }, attestation);
        attested = attestationJson(pushed.repository, manifest.digest, attestation, via);
      }
      let sbomAttached: object | undefined;
      if (sbom !== undefined) {
        const { manifest, via } = await attach(client.repository(ref, "push"), { mediaType: result.mediaType, digest: pushed.digest, size: pushed.size }, sbomArtifact(sbom));
        sbomAttached = { reference: `${pushed.repository}@${manifest.digest}`, artifactType: sbom.mediaType, via };
      }
      const records = await recordPush(targets, pushed);
      print(
        flags,
        { ...result, ...records, ...(attested !== undefined ? { attestation: attested } : {}), ...(sbomAttached !== undefined ? { sbom: sbomAttached } : {}) },
        result.reference,
      );
    }),
  );
}
