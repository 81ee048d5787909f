/**
 * `ociutil index`: an image index from the descriptors of its manifests (each with its platform), as
 * `ociutil image` writes them. Outputs the index's exact bytes and its descriptor.
 */
import type { Command } from "commander";
import { digestOf } from "../name/digest.js";
import { MediaType } from "../spec/mediatypes.js";
import type { Descriptor } from "../spec/schemas.js";
import { OciError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fsutil.js";
import { action } from "../cli/run.js";
import { canonicalBytes, collect, readDescriptorFile, splitPair } from "./common.js";
import { formatPlatform } from "../spec/manifest.js";
import { readKeyValueFile } from "./attribute-files.js";
import { expandMap, readStatusFiles } from "../stamp/status.js";

export function buildIndex(
  manifests: Descriptor[],
  annotations: Record<string, string>,
  target?: string,
): { index: Buffer; descriptor: Descriptor } {
  const seen = new Map<string, string>();
  for (const m of manifests) {
    if (m.platform === undefined) continue;
    const key = formatPlatform(m.platform);
    const previous = seen.get(key);
    if (previous !== undefined && previous !== m.digest) {
      throw new OciError(`${target ?? "index"}: two images for platform ${key} (${previous} and ${m.digest})`);
    }
    seen.set(key, m.digest);
  }
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciImageIndex,
    manifests: manifests.map((m) => ({
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      ...(m.platform !== undefined ? { platform: m.platform } : {}),
    })),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  const index = canonicalBytes(doc);
  return { index, descriptor: { mediaType: MediaType.OciImageIndex, digest: digestOf(index), size: index.length } as Descriptor };
}

export function registerIndex(program: Command): void {
  program
    .command("index")
    .description("assemble an image index from manifest descriptors")
    .option("--manifest <descriptor.json>", "the descriptor of an image to include, in order (repeatable)", collect, [])
    .option("--annotation <key=value>", "an annotation of the index (repeatable)", collect, [])
    .option("--annotations-file <file>", "annotations from a file of name=value lines (--annotation wins)")
    .option("--target <label>", "the Bazel target, for error messages")
    .option("--status <file>", "a Bazel workspace status file: expands {{KEY}} in annotations (repeatable; none: not stamped)", collect, [])
    .requiredOption("--output-index <file>", "where to write the index")
    .option("--output-digest <file>", "also write the digest alone, sha256:<hex> with no newline (rules_oci's <name>.digest)")
    .requiredOption("--output-descriptor <file>", "where to write the index's descriptor (JSON)")
    .action(
      action(async (opts: { manifest: string[]; annotation: string[]; annotationsFile?: string; status: string[]; target?: string; outputIndex: string; outputDescriptor: string; outputDigest?: string }) => {
        const manifests: Descriptor[] = [];
        for (const file of opts.manifest) manifests.push(await readDescriptorFile(file));
        const annotations: Record<string, string> =
          opts.annotationsFile !== undefined ? await readKeyValueFile(opts.annotationsFile, "annotations") : {};
        for (const a of opts.annotation) {
          const [k, v] = splitPair(a, "--annotation");
          annotations[k] = v;
        }
        const built = buildIndex(manifests, expandMap(annotations, await readStatusFiles(opts.status), "annotation")!, opts.target);
        await writeFileAtomic(opts.outputIndex, built.index);
        await writeFileAtomic(opts.outputDescriptor, `${JSON.stringify(built.descriptor)}\n`);
        if (opts.outputDigest !== undefined) await writeFileAtomic(opts.outputDigest, built.descriptor.digest);
      }),
    );
}
