/**
 * `ociutil layout`: a complete OCI Image Layout directory for one image or index, from the blob files
 * Bazel already has (built layers, manifests, configs, and the blobs of full pulls).
 *
 * Blobs are hard-linked into the output when the filesystem allows it (same mount), else cloned
 * (copy_file_range/FICLONE: a reflink where the filesystem supports one) or copied. Big blobs are
 * never hashed here: a layer's digest comes from its info file (`ociutil layer`) or from its
 * content-addressed name in a pulled layout (verified when it was pulled). Manifests and configs are
 * small and are hashed. Every blob the top descriptor reaches must be found, or the command fails
 * naming what is missing.
 */
import { constants as fsConstants } from "node:fs";
import { copyFile, link, mkdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { digestOf, parseDigest, type Digest } from "../name/digest.js";
import { isImageManifestMediaType, isIndexMediaType } from "../spec/mediatypes.js";
import { parseManifest } from "../spec/manifest.js";
import type { Descriptor } from "../spec/schemas.js";
import { ImageLayout, REF_NAME_ANNOTATION, SOURCE_ANNOTATION } from "../layout/layout.js";
import { OciError } from "../util/errors.js";
import { action } from "../cli/run.js";
import { collect, readDescriptorFile, readJsonFile, splitPair } from "./common.js";
import { LayerInfoSchema } from "./layer.js";

export interface LayoutInputs {
  top: Descriptor;
  refName?: string;
  /** Small blobs (manifests, configs): hashed to learn their digest. */
  blobs: string[];
  /** Layers with their known digest. */
  layers: { digest: Digest; file: string }[];
  /** Files named .../<alg>/<hex> (a pulled layout's blobs): named by their path. */
  namedBlobs: string[];
  missingHint?: string;
  /**
   * Write the layout even if layer blobs are missing (manifests and configs must be there), and
   * record in index.json the repository that holds them: a shallow layout that `push` completes.
   */
  allowMissingFrom?: string;
}

export interface LayoutStats {
  blobs: number;
  linked: number;
  copied: number;
  bytes: number;
}

export class MissingBlobsError extends OciError {
  override readonly name = "MissingBlobsError";
}

function digestFromPath(file: string): Digest {
  const hex = path.basename(file);
  const alg = path.basename(path.dirname(file));
  try {
    return parseDigest(`${alg}:${hex}`);
  } catch {
    throw new OciError(`${file} is not named like a blob (.../sha256/<hex>)`);
  }
}

async function placeBlob(src: string, target: string, stats: LayoutStats, size: number): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  await rm(target, { force: true });
  const real = await realpath(src);
  try {
    await link(real, target);
    stats.linked++;
  } catch {
    // EXDEV (another mount, as in Bazel's sandbox), EPERM, ...: clone or copy instead.
    await copyFile(real, target, fsConstants.COPYFILE_FICLONE);
    stats.copied++;
  }
  stats.bytes += size;
}

export async function assembleLayout(output: string, inputs: LayoutInputs): Promise<LayoutStats> {
  const sources = new Map<string, string>();
  for (const file of inputs.blobs) sources.set(digestOf(await readFile(file)), file);
  for (const l of inputs.layers) sources.set(l.digest, l.file);
  for (const file of inputs.namedBlobs) sources.set(digestFromPath(file), file);

  const layout = await ImageLayout.init(output);
  const stats: LayoutStats = { blobs: 0, linked: 0, copied: 0, bytes: 0 };
  const missing: string[] = [];
  const done = new Set<string>();
  const queue: { desc: Pick<Descriptor, "digest" | "size" | "mediaType">; what: string }[] = [{ desc: inputs.top, what: "the top manifest" }];
  while (queue.length > 0) {
    const { desc, what } = queue.shift()!;
    if (done.has(desc.digest)) continue;
    done.add(desc.digest);
    const src = sources.get(desc.digest);
    const isManifest = isIndexMediaType(desc.mediaType) || isImageManifestMediaType(desc.mediaType);
    if (src === undefined) {
      if (inputs.allowMissingFrom === undefined || isManifest || what.startsWith("the config")) missing.push(`${desc.digest} (${what})`);
      continue;
    }
    if (isManifest) {
      const bytes = await readFile(src);
      const doc = parseManifest(bytes, desc.mediaType, desc.digest);
      if (doc.kind === "index") {
        for (const m of doc.index.manifests) queue.push({ desc: m, what: `a manifest of index ${desc.digest}` });
      } else {
        queue.push({ desc: doc.manifest.config, what: `the config of ${desc.digest}` });
        doc.manifest.layers.forEach((l, i) => queue.push({ desc: l, what: `layer ${i + 1} of ${desc.digest}` }));
      }
    }
    await placeBlob(src, layout.blobPath(desc.digest), stats, desc.size);
    stats.blobs++;
  }
  if (missing.length > 0) {
    const hint = inputs.missingHint !== undefined ? `: ${inputs.missingHint}` : "";
    throw new MissingBlobsError(`${missing.length} blob(s) missing from the layout's inputs, e.g. ${missing.slice(0, 3).join(", ")}${hint}`);
  }
  const annotations = { ...(inputs.top.annotations ?? {}) };
  if (inputs.refName !== undefined && inputs.refName !== "") annotations[REF_NAME_ANNOTATION] = inputs.refName;
  if (inputs.allowMissingFrom !== undefined) annotations[SOURCE_ANNOTATION] = inputs.allowMissingFrom;
  const top: Descriptor = {
    mediaType: inputs.top.mediaType,
    digest: inputs.top.digest,
    size: inputs.top.size,
    ...(inputs.top.platform !== undefined ? { platform: inputs.top.platform } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  await layout.writeIndex({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [top] });
  return stats;
}

interface LayoutOptions {
  output: string;
  descriptor: string;
  refName?: string;
  blob: string[];
  layer: string[];
  namedBlob: string[];
  missingHint?: string;
  allowMissingFrom?: string;
  stats?: string;
}

export function registerLayout(program: Command): void {
  program
    .command("layout")
    .description("assemble a complete OCI image layout directory from blob files (hard links where possible)")
    .requiredOption("--output <dir>", "the layout directory to write")
    .requiredOption("--descriptor <file>", "the descriptor (JSON) of the image or index that index.json names")
    .option("--ref-name <name>", "org.opencontainers.image.ref.name of that entry")
    .option("--blob <file>", "a manifest, index or config file (hashed) (repeatable)", collect, [])
    .option("--layer <INFO.json=FILE>", "a layer and the info `ociutil layer` wrote for it (repeatable)", collect, [])
    .option("--named-blob <file>", "a blob file named .../<alg>/<hex>, as in a pulled layout (repeatable)", collect, [])
    .option("--missing-hint <text>", "what to tell the user when a blob is missing")
    .option("--allow-missing-from <registry/repo>", "leave out layers no input holds, recording this repository as where they live (a shallow layout for push)")
    .option("--stats <file>", "write {blobs, linked, copied, bytes} as JSON")
    .action(
      action(async (opts: LayoutOptions) => {
        const layers: { digest: Digest; file: string }[] = [];
        for (const arg of opts.layer) {
          const [infoFile, file] = splitPair(arg, "--layer");
          const info = await readJsonFile(infoFile, LayerInfoSchema, "layer info");
          layers.push({ digest: parseDigest(info.descriptor.digest), file });
        }
        const stats = await assembleLayout(opts.output, {
          top: await readDescriptorFile(opts.descriptor),
          ...(opts.refName !== undefined ? { refName: opts.refName } : {}),
          blobs: opts.blob,
          layers,
          namedBlobs: opts.namedBlob,
          ...(opts.missingHint !== undefined ? { missingHint: opts.missingHint } : {}),
          ...(opts.allowMissingFrom !== undefined ? { allowMissingFrom: opts.allowMissingFrom } : {}),
        });
        if (opts.stats !== undefined) await writeFile(opts.stats, `${JSON.stringify(stats)}\n`);
      }),
    );
}
