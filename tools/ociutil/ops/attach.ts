/**
 * attach: pushes a small artifact (one or more in-memory blobs) as an OCI 1.1 referrer of a manifest
 * already in the registry: an image manifest with the empty config, `artifactType`, and `subject`.
 */
import { digestOf, type Digest } from "../name/digest.js";
import { attachReferrer, type Referrers } from "../remote/referrers.js";
import type { RemoteRepository } from "../remote/registry.js";
import { parseManifest, type Manifest } from "../spec/manifest.js";
import { MediaType } from "../spec/mediatypes.js";
import type { Descriptor } from "../spec/schemas.js";

/** The empty JSON object `{}` that OCI 1.1 artifacts use as their config (image-spec manifest.md). */
export const EMPTY_CONFIG = {
  mediaType: MediaType.OciEmpty,
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" as Digest,
  size: 2,
  data: "e30=",
} as const;

export interface ArtifactLayer {
  mediaType: string;
  bytes: Buffer;
  annotations?: Record<string, string>;
}

export interface Artifact {
  artifactType: string;
  layers: ArtifactLayer[];
  annotations?: Record<string, string>;
}

export interface Attached {
  manifest: Manifest;
  via: Referrers["via"];
}

/** The referrer manifest's bytes: fields in the spec's order, so the same input gives the same digest. */
export function artifactManifest(subject: Descriptor, artifact: Artifact): Manifest {
  const layers = artifact.layers.map((l) => ({
    mediaType: l.mediaType,
    digest: digestOf(l.bytes),
    size: l.bytes.length,
    ...(l.annotations !== undefined ? { annotations: l.annotations } : {}),
  }));
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciImageManifest,
    artifactType: artifact.artifactType,
    config: EMPTY_CONFIG,
    layers,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(artifact.annotations !== undefined ? { annotations: artifact.annotations } : {}),
  };
  return parseManifest(Buffer.from(JSON.stringify(doc)), MediaType.OciImageManifest, "artifact manifest");
}

export async function attach(repo: RemoteRepository, subject: Descriptor, artifact: Artifact): Promise<Attached> {
  const manifest = artifactManifest(subject, artifact);
  const blobs: Array<{ digest: Digest; bytes: Buffer }> = [
    { digest: EMPTY_CONFIG.digest, bytes: Buffer.from("{}") },
    ...artifact.layers.map((l) => ({ digest: digestOf(l.bytes), bytes: l.bytes })),
  ];
  for (const blob of blobs) {
    if ((await repo.blobSize(blob.digest)) !== undefined) continue;
    await repo.uploadMonolithic(await repo.startUpload(), { digest: blob.digest, size: blob.bytes.length }, () => blob.bytes);
  }
  return { manifest, via: await attachReferrer(repo, manifest) };
}
