/** The commands that read an image's final filesystem: ls, cat, export, diff. */
import { once } from "node:events";
import type { Command } from "commander";
import { action } from "../cli/run.js";
import type { RegisterCommand } from "../cli/commands.js";
import { parsePlatform, type PlatformSelector } from "../spec/manifest.js";
import { OciError, UsageError } from "../util/errors.js";
import { diffFilesystems } from "./diff.js";
import { exportTar } from "./export.js";
import { byBytes, type Entry, type Filesystem } from "./filesystem.js";
import { openImage, type LayoutImage } from "./image.js";
import { escapeName, formatLine, inodeTable, toRecord, warnProblems } from "./listing.js";
import { readContent, readFilesystem } from "./read.js";
import { PathError, lstatPath, resolvePath } from "./resolve.js";
import { exit } from "../cli/exit.js";

interface ImageFlags {
  platform?: string;
  json?: boolean;
}

function platformOption(cmd: Command): Command {
  return cmd.option("--platform <os/arch[/variant]>", "the image to read from a multi-platform index, e.g. linux/arm64");
}

function platformOf(flags: ImageFlags): PlatformSelector | undefined {
  if (flags.platform === undefined) return undefined;
  try {
    return parsePlatform(flags.platform);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function load(arg: string, flags: ImageFlags): Promise<{ image: LayoutImage; fs: Filesystem }> {
  const image = await openImage(arg, platformOf(flags));
  return { image, fs: await readFilesystem(image) };
}

/**
 * Entries that could not be applied, as warnings on stderr once the command has done its work (a
 * command that fails prints only its one error line). With --json they are in the output instead.
 */
function warn(loaded: Array<{ image: LayoutImage; fs: Filesystem }>, flags: ImageFlags): void {
  if (flags.json) return;
  for (const { image, fs } of loaded) warnProblems(image, fs);
}

function problemsJson(image: LayoutImage, fs: Filesystem): object[] {
  return fs.problems.map((p) => ({ ...p, layerDigest: image.layers[p.layer]!.digest }));
}

function registerLs(program: Command): void {
  platformOption(
    program
      .command("ls")
      .description("list an image's final filesystem like ls -l, with the layer each entry came from")
      .argument("<layout>", "OCI image layout directory, optionally :ref (an org.opencontainers.image.ref.name in index.json)")
      .argument("[path]", "a directory to list, or one entry", "/")
      .option("-R, --recursive", "list everything under the directory")
      .option("--json", "print one JSON object: the image, its entries and any problems"),
  ).action(
    action(async (arg: string, path: string, flags: ImageFlags & { recursive?: boolean }) => {
      const loaded = await load(arg, flags);
      const { image, fs } = loaded;
      const { path: at, entry } = lstatPath(fs, path, arg);
      const inodes = inodeTable(fs);
      const entries: Iterable<[string, Entry]> =
        entry.type !== "dir" ? [[at, entry]] : flags.recursive ? fs.walk(at === "/" ? "" : at, entry) : children(at, entry);
      // Streamed a batch at a time: memory must not grow with the number of entries listed.
      const out = new BatchWriter();
      if (flags.json) {
        await out.add(`{"image":${JSON.stringify(image.manifest.digest)},"entries":[`);
        let first = true;
        for (const [p, e] of entries) {
          await out.add(`${first ? "" : ","}${JSON.stringify(toRecord(image, p, e, inodes))}`);
          first = false;
        }
        await out.add(`],"problems":${JSON.stringify(problemsJson(image, fs))}}\n`);
        await out.flush();
        return;
      }
      for (const [p, e] of entries) await out.add(`${formatLine(toRecord(image, p, e, inodes))}\n`);
      await out.flush();
      warn([loaded], flags);
    }),
  );
}

/** Joins small strings into ~64 KiB writes to stdout. */
class BatchWriter {
  private parts: string[] = [];
  private size = 0;

  async add(text: string): Promise<void> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 1 << 16) await this.flush();
  }

  async flush(): Promise<void> {
    const chunk = this.parts.join("");
    this.parts = [];
    this.size = 0;
    await writeOut(chunk);
  }
}

function* children(at: string, dir: Entry): Generator<[string, Entry]> {
  for (const name of [...dir.children!.keys()].sort(byBytes)) yield [`${at === "/" ? "" : at}/${name}`, dir.children!.get(name)!];
}

function registerCat(program: Command): void {
  platformOption(
    program
      .command("cat")
      .description("print a file of an image's final filesystem, following symlinks inside the image only")
      .argument("<layout>", "OCI image layout directory, optionally :ref")
      .argument("<path>", "the file, e.g. /etc/os-release"),
  ).action(
    action(async (arg: string, path: string, flags: ImageFlags) => {
      const loaded = await load(arg, flags);
      const { image, fs } = loaded;
      const found = resolvePath(fs, path, arg);
      if (found.entry.type === "dir") throw new PathError(`${arg}: ${found.path} is a directory`);
      if (found.entry.type !== "file") throw new PathError(`${arg}: ${found.path} is a ${found.entry.type}, not a regular file`);
      await readContent(image, found.entry.inode!, writeOut);
      warn([loaded], flags);
    }),
  );
}

function registerExport(program: Command): void {
  platformOption(
    program
      .command("export")
      .description("write an image's final filesystem as one tar (complete or absent, never partial)")
      .argument("<layout>", "OCI image layout directory, optionally :ref")
      .argument("<out>", "the tar file to write")
      .option("--json", "print one JSON object describing the result"),
  ).action(
    action(async (arg: string, out: string, flags: ImageFlags) => {
      const loaded = await load(arg, flags);
      const { image, fs } = loaded;
      const stats = await exportTar(image, fs, out);
      const json = { image: image.manifest.digest, output: out, ...stats, problems: problemsJson(image, fs) };
      process.stdout.write(flags.json ? `${JSON.stringify(json)}\n` : `${out}: ${stats.entries} entries, ${stats.files} files, ${stats.bytes} bytes\n`);
      warn([loaded], flags);
    }),
  );
}

function registerDiff(program: Command): void {
  program
    .command("diff")
    .description("paths added, removed and changed (type, mode, owner, content, link target) from image A to image B")
    .argument("<a>", "OCI image layout directory, optionally :ref")
    .argument("<b>", "OCI image layout directory, optionally :ref")
    .option("--platform <os/arch[/variant]>", "the image to read from each multi-platform index")
    .option("--json", "print one JSON object: added, removed, changed")
    .action(
      action(async (a: string, b: string, flags: ImageFlags) => {
        const left = await load(a, flags);
        const right = await load(b, flags);
        const d = diffFilesystems(left.fs, right.fs);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ...d, problems: [...problemsJson(left.image, left.fs), ...problemsJson(right.image, right.fs)] })}\n`);
          return;
        }
        const lines = [
          ...d.added.map((p) => ({ p, l: `A ${escapeName(p)}` })),
          ...d.removed.map((p) => ({ p, l: `D ${escapeName(p)}` })),
          ...d.changed.map((c) => ({ p: c.path, l: `M ${escapeName(c.path)} (${c.fields.join(", ")})` })),
        ].sort((x, y) => (x.p < y.p ? -1 : x.p > y.p ? 1 : 0));
        await writeOut(lines.map((x) => `${x.l}\n`).join(""));
        warn([left, right], flags);
      }),
    );
}

/** Writes to stdout with backpressure; a reader that went away (EPIPE) ends the command quietly. */
async function writeOut(chunk: string | Buffer): Promise<void> {
  if (chunk.length === 0) return;
  if (!process.stdout.write(chunk)) {
    // The listener that loses the race is removed: a long listing waits for "drain" many times.
    const ac = new AbortController();
    const [err] = await Promise.race([
      once(process.stdout, "drain", { signal: ac.signal }).then(() => [undefined]),
      once(process.stdout, "error", { signal: ac.signal }),
    ]).finally(() => ac.abort());
    if (err !== undefined) {
      if ((err as NodeJS.ErrnoException).code === "EPIPE") exit(0);
      throw new OciError(`cannot write to stdout: ${(err as Error).message}`);
    }
  }
}

export const imagefsCommands: RegisterCommand[] = [registerLs, registerCat, registerExport, registerDiff];
