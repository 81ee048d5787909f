/**
 * An SBOM file as an OCI 1.1 referrer of the image it describes: the artifact type and layer media
 * type are the SBOM's own (`application/spdx+json`, `application/vnd.cyclonedx+json`), as syft, oras
 * and cosign's `attach sbom` use them, so `oras discover --artifact-type` finds it.
 */
import { readFile, stat } from "node:fs/promises";
import type { Artifact } from "../ops/attach.js";
import { OciError } from "../util/errors.js";

/** SBOMs are attached from memory; a bigger one is refused rather than loaded. */
const MAX_SBOM_BYTES = 64 << 20;

export const SPDX_JSON = "application/spdx+json";
export const CYCLONEDX_JSON = "application/vnd.cyclonedx+json";

export interface SbomFile {
  mediaType: string;
  bytes: Buffer;
  /** The image digest the SBOM names as what it describes, if it names one (ociutil sbom does). */
  describes: string | undefined;
}

/** Reads and recognises an SPDX or CycloneDX JSON file; anything else is one error line. */
export async function readSbomFile(file: string, flag: string): Promise<SbomFile> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    throw new OciError(`${flag} ${file}: ${(err as Error).message}`);
  }
  if (size > MAX_SBOM_BYTES) throw new OciError(`${flag} ${file}: ${size} bytes, more than the ${MAX_SBOM_BYTES >> 20} MiB an attached SBOM may have`);
  const bytes = await readFile(file);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new OciError(`${flag} ${file}: not JSON (an SPDX or CycloneDX JSON document is expected)`);
  }
  if (typeof doc["spdxVersion"] === "string" && doc["spdxVersion"].startsWith("SPDX-")) {
    return { mediaType: SPDX_JSON, bytes, describes: spdxImageDigest(doc) };
  }
  if (doc["bomFormat"] === "CycloneDX") {
    const hashes = (doc["metadata"] as { component?: { hashes?: Array<{ alg?: string; content?: string }> } } | undefined)?.component?.hashes;
    const sha = hashes?.find((h) => h.alg === "SHA-256")?.content;
    return { mediaType: CYCLONEDX_JSON, bytes, describes: sha !== undefined ? `sha256:${sha}` : undefined };
  }
  throw new OciError(`${flag} ${file}: neither an SPDX (spdxVersion) nor a CycloneDX (bomFormat) JSON document`);
}

function spdxImageDigest(doc: Record<string, unknown>): string | undefined {
  const packages = (doc["packages"] as Array<{ SPDXID?: string; checksums?: Array<{ algorithm?: string; checksumValue?: string }> }> | undefined) ?? [];
  const sha = packages.find((p) => p.SPDXID === "SPDXRef-Image")?.checksums?.find((c) => c.algorithm === "SHA256")?.checksumValue;
  return sha !== undefined ? `sha256:${sha}` : undefined;
}

/** Refuses an SBOM that says it describes another image than the one pushed. */
export function checkSbomSubject(sbom: SbomFile, digest: string, flag: string): void {
  if (sbom.describes !== undefined && sbom.describes !== digest) {
    throw new OciError(`${flag}: the SBOM describes ${sbom.describes}, not the pushed ${digest}`);
  }
}

export function sbomArtifact(sbom: SbomFile): Artifact {
  return { artifactType: sbom.mediaType, layers: [{ mediaType: sbom.mediaType, bytes: sbom.bytes }] };
}
