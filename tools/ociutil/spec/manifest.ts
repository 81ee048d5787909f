/**
 * A manifest as it travels: the exact bytes (whose digest names it), its media type, and a validated
 * view of its fields. Never re-serialize `index`/`image` to store or push: use `bytes`.
 */
import { digestOf, type Digest } from "../name/digest.js";
import { OciError } from "../util/errors.js";
import { MediaType, isImageManifestMediaType, isIndexMediaType } from "./mediatypes.js";
import { ImageIndexSchema, ImageManifestSchema, describeIssues, type ImageIndex, type ImageManifest } from "./schemas.js";

interface ManifestBase {
  readonly bytes: Buffer;
  readonly digest: Digest;
  readonly mediaType: string;
}
export interface IndexManifest extends ManifestBase {
  readonly kind: "index";
  readonly index: ImageIndex;
}
export interface ImageManifestDoc extends ManifestBase {
  readonly kind: "image";
  readonly manifest: ImageManifest;
}
export type Manifest = IndexManifest | ImageManifestDoc;

export class ManifestError extends OciError {
  override readonly name = "ManifestError";
}

/**
 * Parses manifest bytes. `declaredMediaType` is what the server's Content-Type or a descriptor said;
 * the document's own `mediaType` field wins when present. `what` names the source in errors.
 */
export function parseManifest(bytes: Buffer, declaredMediaType: string | undefined, what: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new ManifestError(`malformed manifest ${what}: not JSON (${(err as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ManifestError(`malformed manifest ${what}: not a JSON object`);
  }
  const doc = json as Record<string, unknown>;
  if (doc["schemaVersion"] === 1) {
    throw new ManifestError(`unsupported manifest ${what}: Docker schema1 is not supported, only OCI and Docker schema2`);
  }
  const declared = declaredMediaType?.split(";")[0]?.trim();
  const mediaType =
    (typeof doc["mediaType"] === "string" ? doc["mediaType"] : undefined) ??
    (declared && (isIndexMediaType(declared) || isImageManifestMediaType(declared)) ? declared : undefined) ??
    ("manifests" in doc ? MediaType.OciImageIndex : "config" in doc ? MediaType.OciImageManifest : undefined);
  if (mediaType === undefined) throw new ManifestError(`malformed manifest ${what}: neither an image manifest nor an index`);
  const digest = digestOf(bytes);
  if (isIndexMediaType(mediaType)) {
    const parsed = ImageIndexSchema.safeParse(doc);
    if (!parsed.success) throw new ManifestError(`malformed image index ${what}: ${describeIssues(parsed.error)}`);
    return { kind: "index", bytes, digest, mediaType, index: parsed.data };
  }
  if (isImageManifestMediaType(mediaType)) {
    const parsed = ImageManifestSchema.safeParse(doc);
    if (!parsed.success) throw new ManifestError(`malformed image manifest ${what}: ${describeIssues(parsed.error)}`);
    return { kind: "image", bytes, digest, mediaType, manifest: parsed.data };
  }
  throw new ManifestError(`unsupported manifest ${what}: media type "${mediaType}"`);
}

/** "os/arch[/variant]" as `--platform` takes it. */
export interface PlatformSelector {
  os: string;
  architecture: string;
  variant?: string;
}

export function parsePlatform(value: string): PlatformSelector {
  const parts = value.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new OciError(`invalid platform "${value}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return { os, architecture, ...(variant !== undefined ? { variant } : {}) };
}

export function formatPlatform(p: { os: string; architecture: string; variant?: string | undefined }): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/** True if a descriptor's platform is what the selector asks for (arm64 without variant matches v8). */
export function platformMatches(
  p: { os: string; architecture: string; variant?: string | undefined } | undefined,
  want: PlatformSelector,
): boolean {
  if (p === undefined) return false;
  if (p.os !== want.os || p.architecture !== want.architecture) return false;
  if (want.variant === undefined) return true;
  const variant = p.variant ?? (p.architecture === "arm64" ? "v8" : undefined);
  return variant === want.variant;
}
