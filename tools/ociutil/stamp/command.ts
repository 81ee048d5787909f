/**
 * `ociutil stamp`: lines with `{{KEY}}` placeholders expanded from Bazel's workspace status files,
 * one a line, for the values only known when the build runs (oci_push's remote tags).
 */
import type { Command } from "commander";
import { action } from "../cli/run.js";
import { collect } from "../mutate/common.js";
import { writeFileAtomic } from "../util/fsutil.js";
import { expand, readStatusFiles } from "./status.js";

export function registerStamp(program: Command): void {
  program
    .command("stamp")
    .description("expand {{KEY}} placeholders from Bazel's workspace status files, one value a line")
    .option("--status <file>", "bazel-out/stable-status.txt or volatile-status.txt (repeatable; none: not stamped)", collect, [])
    .option("--value <template>", "a value to expand (repeatable); unstamped, one with a placeholder is left out", collect, [])
    .requiredOption("-o, --output <file>", "where to write the values, one a line")
    .action(
      action(async (opts: { status: string[]; value: string[]; output: string }) => {
        const values = await readStatusFiles(opts.status);
        const lines = opts.value.map((v) => expand(v, values, `--value ${v}`)).filter((v): v is string => v !== undefined);
        await writeFileAtomic(opts.output, lines.map((l) => `${l}\n`).join(""));
      }),
    );
}
