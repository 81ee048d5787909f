/** `ociutil sbom`: the image's installed OS packages (dpkg, apk) as SPDX 2.3 or CycloneDX 1.5 JSON. */
import { once } from "node:events";
import type { Command } from "commander";
import { action } from "../cli/run.js";
import { openImage } from "../imagefs/image.js";
import { warnProblems } from "../imagefs/listing.js";
import { readFilesystem } from "../imagefs/read.js";
import { formatPlatform, parsePlatform } from "../spec/manifest.js";
import { OciError, UsageError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fsutil.js";
import { readPackages } from "./database.js";
import { FORMATS, renderSbom, type SbomFormat } from "./document.js";

interface SbomFlags {
  platform?: string;
  format: string;
  output?: string;
  created?: string;
}

export function registerSbom(program: Command): void {
  program
    .command("sbom")
    .description("list the packages installed in an image (dpkg, distroless status.d, apk) as an SBOM")
    .argument("<layout>", "OCI image layout directory, optionally :ref")
    .option("--platform <os/arch[/variant]>", "the image to read from a multi-platform index")
    .option("--format <format>", `${FORMATS.join(" or ")}`, "spdx-json")
    .option("-o, --output <file>", "write the SBOM here (complete or absent, never partial) instead of stdout")
    .option("--created <time>", 'record a creation time: RFC 3339 (e.g. 2024-05-01T12:00:00Z) or "now" (default: none, so the same image gives the same bytes)')
    .action(
      action(async (arg: string, flags: SbomFlags) => {
        if (!(FORMATS as readonly string[]).includes(flags.format)) throw new UsageError(`--format must be ${FORMATS.join(" or ")}, got "${flags.format}"`);
        const created = flags.created === undefined ? undefined : parseCreated(flags.created);
        let platform;
        try {
          platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        const image = await openImage(arg, platform);
        const fs = await readFilesystem(image);
        const { packages } = await readPackages(image, fs);
        warnProblems(image, fs); // a package placed by an entry that was not applied is not listed: say so
        const text = renderSbom(flags.format as SbomFormat, {
          image: image.manifest.digest,
          platform: formatPlatform({ os: image.config.os, architecture: image.config.architecture, variant: image.config.variant }),
          packages,
          ...(created ? { created } : {}),
        });
        if (flags.output !== undefined) {
          await writeFileAtomic(flags.output, text);
          process.stderr.write(`${flags.output}: ${packages.length} packages\n`);
        } else if (!process.stdout.write(text)) {
          const [err] = await Promise.race([once(process.stdout, "drain").then(() => [undefined]), once(process.stdout, "error")]);
          if (err !== undefined && (err as NodeJS.ErrnoException).code !== "EPIPE") throw new OciError(`cannot write to stdout: ${(err as Error).message}`);
        }
      }),
    );
}

/** "now" or an RFC 3339 date-time, as UTC in whole seconds (SPDX's form: 2024-05-01T12:00:00Z). */
function parseCreated(value: string): string {
  const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
  const ms = value === "now" ? Date.now() : rfc3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new UsageError(`--created must be an RFC 3339 time such as 2024-05-01T12:00:00Z, or "now"; got "${value}"`);
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
