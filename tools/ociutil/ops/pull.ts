/**
 * pull: a registry image or index into an OCI Image Layout. Shallow pulls keep manifests and configs
 * only; the layout's index.json records the source repository so that a push can mount or copy the
 * blobs it left out.
 */
import { formatReference, identifier, repositoryName, type Reference } from "../name/reference.js";
import { ImageLayout, REF_NAME_ANNOTATION, SOURCE_ANNOTATION } from "../layout/layout.js";
import type { RegistryClient } from "../remote/client.js";
import type { RemoteRepository } from "../remote/registry.js";
import { formatPlatform, platformMatches, type Manifest, type PlatformSelector } from "../spec/manifest.js";
import type { Descriptor } from "../spec/schemas.js";
import { OciError } from "../util/errors.js";
import { forEachLimit } from "../util/pool.js";
import { countingSink } from "../progress/counting.js";
import { planBlobs, trackBlob } from "../progress/events.js";
import { withRetries } from "./retry.js";
import { loadTree, type BlobRef } from "./tree.js";

export interface PullOptions {
  output: string;
  platforms: PlatformSelector[];
  shallow: boolean;
  jobs: number;
  /** With shallow: also say where the left-out blobs are and how to authorize fetching them. */
  downloadPlan?: boolean;
}

/**
 * What a shallow pull left out, for another downloader (Bazel's, with its repository cache and
 * mirrors) to fetch: blob URLs, and the Authorization header value that fetches them. That value is a
 * credential: it goes to the caller's memory, never to a log or a file.
 */
export interface DownloadPlan {
  blobs: Array<{ digest: string; size: number; url: string }>;
  authorization?: string;
}

export interface PullResult {
  /** registry/repo@digest of what the reference resolved to. */
  reference: string;
  digest: string;
  mediaType: string;
  /** The manifests written to index.json (one per selected platform when --platform narrows an index). */
  manifests: Array<{ digest: string; mediaType: string; platform?: string }>;
  blobs: { written: number; present: number; skipped: number; bytes: number };
  downloads?: DownloadPlan;
}

export async function pull(client: RegistryClient, ref: Reference, opts: PullOptions): Promise<PullResult> {
  const repo = client.repository(ref);
  if (!opts.shallow) ImageLayout.prepareToReceive(opts.jobs);
  const root = await repo.getManifest(identifier(ref));
  const layout = await ImageLayout.init(opts.output);

  const narrowed = root.kind === "index" && opts.platforms.length > 0;
  const tree = await loadTree(
    root,
    (desc) => repo.getManifest(desc.digest),
    (child) => !narrowed || opts.platforms.some((p) => platformMatches(child.platform, p)),
  );
  if (narrowed) {
    for (const p of opts.platforms) {
      const found = root.index.manifests.some((d) => platformMatches(d.platform, p));
      if (!found) {
        const offered = root.index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : "?")).join(", ");
        throw new OciError(`${formatReference(ref)} has no image for platform ${formatPlatform(p)} (it has: ${offered})`);
      }
    }
  }

  const stats = { written: 0, present: 0, skipped: 0, bytes: 0 };
  const wanted = tree.blobs.filter((b) => !opts.shallow || b.role === "config");
  stats.skipped = tree.blobs.length - wanted.length;
  planBlobs(wanted.length, wanted.reduce((sum, b) => sum + b.descriptor.size, 0));
  await forEachLimit(wanted, opts.jobs, async ({ descriptor }) => {
    const progress = trackBlob(descriptor.digest, descriptor.size);
    if (await layout.hasBlob(descriptor)) {
      stats.present++;
      progress.done("present");
      return;
    }
    await withRetries(client.retry, async () => {
      progress.restart();
      await layout.receiveBlob(descriptor, `blob ${repositoryName(ref)}@${descriptor.digest}`, (sink) =>
        repo.fetchBlob(descriptor.digest, countingSink(sink, progress)),
      );
    });
    progress.done("downloaded");
    stats.written++;
    stats.bytes += descriptor.size;
  });
  if (root.kind === "image" && opts.platforms.length > 0) await checkImagePlatform(layout, root, opts.platforms, ref);
  // Manifests after their blobs, so a layout never names a manifest whose configs are missing.
  for (const m of tree.manifests) await layout.writeBlobBytes(m.bytes, m.digest);

  const source = repositoryName(ref);
  const annotationsFor = (name: string | undefined): Record<string, string> => ({
    ...(name !== undefined ? { [REF_NAME_ANNOTATION]: name } : {}),
    [SOURCE_ANNOTATION]: source,
  });
  const entries: Descriptor[] = [];
  if (narrowed) {
    const children = root.index.manifests.filter((d) => opts.platforms.some((p) => platformMatches(d.platform, p)));
    const name = children.length === 1 ? ref.tag : undefined;
    for (const child of children) entries.push({ ...child, annotations: { ...(child.annotations ?? {}), ...annotationsFor(name) } });
  } else {
    entries.push({ mediaType: root.mediaType, digest: root.digest, size: root.bytes.length, annotations: annotationsFor(ref.tag) });
  }
  for (const entry of entries) {
    await layout.addManifest(entry, entry.annotations?.[REF_NAME_ANNOTATION]);
  }

  return {
    reference: `${source}@${root.digest}`,
    digest: root.digest,
    mediaType: root.mediaType,
    manifests: entries.map((e) => ({
      digest: e.digest,
      mediaType: e.mediaType,
      ...(e.platform ? { platform: formatPlatform(e.platform) } : {}),
    })),
    blobs: stats,
    ...(opts.shallow && opts.downloadPlan ? { downloads: await downloadPlan(repo, tree.blobs) } : {}),
  };
}

async function downloadPlan(repo: RemoteRepository, blobs: BlobRef[]): Promise<DownloadPlan> {
  const layers = blobs.filter((b) => b.role === "layer" && b.descriptor.urls === undefined);
  const base = await repo.blobsUrl();
  const authorization = await repo.pullAuthorization();
  return {
    blobs: layers.map(({ descriptor: d }) => ({ digest: d.digest, size: d.size, url: `${base.href}${d.digest}` })),
    ...(authorization !== undefined ? { authorization } : {}),
  };
}

/** A single-image reference has one platform, in its config: refuse it if --platform asked for another. */
async function checkImagePlatform(layout: ImageLayout, root: Manifest & { kind: "image" }, platforms: PlatformSelector[], ref: Reference): Promise<void> {
  const config = JSON.parse((await layout.readBlob(root.manifest.config)).toString("utf8")) as { os?: string; architecture?: string; variant?: string };
  const platform = { os: config.os ?? "", architecture: config.architecture ?? "", variant: config.variant };
  if (platform.os === "" || platform.architecture === "") {
    throw new OciError(
      `${formatReference(ref)} is a single image with no platform (its config has empty os and architecture): pull it without --platform (in Bazel: without platforms)`,
    );
  }
  if (!platforms.some((p) => platformMatches(platform, p))) {
    throw new OciError(`${formatReference(ref)} is a single image for ${formatPlatform(platform)}, not ${platforms.map(formatPlatform).join(", ")}`);
  }
}
