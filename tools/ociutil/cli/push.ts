import type { Command } from "commander";
import { Option } from "commander";
import { push } from "../ops/push.js";
import { action } from "./run.js";
import { addRegistryOptions, clientFor, collect, positiveInt, print, reference, type RegistryFlags } from "./options.js";
import { addRecordOptions, checkBeforePush, recordPush, recordTargets, type RecordFlags } from "./records.js";

interface PushFlags extends RegistryFlags, RecordFlags {
  tag: string[];
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
        .option("-t, --tag <tag>", "also tag it with this (repeatable)", collect, [])
        .option("--ref-name <name>", "push the index.json entry with this org.opencontainers.image.ref.name")
        .addOption(new Option("--chunk-size <bytes>", "upload blobs in PATCH chunks of this size instead of one PUT").argParser(positiveInt("--chunk-size"))),
    ),
  ).action(
    action(async (dir: string, refArg: string, flags: PushFlags) => {
      const ref = reference(refArg);
      const targets = recordTargets(flags);
      const { pushed, ...result } = await push(clientFor(flags), dir, ref, {
        tags: flags.tag,
        jobs: flags.jobs,
        ...(flags.refName !== undefined ? { refName: flags.refName } : {}),
        ...(flags.chunkSize !== undefined ? { chunkSize: flags.chunkSize } : {}),
        beforeTransfer: (p) => checkBeforePush(targets, p),
      });
      const records = await recordPush(targets, pushed);
      print(flags, { ...result, ...records }, result.reference);
    }),
  );
}
