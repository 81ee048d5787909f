/**
 * zod schemas for the documents of the OCI image spec and Docker schema2. They validate what we read;
 * `.passthrough()` keeps fields we don't know, but we never serialize a parsed document back to send
 * or store it: manifests travel as the exact bytes their digest was computed over (see manifest.ts).
 */
import * as z from "zod";
import { isDigest, type Digest } from "../name/digest.js";

const digest = z.string().refine(isDigest, { message: "not a valid sha256/sha512 digest" }).transform((d) => d as Digest);
const mediaType = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/, "not a media type");
const annotations = z.record(z.string(), z.string());

export const PlatformSchema = z
  .object({
    architecture: z.string().min(1),
    os: z.string().min(1),
    "os.version": z.string().optional(),
    "os.features": z.array(z.string()).optional(),
    variant: z.string().optional(),
    features: z.array(z.string()).optional(),
  })
  .passthrough();
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = z
  .object({
    mediaType,
    digest,
    size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    urls: z.array(z.string()).optional(),
    annotations: annotations.optional(),
    data: z.string().optional(),
    artifactType: z.string().optional(),
    platform: PlatformSchema.optional(),
  })
  .passthrough();
export type Descriptor = z.infer<typeof DescriptorSchema>;

/** OCI image manifest and Docker schema2 manifest: same shape (Docker requires mediaType). */
export const ImageManifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: mediaType.optional(),
    artifactType: z.string().optional(),
    config: DescriptorSchema,
    layers: z.array(DescriptorSchema),
    subject: DescriptorSchema.optional(),
    annotations: annotations.optional(),
  })
  .passthrough();
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

/** OCI image index and Docker manifest list. */
export const ImageIndexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: mediaType.optional(),
    artifactType: z.string().optional(),
    manifests: z.array(DescriptorSchema),
    subject: DescriptorSchema.optional(),
    annotations: annotations.optional(),
  })
  .passthrough();
export type ImageIndex = z.infer<typeof ImageIndexSchema>;

const historyEntry = z
  .object({
    created: z.string().optional(),
    author: z.string().optional(),
    created_by: z.string().optional(),
    comment: z.string().optional(),
    empty_layer: z.boolean().optional(),
  })
  .passthrough();

export const ImageConfigSchema = z
  .object({
    created: z.string().optional(),
    author: z.string().optional(),
    // Required by the spec; go-containerregistry writes "" for images built from scratch.
    architecture: z.string(),
    os: z.string(),
    "os.version": z.string().optional(),
    "os.features": z.array(z.string()).optional(),
    variant: z.string().optional(),
    config: z
      .object({
        User: z.string().optional(),
        ExposedPorts: z.record(z.string(), z.object({}).passthrough()).nullable().optional(),
        Env: z.array(z.string()).nullable().optional(),
        Entrypoint: z.array(z.string()).nullable().optional(),
        Cmd: z.array(z.string()).nullable().optional(),
        Volumes: z.record(z.string(), z.object({}).passthrough()).nullable().optional(),
        WorkingDir: z.string().optional(),
        Labels: z.record(z.string(), z.string()).nullable().optional(),
        StopSignal: z.string().optional(),
      })
      .passthrough()
      .optional(),
    rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(digest) }).passthrough(),
    history: z.array(historyEntry).optional(),
  })
  .passthrough();
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

/** index.json of an OCI Image Layout: an image index whose mediaType, if present, is OCI's. */
export const LayoutIndexSchema = ImageIndexSchema;

export const OciLayoutFileSchema = z.object({ imageLayoutVersion: z.literal("1.0.0") }).passthrough();

/** One line describing why `value` failed `schema`, naming the field. */
export function describeIssues(error: z.ZodError): string {
  const first = error.issues[0];
  if (first === undefined) return "invalid document";
  const where = first.path.length > 0 ? first.path.join(".") : "document";
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : "";
  return `${where}: ${first.message}${more}`;
}
