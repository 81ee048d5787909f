/**
 * The SBOM documents: SPDX 2.3 JSON and CycloneDX 1.5 JSON, built from the package list and the
 * image's manifest digest. Nothing depends on the clock or the machine unless `created` is given, so
 * the same image gives the same bytes: SPDX requires creationInfo.created, so without `created` it is
 * the Unix epoch (as SOURCE_DATE_EPOCH=0 builds write); CycloneDX's timestamp is optional and left out.
 * The document namespace and serial number are derived from the image digest (and `created`).
 */
import { createHash } from "node:crypto";
import { VERSION } from "../version.js";
import { purlOf, type Package } from "./package.js";

export type SbomFormat = "spdx-json" | "cyclonedx-json";
export const FORMATS: readonly SbomFormat[] = ["spdx-json", "cyclonedx-json"];

export interface SbomInput {
  /** The image manifest's digest, "sha256:...". */
  image: string;
  /** "os/arch[/variant]" of the image, from its config. */
  platform: string;
  packages: readonly Package[];
  /** RFC 3339, UTC, whole seconds: "2024-01-02T03:04:05Z". */
  created?: string;
}

const EPOCH = "1970-01-01T00:00:00Z";
// A URI no one else mints: "invalid" is reserved (RFC 2606), so it can never name a real document.
const NAMESPACE_BASE = "https://rules-ociutil.invalid/sbom";
const TOOL = `ociutil-${VERSION}`;

export function renderSbom(format: SbomFormat, input: SbomInput): string {
  const doc = format === "spdx-json" ? spdx(input) : cyclonedx(input);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function hex(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}

function namespaceOf(input: SbomInput): string {
  return `${NAMESPACE_BASE}/${hex(input.image)}${input.created ? `/${input.created}` : ""}`;
}

function spdx(input: SbomInput): object {
  const ids = new Set<string>();
  const packages = input.packages.map((p) => {
    const purl = purlOf(p);
    // SPDXIDs allow [A-Za-z0-9.-] only: the name is made to fit and a hash of the purl keeps it unique.
    const id = `SPDXRef-Package-${p.type}-${p.name.replace(/[^A-Za-z0-9.-]/g, "-")}-${createHash("sha256").update(purl).digest("hex").slice(0, 12)}`;
    ids.add(id);
    return {
      SPDXID: id,
      name: p.name,
      versionInfo: p.version,
      downloadLocation: "NOASSERTION",
      filesAnalyzed: false,
      sourceInfo: `listed in ${p.database}`,
      externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: purl }],
    };
  });
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: input.image,
    documentNamespace: namespaceOf(input),
    creationInfo: { created: input.created ?? EPOCH, creators: [`Tool: ${TOOL}`] },
    packages: [
      {
        SPDXID: "SPDXRef-Image",
        name: input.image,
        versionInfo: input.image,
        downloadLocation: "NOASSERTION",
        filesAnalyzed: false,
        primaryPackagePurpose: "CONTAINER",
        checksums: [{ algorithm: "SHA256", checksumValue: hex(input.image) }],
        comment: `OCI image manifest ${input.image} for ${input.platform}`,
      },
      ...packages,
    ],
    relationships: [
      { spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: "SPDXRef-Image" },
      ...[...ids].map((id) => ({ spdxElementId: "SPDXRef-Image", relationshipType: "CONTAINS", relatedSpdxElement: id })),
    ],
  };
}

function cyclonedx(input: SbomInput): object {
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.5",
    serialNumber: `urn:uuid:${uuidV5(namespaceOf(input))}`,
    version: 1,
    metadata: {
      ...(input.created ? { timestamp: input.created } : {}),
      tools: { components: [{ type: "application", name: "ociutil", version: VERSION }] },
      component: {
        type: "container",
        "bom-ref": input.image,
        name: input.image,
        version: input.image,
        hashes: [{ alg: "SHA-256", content: hex(input.image) }],
        properties: [{ name: "ociutil:platform", value: input.platform }],
      },
    },
    components: input.packages.map((p) => {
      const purl = purlOf(p);
      return {
        type: "library",
        "bom-ref": purl,
        name: p.name,
        version: p.version,
        purl,
        properties: [{ name: "ociutil:database", value: p.database }],
      };
    }),
  };
}

/** RFC 4122 name-based UUID (version 5, SHA-1) in the URL namespace. */
function uuidV5(name: string): string {
  const ns = Buffer.from("6ba7b8119dad11d180b400c04fd430c8", "hex");
  const h = createHash("sha1").update(ns).update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const s = h.subarray(0, 16).toString("hex");
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}
