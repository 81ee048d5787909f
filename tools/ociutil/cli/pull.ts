import type { Command } from "commander";
import { pull } from "../ops/pull.js";
import { parsePlatform } from "../spec/manifest.js";
import { UsageError } from "../util/errors.js";
import { action } from "./run.js";
import { addRegistryOptions, clientFor, collect, print, reference, type RegistryFlags } from "./options.js";

interface PullFlags extends RegistryFlags {
  output: string;
  platform: string[];
  shallow?: boolean;
  downloadPlan?: boolean;
}

export function registerPull(program: Command): void {
  addRegistryOptions(
    program
      .command("pull")
      .description("pull an image or index from a registry into an OCI image layout; prints registry/repo@digest")
      .argument("<ref>", "image reference: registry/repo[:tag][@digest]")
      .requiredOption("-o, --output <dir>", "layout directory to write (created if missing)")
      .option("--platform <os/arch[/variant]>", "only this platform of an index (repeatable)", collect, [])
      .option("--shallow", "manifests and configs only; record where the layers live for a later push")
      .option(
        "--download-plan",
        "with --shallow --json: add the left-out blobs' URLs and the Authorization header that fetches them (a credential: for Bazel's downloader, never log it)",
      ),
  ).action(
    action(async (refArg: string, flags: PullFlags) => {
      const ref = reference(refArg);
      const platforms = flags.platform.map(parsePlatform);
      if (flags.downloadPlan && !(flags.shallow && flags.json)) throw new UsageError("--download-plan needs --shallow and --json");
      const result = await pull(clientFor(flags), ref, {
        output: flags.output,
        platforms,
        shallow: flags.shallow ?? false,
        jobs: flags.jobs,
        downloadPlan: flags.downloadPlan ?? false,
      });
      print(flags, result, result.reference);
    }),
  );
}
