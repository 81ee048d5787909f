import type { Command } from "commander";
import { copy } from "../ops/copy.js";
import { action } from "./run.js";
import { addRegistryOptions, clientFor, collectTag, print, reference, type RegistryFlags } from "./options.js";
import { addRecordOptions, checkBeforePush, recordPush, recordTargets, type RecordFlags } from "./records.js";

interface CopyFlags extends RegistryFlags, RecordFlags {
  tag: string[];
  referrers: boolean;
}

export function registerCopy(program: Command): void {
  addRecordOptions(
    addRegistryOptions(
      program
        .command("copy")
        .description("copy an image or index between registries (every platform, digest preserved); prints registry/repo@digest")
        .argument("<src>", "source reference")
        .argument("<dst>", "destination reference: registry/repo[:tag]")
        .option("-t, --tag <tag>", "also tag it with this (repeatable)", collectTag, [])
        .option("--no-referrers", "do not copy referrers (OCI 1.1) and cosign sha256-<hex>.sig/.att/.sbom tags"),
    ),
  ).action(
    action(async (srcArg: string, dstArg: string, flags: CopyFlags) => {
      const targets = recordTargets(flags);
      const { pushed, ...result } = await copy(clientFor(flags), reference(srcArg), reference(dstArg), {
        tags: flags.tag,
        jobs: flags.jobs,
        referrers: flags.referrers,
        beforeTransfer: (p) => checkBeforePush(targets, p),
      });
      const records = await recordPush(targets, pushed);
      print(flags, { ...result, ...records }, result.reference);
    }),
  );
}
