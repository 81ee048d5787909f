import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { ImageLayout } from "../layout/layout.js";
import { parsePlatform } from "../spec/manifest.js";
import { selectImage } from "../tarball/select.js";
import { checkRepoTag, writeTarball } from "../tarball/write.js";
import { action } from "./run.js";
import { UsageError } from "../util/errors.js";
import { collect, print } from "./options.js";

interface SaveFlags {
  tag: string[];
  tagsFile?: string;
  ref?: string;
  platform?: string;
  json?: boolean;
  quiet?: boolean;
}

export function registerSave(program: Command): void {
  program
    .command("save")
    .description("write one image of an OCI layout as a `docker save`-format tarball, for `docker load` / `podman load` and scanners")
    .argument("<layout>", "OCI image layout directory (complete: every layer of the image must be in it)")
    .argument("<output>", "the tarball to write (replaced atomically)")
    .option("-t, --tag <repo:tag>", "a name `docker load` gives the image, e.g. my/app:latest (repeatable)", collect, [])
    .option("--tags-file <path>", "more names, one a line (blank lines ignored): rules_oci's repo_tags file, e.g. a stamped one")
    .option("--ref <name>", "the index.json entry whose org.opencontainers.image.ref.name is this (needed if it lists several)")
    .option("--platform <os/arch[/variant]>", "for an image index: the platform to take (default: linux on this machine's architecture)")
    .option("--json", "print one JSON object describing the result")
    .option("-q, --quiet", "print nothing on success (Bazel actions: their output would be shown on every build)")
    .action(
      action(async (dir: string, output: string, flags: SaveFlags) => {
        const tags = flags.tag.map(checkRepoTag);
        if (flags.tagsFile !== undefined) tags.push(...(await tagsFromFile(flags.tagsFile)));
        const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
        const layout = await ImageLayout.open(dir);
        const selected = await selectImage(layout, { ...(flags.ref !== undefined ? { ref: flags.ref } : {}), ...(flags.platform !== undefined ? { platform: flags.platform } : {}) });
        const r = await writeTarball(layout, selected, output, tags, platform);
        if (!flags.quiet) print(flags, { output, ...r }, `${output}: ${selected.description} ${r.manifest} (${r.layers.length} layers${tags.length > 0 ? `, ${tags.join(" ")}` : ""})`);
      }),
    );
}

/** The names in a repo_tags file: one a line, blank lines ignored; a bad one names its line. */
async function tagsFromFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new UsageError(`--tags-file ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const tags: string[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "") continue;
    try {
      tags.push(checkRepoTag(line));
    } catch (e) {
      throw new UsageError(`${path}:${i + 1}: ${(e as Error).message}`);
    }
  }
  return tags;
}
