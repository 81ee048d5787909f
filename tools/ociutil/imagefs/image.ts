/**
 * Picks one image out of an OCI image layout: `LAYOUT[:ref]` names the layout and, optionally, the
 * index.json entry whose org.opencontainers.image.ref.name is `ref`; `--platform os/arch[/variant]`
 * picks an image from a multi-platform index. The manifest and config are read and validated; the
 * layers are read later, one at a time (see layers.ts).
 */
import { stat } from "node:fs/promises";
import { ImageLayout, LayoutError, REF_NAME_ANNOTATION } from "../layout/layout.js";
import { formatPlatform, parseManifest, platformMatches, type ImageManifestDoc, type Manifest, type PlatformSelector } from "../spec/manifest.js";
import { LAYER_MEDIA_TYPES } from "../spec/mediatypes.js";
import { ImageConfigSchema, describeIssues, type Descriptor, type ImageConfig } from "../spec/schemas.js";

export interface LayoutImage {
  readonly layout: ImageLayout;
  /** "DIR" or "DIR:ref", for messages. */
  readonly name: string;
  readonly manifest: ImageManifestDoc;
  readonly config: ImageConfig;
  readonly layers: readonly Descriptor[];
}

/** Splits "DIR[:ref]": DIR itself when it exists (a path may hold ':'), else at the last ':'. */
export async function splitLayoutArg(arg: string): Promise<{ dir: string; ref?: string }> {
  if (await isDir(arg)) return { dir: arg };
  const colon = arg.lastIndexOf(":");
  if (colon > 0 && colon < arg.length - 1 && !arg.slice(colon + 1).includes("/")) {
    return { dir: arg.slice(0, colon), ref: arg.slice(colon + 1) };
  }
  return { dir: arg };
}

/** The one image `arg` and `platform` name. */
export async function openImage(arg: string, platform: PlatformSelector | undefined): Promise<LayoutImage> {
  const images = await openImages(arg, platform, false);
  return images[0]!;
}

/**
 * The images `arg` names: with `all`, every image of a multi-platform index when no platform is
 * given (checks run per platform); otherwise exactly one, or an error that lists the choices.
 */
export async function openImages(arg: string, platform: PlatformSelector | undefined, all: boolean): Promise<LayoutImage[]> {
  const { dir, ref } = await splitLayoutArg(arg);
  const layout = await ImageLayout.open(dir);
  const index = await layout.readIndex();
  let candidates = index.manifests;
  if (ref !== undefined) {
    candidates = candidates.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === ref);
    if (candidates.length === 0) {
      const names = index.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).filter((n) => n !== undefined);
      throw new LayoutError(`${dir} has no image named "${ref}" in index.json (${names.length > 0 ? `it has: ${names.join(", ")}` : "it names none"})`);
    }
  }
  const load = async (desc: Descriptor): Promise<Manifest> =>
    parseManifest(await layout.readBlob(desc), desc.mediaType, `${desc.digest} in ${dir}`);
  const chosen = await pick(candidates, load, platform, arg, all);
  const out: LayoutImage[] = [];
  for (const doc of chosen) out.push(await imageOf(layout, arg, doc));
  return out;
}

async function imageOf(layout: ImageLayout, arg: string, chosen: ImageManifestDoc): Promise<LayoutImage> {
  const configBytes = await layout.readBlob(chosen.manifest.config);
  let json: unknown;
  try {
    json = JSON.parse(configBytes.toString("utf8"));
  } catch {
    throw new LayoutError(`${arg}: image config ${chosen.manifest.config.digest} is not JSON`);
  }
  const parsed = ImageConfigSchema.safeParse(json);
  if (!parsed.success) throw new LayoutError(`${arg}: image config ${chosen.manifest.config.digest}: ${describeIssues(parsed.error)}`);
  for (const [i, l] of chosen.manifest.layers.entries()) {
    if (!LAYER_MEDIA_TYPES.includes(l.mediaType)) {
      throw new LayoutError(`${arg}: layers[${i}] ${l.digest} has media type "${l.mediaType}", not a filesystem layer`);
    }
  }
  return { layout, name: arg, manifest: chosen, config: parsed.data, layers: chosen.manifest.layers };
}

/** One image manifest from index.json entries: directly, or through an index and a platform. */
async function pick(
  entries: readonly Descriptor[],
  load: (d: Descriptor) => Promise<Manifest>,
  platform: PlatformSelector | undefined,
  what: string,
  all: boolean,
): Promise<ImageManifestDoc[]> {
  const images: Array<{ doc: ImageManifestDoc; platform: Descriptor["platform"] }> = [];
  for (const entry of entries) {
    const doc = await load(entry);
    if (doc.kind === "image") {
      images.push({ doc, platform: entry.platform });
      continue;
    }
    for (const child of doc.index.manifests) {
      const c = await load(child);
      if (c.kind === "image") images.push({ doc: c, platform: child.platform });
    }
  }
  // Attestation manifests in an index say "unknown/unknown": never an image to read.
  const real = images.filter((i) => i.platform === undefined || i.platform.os !== "unknown");
  if (platform !== undefined) {
    const matching = real.filter((i) => platformMatches(i.platform, platform));
    if (matching.length === 1) return [matching[0]!.doc];
    const have = real.map((i) => (i.platform ? formatPlatform(i.platform) : "no platform")).join(", ");
    if (matching.length === 0) throw new LayoutError(`${what} has no image for platform ${formatPlatform(platform)} (it has: ${have || "none"})`);
    throw new LayoutError(`${what} has ${matching.length} images for platform ${formatPlatform(platform)}; name one with LAYOUT:ref`);
  }
  if (real.length === 1 || (all && real.length > 0)) return real.map((i) => i.doc);
  if (real.length === 0) throw new LayoutError(`${what} holds no image manifest`);
  const platforms = real.map((i) => (i.platform ? formatPlatform(i.platform) : "no platform")).join(", ");
  throw new LayoutError(`${what} holds ${real.length} images (${platforms}); pick one with --platform or LAYOUT:ref`);
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}
