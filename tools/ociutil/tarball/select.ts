/**
 * Which image of an OCI layout a tarball holds: the index.json entry named by its ref name (or the
 * only entry), then, through any image index, the manifest for one platform: the one the user names,
 * else the host's. A docker-archive holds one image per manifest.json entry and no index, so an index
 * must come down to one image here.
 */
import { arch } from "node:process";
import { ImageLayout, LayoutError, REF_NAME_ANNOTATION } from "../layout/layout.js";
import { formatPlatform, parsePlatform, platformMatches, type ImageManifestDoc, type Manifest, type PlatformSelector } from "../spec/manifest.js";
import { isImageManifestMediaType, isIndexMediaType } from "../spec/mediatypes.js";
import type { Descriptor } from "../spec/schemas.js";
import { OciError } from "../util/errors.js";
import { LayoutSource } from "../ops/source.js";

/** Node's process.arch as the OCI image spec names architectures (GOARCH values). */
const OCI_ARCH: Partial<Record<NodeJS.Architecture, string>> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le", // Node runs on little-endian ppc64 only
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
  mips: "mips",
  mipsel: "mipsle",
};

/** The platform a local Docker or Podman runs: linux on this machine's architecture. */
export function hostPlatform(): PlatformSelector {
  const architecture = OCI_ARCH[arch];
  if (architecture === undefined) throw new OciError(`this machine's architecture "${arch}" has no OCI name: pass --platform os/arch`);
  return { os: "linux", architecture };
}

export interface SelectedImage {
  image: ImageManifestDoc;
  /** How it was reached, for messages: "LAYOUT:REF" and the platform chosen in an index, if any. */
  description: string;
}

export interface SelectOptions {
  ref?: string;
  /** "os/arch[/variant]" as the user wrote it; else the host's platform is used for an index. */
  platform?: string;
}

/** The index.json entry for `ref`, or the only entry when none is named. */
function layoutEntry(dir: string, manifests: Descriptor[], ref: string | undefined): Descriptor {
  const names = manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).filter((n): n is string => n !== undefined);
  if (ref !== undefined) {
    const hits = manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === ref);
    if (hits.length === 0) {
      throw new LayoutError(`${dir}: index.json has no entry named "${ref}" (${names.length > 0 ? `it has: ${names.join(", ")}` : "its entries have no ref names"})`);
    }
    if (hits.length > 1) throw new LayoutError(`${dir}: index.json has ${hits.length} entries named "${ref}"`);
    return hits[0]!;
  }
  if (manifests.length === 1) return manifests[0]!;
  if (manifests.length === 0) throw new LayoutError(`${dir}: index.json lists no images`);
  throw new LayoutError(`${dir}: index.json lists ${manifests.length} images: name one with --ref (${names.length > 0 ? names.join(", ") : "they have no ref names"})`);
}

export async function selectImage(layout: ImageLayout, opts: SelectOptions): Promise<SelectedImage> {
  const wanted = opts.platform !== undefined ? parsePlatform(opts.platform) : undefined;
  const index = await layout.readIndex();
  const entry = layoutEntry(layout.dir, index.manifests, opts.ref);
  const source = new LayoutSource(layout, undefined);
  const where = opts.ref !== undefined ? `${layout.dir}:${opts.ref}` : layout.dir;

  let desc: Pick<Descriptor, "digest" | "size" | "mediaType"> = entry;
  let chosen: string | undefined;
  // Nested indexes are allowed (an index of indexes); each level picks the platform again.
  for (let depth = 0; ; depth++) {
    if (!isIndexMediaType(desc.mediaType) && !isImageManifestMediaType(desc.mediaType)) {
      throw new OciError(`${where}: ${desc.digest} is a ${desc.mediaType}, not an image or an image index`);
    }
    const m: Manifest = await source.manifest(desc);
    if (m.kind === "image") {
      return { image: m, description: chosen !== undefined ? `${where} (${chosen})` : where };
    }
    if (depth >= 4) throw new OciError(`${where}: image indexes nested more than 4 deep`);
    const want = wanted ?? hostPlatform();
    const child = m.index.manifests.find((c) => platformMatches(c.platform, want));
    if (child === undefined) {
      const has = m.index.manifests.map((c) => (c.platform !== undefined ? formatPlatform(c.platform) : "no platform")).join(", ");
      const whose = wanted !== undefined ? "" : " (this machine's; name another with --platform)";
      throw new OciError(`${where}: index ${m.digest} has no image for ${formatPlatform(want)}${whose}; it has: ${has || "nothing"}`);
    }
    chosen = formatPlatform(want);
    desc = child;
  }
}
