/**
 * A `docker save`-format tarball ("docker-archive") of one image, as `docker load` and `podman load`
 * read it, and as scanners taking `--input image.tar` do:
 *
 *   manifest.json         [{"Config": "blobs/sha256/<hex>", "RepoTags": [...], "Layers": [...]}]
 *   repositories          {"repo": {"tag": "<hex of the top layer>"}} (what Docker < 1.10 read)
 *   blobs/sha256/<hex>    the config and each layer, as the layout stores them
 *
 * The blob paths are the ones `docker save` writes since Docker 25. Unlike Docker we add no
 * index.json/oci-layout: `podman load` tries a tar as an OCI archive first and then names a
 * single-tag image differently (docker.io/...) from a multi-tag one (localhost/...); as a pure
 * docker-archive it is always read the same way. Layers are copied as they are: `docker load` and
 * `podman load` decompress gzip and zstd layers and check them against the config's diff_ids.
 *
 * Every byte streams from the layout's files into the tar (memory does not grow with the image), each
 * blob verified against its digest on the way; the tar is written to a temp file and renamed into
 * place, so a failure leaves no tar.
 */
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { digestAlgorithm, digestHex, type Digest } from "../name/digest.js";
import { parseReference } from "../name/reference.js";
import type { ImageLayout } from "../layout/layout.js";
import { formatPlatform, platformMatches, type PlatformSelector } from "../spec/manifest.js";
import { LAYER_MEDIA_TYPES } from "../spec/mediatypes.js";
import { countedBody } from "../progress/counting.js";
import { planBlobs, trackBlob } from "../progress/events.js";
import { ImageConfigSchema, describeIssues, type Descriptor } from "../spec/schemas.js";
import { OciError, UsageError } from "../util/errors.js";
import { tempPathFor } from "../util/fsutil.js";
import { VerifyingStream } from "../util/verify-stream.js";
import type { SelectedImage } from "./select.js";

export interface TarballResult {
  manifest: Digest;
  config: Digest;
  layers: Digest[];
  tags: string[];
  bytes: number;
}

/** A tag as manifest.json's RepoTags holds it: "repo:tag", "registry/repo:tag"; never a digest. */
export function checkRepoTag(value: string): string {
  const ref = parseReference(value);
  if (ref.digest !== undefined) throw new UsageError(`--tag "${value}": a tag cannot have a digest`);
  const lastSlash = value.lastIndexOf("/");
  if (ref.tag === undefined || !value.slice(lastSlash + 1).includes(":")) {
    throw new UsageError(`--tag "${value}" has no tag: write it as ${value}:latest or with the tag you want`);
  }
  return value;
}

/** `repositories` keys: the tag's name without ":tag", as Docker writes it. */
function splitRepoTag(value: string): [string, string] {
  const colon = value.lastIndexOf(":");
  return [value.slice(0, colon), value.slice(colon + 1)];
}

const blobName = (d: Digest): string => `blobs/${digestAlgorithm(d)}/${digestHex(d)}`;

/** Checks that every blob is there with its size before a byte is written. */
async function checkBlobs(layout: ImageLayout, where: string, blobs: { desc: Descriptor; what: string }[]): Promise<void> {
  for (const { desc, what } of blobs) {
    const size = await layout.blobSize(desc.digest);
    if (size === undefined) {
      throw new OciError(
        `${where}: ${what} ${desc.digest} is not in the layout (a shallow layout? a tarball needs every layer: pull it whole, or in Bazel set pulled_base)`,
      );
    }
    if (size !== desc.size) throw new OciError(`${where}: ${what} ${desc.digest} has ${size} bytes, its descriptor says ${desc.size}`);
  }
}

export async function writeTarball(
  layout: ImageLayout,
  selected: SelectedImage,
  output: string,
  tags: string[],
  platform: PlatformSelector | undefined,
): Promise<TarballResult> {
  const where = selected.description;
  const { config, layers } = selected.image.manifest;
  layers.forEach((l, i) => {
    if (!LAYER_MEDIA_TYPES.includes(l.mediaType)) {
      throw new OciError(`${where}: layer ${i + 1} has media type ${l.mediaType}, which docker load cannot read: not a container image?`);
    }
  });
  const configBytes = await layout.readBlob(config);
  let configJson: unknown;
  try {
    configJson = JSON.parse(configBytes.toString("utf8"));
  } catch {
    throw new OciError(`${where}: config ${config.digest} is not JSON`);
  }
  const parsed = ImageConfigSchema.safeParse(configJson);
  if (!parsed.success) throw new OciError(`${where}: config ${config.digest}: ${describeIssues(parsed.error)}`);
  const diffIDs = parsed.data.rootfs.diff_ids;
  if (diffIDs.length !== layers.length) {
    throw new OciError(`${where}: the config lists ${diffIDs.length} diff_ids for ${layers.length} layers; docker load would reject it`);
  }
  // An image (not an index) that says which platform it is must be the one asked for; an image whose
  // platform is unknown (empty os/architecture) is taken as it is.
  const { os, architecture, variant } = parsed.data;
  if (platform !== undefined && os !== "" && architecture !== "" && !platformMatches({ os, architecture, variant }, platform)) {
    throw new OciError(`${where} is ${formatPlatform({ os, architecture, variant })}, not ${formatPlatform(platform)}`);
  }
  await checkBlobs(layout, where, layers.map((desc, i) => ({ desc, what: `layer ${i + 1}` })));

  const unique = [...new Map(layers.map((l) => [l.digest, l])).values()];
  const manifestJson = [{ Config: blobName(config.digest), RepoTags: tags, Layers: layers.map((l) => blobName(l.digest)) }];
  const repositories: Record<string, Record<string, string>> = {};
  const top = layers.at(-1);
  if (top !== undefined) {
    for (const t of tags) {
      const [repo, tag] = splitRepoTag(t);
      (repositories[repo] ??= {})[tag] = digestHex(top.digest);
    }
  }

  const tmp = tempPathFor(output);
  const pack = tar.pack();
  let bytes = 0;
  const header = { mtime: new Date(0), uid: 0, gid: 0, uname: "", gname: "" };
  const file = (name: string, data: Buffer): Promise<void> =>
    new Promise((resolve, reject) => pack.entry({ ...header, name, mode: 0o644, size: data.length }, data, (err) => (err ? reject(err) : resolve())));
  const dir = (name: string): Promise<void> =>
    new Promise((resolve, reject) => pack.entry({ ...header, name, type: "directory", mode: 0o755 }, (err) => (err ? reject(err) : resolve())));
  const produce = async (): Promise<void> => {
    await file("manifest.json", Buffer.from(`${JSON.stringify(manifestJson)}\n`));
    await file("repositories", Buffer.from(`${JSON.stringify(repositories)}\n`));
    await dir("blobs/");
    for (const alg of new Set([config, ...unique].map((d) => digestAlgorithm(d.digest)))) await dir(`blobs/${alg}/`);
    await file(blobName(config.digest), configBytes);
    planBlobs(unique.length, unique.reduce((sum, l) => sum + l.size, 0));
    for (const [i, layer] of unique.entries()) {
      const progress = trackBlob(layer.digest, layer.size);
      let done!: (err?: Error | null) => void;
      const finished = new Promise<void>((resolve, reject) => {
        done = (err) => (err ? reject(err) : resolve());
      });
      const sink = pack.entry({ ...header, name: blobName(layer.digest), mode: 0o644, size: layer.size }, done);
      try {
        await pipeline(countedBody(layout.openBlob(layer.digest), progress), new VerifyingStream(layer, `${where}: layer ${i + 1} (${layer.digest})`), sink);
      } catch (err) {
        finished.catch(() => undefined); // the entry fails too; the pipeline's error is the one to report
        throw err;
      }
      await finished;
      progress.done("written");
      bytes += layer.size;
    }
    pack.finalize();
  };
  try {
    const out = createWriteStream(tmp, { flags: "wx", mode: 0o644 });
    // If producing fails, destroy the pack so that the file pipeline ends too.
    const produced = produce().catch((err: unknown) => {
      pack.destroy(err as Error);
      throw err;
    });
    // The producer's error (a missing or corrupt blob) is the one to report, not the broken pipe it causes.
    for (const r of await Promise.allSettled([produced, pipeline(pack, out)])) if (r.status === "rejected") throw r.reason;
    await rename(tmp, output);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { manifest: selected.image.digest, config: config.digest, layers: layers.map((l) => l.digest), tags, bytes: bytes + configBytes.length };
}
