/** `ociutil structure-test`: container-structure-test's file and metadata checks, on the image's layers. */
import type { Command } from "commander";
import { action } from "../cli/run.js";
import { collect } from "../cli/options.js";
import { openImages } from "../imagefs/image.js";
import { problemLine } from "../imagefs/listing.js";
import { readFilesystem } from "../imagefs/read.js";
import { formatPlatform, parsePlatform } from "../spec/manifest.js";
import { OciError, UsageError } from "../util/errors.js";
import { runChecks } from "./checks.js";
import { readStructureConfig } from "./config.js";

export function registerStructureTest(program: Command): void {
  program
    .command("structure-test")
    .description("check an image's files and config against container-structure-test YAML (no container runtime)")
    .argument("<layout>", "OCI image layout directory, optionally :ref")
    .requiredOption("-c, --config <file>", "a container-structure-test YAML (or JSON) file (repeatable)", collect, [])
    .option("--platform <os/arch[/variant]>", "check one image of a multi-platform index (default: every one)")
    .option("--json", "print one JSON object: the results per platform")
    .action(
      action(async (arg: string, flags: { config: string[]; platform?: string; json?: boolean }) => {
        if (flags.config.length === 0) throw new UsageError("structure-test needs at least one --config");
        const configs = [];
        for (const f of flags.config) configs.push(await readStructureConfig(f));
        let platform;
        try {
          platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        const images = await openImages(arg, platform, true);
        const report = [];
        let failed = 0;
        let total = 0;
        const failedPlatforms: string[] = [];
        for (const image of images) {
          const p = formatPlatform({ os: image.config.os, architecture: image.config.architecture, variant: image.config.variant });
          const fs = await readFilesystem(image);
          const results = await runChecks(image, fs, configs);
          // A check must not pass on what could not be seen: an entry the layers hold but the
          // filesystem could not apply is a failure of its own.
          if (fs.problems.length > 0) results.push({ check: "layers", pass: false, failures: fs.problems.map((pr) => problemLine(image, pr)) });
          const bad = results.filter((r) => !r.pass).length;
          total += results.length;
          failed += bad;
          if (bad > 0) failedPlatforms.push(p);
          report.push({ platform: p, image: image.manifest.digest, results });
          if (!flags.json) {
            const lines = results.map((r) => `${r.pass ? "PASS" : "FAIL"} ${p} ${r.check}${r.pass ? "" : `: ${r.failures.join("; ")}`}`);
            process.stdout.write(`${[...lines, `${p}: ${results.length - bad} passed, ${bad} failed`].join("\n")}\n`);
          }
        }
        if (flags.json) process.stdout.write(`${JSON.stringify({ passed: failed === 0, platforms: report })}\n`);
        if (total === 0) throw new OciError("structure test has no checks: every config is empty");
        if (failed > 0) throw new OciError(`structure test failed: ${failed} of ${total} checks (${failedPlatforms.join(", ")})`);
      }),
    );
}
