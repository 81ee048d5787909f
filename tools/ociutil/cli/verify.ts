import { Option, type Command } from "commander";
import { verifyLayout } from "../ops/verify.js";
import { defaultJobs } from "../util/pool.js";
import { OciError } from "../util/errors.js";
import { action } from "./run.js";
import { positiveInt } from "./options.js";

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description("check that an OCI image layout is complete and valid: schemas, every blob's size and digest, layer media types")
    .argument("<dir>", "OCI image layout directory")
    .addOption(new Option("-j, --jobs <n>", "blobs hashed in parallel").argParser(positiveInt("--jobs")).default(defaultJobs()))
    .option("--json", "print one JSON object describing the result")
    .action(
      action(async (dir: string, flags: { jobs: number; json?: boolean }) => {
        const result = await verifyLayout(dir, flags.jobs);
        if (flags.json) process.stdout.write(`${JSON.stringify({ valid: result.problems.length === 0, ...result })}\n`);
        if (result.problems.length > 0) {
          if (!flags.json) for (const p of result.problems) process.stderr.write(`${dir}: ${p}\n`);
          throw new OciError(`${dir} is not a complete, valid OCI image layout (${result.problems.length} problem${result.problems.length === 1 ? "" : "s"})`);
        }
        if (!flags.json) process.stdout.write(`${dir}: ok (${result.manifests} manifests, ${result.blobs} blobs, ${result.bytes} bytes)\n`);
      }),
    );
}
