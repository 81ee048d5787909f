import type { Command } from "commander";
import { copy } from "../ops/copy.js";
import { action } from "./run.js";
import { addRegistryOptions, clientFor, collectTag, print, reference, type RegistryFlags } from "./options.js";

interface CopyFlags extends RegistryFlags {
  tag: string[];
}

export function registerCopy(program: Command): void {
  addRegistryOptions(
    program
      .command("copy")
      .description("copy an image or index between registries (every platform, digest preserved); prints registry/repo@digest")
      .argument("<src>", "source reference")
      .argument("<dst>", "destination reference: registry/repo[:tag]")
      .option("-t, --tag <tag>", "also tag it with this (repeatable)", collectTag, []),
  ).action(
    action(async (srcArg: string, dstArg: string, flags: CopyFlags) => {
      const result = await copy(clientFor(flags), reference(srcArg), reference(dstArg), { tags: flags.tag, jobs: flags.jobs });
      print(flags, result, result.reference);
    }),
  );
}
