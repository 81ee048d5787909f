/**
 * An SPDX 2.3 JSON document, as a zod schema written from the SPDX 2.3 specification.
 *
 * NOT the official schema file (spdx-spec's schemas/spdx-schema.json): no npm or Debian package ships
 * it (searched: the npm "spdx-*" packages carry license lists and expression parsers only; Debian has
 * none), and nothing may be downloaded at test time. So this encodes the spec's facts that a consumer
 * relies on: the required fields of the document, creation info, packages and relationships; the
 * SPDXID pattern and uniqueness; the checksum algorithm, external reference category, package purpose
 * and relationship type enumerations; the date format; and that every relationship names an element
 * of the document. Unknown fields are rejected (the official schema allows none either).
 */
import { z } from "zod";

const SPDX_ID = /^SPDXRef-[A-Za-z0-9.-]+$/;
const DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const CHECKSUM_ALGORITHMS = [
  "SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "SHA3-256", "SHA3-384", "SHA3-512",
  "BLAKE2b-256", "BLAKE2b-384", "BLAKE2b-512", "BLAKE3", "MD2", "MD4", "MD5", "MD6", "ADLER32",
] as const;
const REFERENCE_CATEGORIES = ["SECURITY", "PACKAGE-MANAGER", "PACKAGE_MANAGER", "PERSISTENT-ID", "PERSISTENT_ID", "OTHER"] as const;
const PURPOSES = ["APPLICATION", "FRAMEWORK", "LIBRARY", "CONTAINER", "OPERATING-SYSTEM", "DEVICE", "FIRMWARE", "SOURCE", "ARCHIVE", "FILE", "INSTALL", "OTHER"] as const;
const RELATIONSHIP_TYPES = [
  "DESCRIBES", "DESCRIBED_BY", "CONTAINS", "CONTAINED_BY", "DEPENDS_ON", "DEPENDENCY_OF", "DEPENDENCY_MANIFEST_OF",
  "BUILD_DEPENDENCY_OF", "DEV_DEPENDENCY_OF", "OPTIONAL_DEPENDENCY_OF", "PROVIDED_DEPENDENCY_OF", "TEST_DEPENDENCY_OF",
  "RUNTIME_DEPENDENCY_OF", "EXAMPLE_OF", "GENERATES", "GENERATED_FROM", "ANCESTOR_OF", "DESCENDANT_OF", "VARIANT_OF",
  "DISTRIBUTION_ARTIFACT", "PATCH_FOR", "PATCH_APPLIED", "COPY_OF", "FILE_ADDED", "FILE_DELETED", "FILE_MODIFIED",
  "EXPANDED_FROM_ARCHIVE", "DYNAMIC_LINK", "STATIC_LINK", "DATA_FILE_OF", "TEST_CASE_OF", "BUILD_TOOL_OF", "DEV_TOOL_OF",
  "TEST_OF", "TEST_TOOL_OF", "DOCUMENTATION_OF", "OPTIONAL_COMPONENT_OF", "METAFILE_OF", "PACKAGE_OF", "AMENDS",
  "PREREQUISITE_FOR", "HAS_PREREQUISITE", "REQUIREMENT_DESCRIPTION_FOR", "SPECIFICATION_FOR", "OTHER",
] as const;

// downloadLocation: a URL/VCS location, or NONE / NOASSERTION.
const LOCATION = z.string().regex(/^(NONE|NOASSERTION|[a-z+]+:\S+)$/);

const Package = z.strictObject({
  SPDXID: z.string().regex(SPDX_ID),
  name: z.string().min(1),
  downloadLocation: LOCATION,
  versionInfo: z.string().min(1).optional(),
  filesAnalyzed: z.boolean().optional(),
  sourceInfo: z.string().optional(),
  comment: z.string().optional(),
  primaryPackagePurpose: z.enum(PURPOSES).optional(),
  checksums: z.array(z.strictObject({ algorithm: z.enum(CHECKSUM_ALGORITHMS), checksumValue: z.string().regex(/^[0-9a-f]+$/) })).optional(),
  externalRefs: z
    .array(z.strictObject({ referenceCategory: z.enum(REFERENCE_CATEGORIES), referenceType: z.string().min(1), referenceLocator: z.string().regex(/^\S+$/) }))
    .optional(),
});

export const Spdx23Document = z
  .strictObject({
    spdxVersion: z.literal("SPDX-2.3"),
    dataLicense: z.literal("CC0-1.0"),
    SPDXID: z.literal("SPDXRef-DOCUMENT"),
    name: z.string().min(1),
    documentNamespace: z.url().refine((u) => !u.includes("#"), "documentNamespace must not contain '#'"),
    creationInfo: z.strictObject({
      created: z.string().regex(DATE),
      creators: z.array(z.string().regex(/^(Tool|Organization|Person): \S/)).min(1),
    }),
    packages: z.array(Package),
    relationships: z.array(
      z.strictObject({
        spdxElementId: z.string().regex(/^SPDXRef-[A-Za-z0-9.-]+$|^SPDXRef-DOCUMENT$/),
        relationshipType: z.enum(RELATIONSHIP_TYPES),
        relatedSpdxElement: z.string().regex(/^(SPDXRef-[A-Za-z0-9.-]+|NONE|NOASSERTION)$/),
      }),
    ),
  })
  .superRefine((doc, ctx) => {
    const ids = new Set<string>(["SPDXRef-DOCUMENT"]);
    for (const p of doc.packages) {
      if (ids.has(p.SPDXID)) ctx.addIssue({ code: "custom", message: `SPDXID ${p.SPDXID} is not unique` });
      ids.add(p.SPDXID);
      // Spec 7.9: a package whose files were analyzed (the default) must have a verification code.
      if (p.filesAnalyzed !== false) ctx.addIssue({ code: "custom", message: `${p.SPDXID}: filesAnalyzed without packageVerificationCode` });
    }
    for (const r of doc.relationships) {
      for (const id of [r.spdxElementId, r.relatedSpdxElement]) {
        if (id !== "NONE" && id !== "NOASSERTION" && !ids.has(id)) ctx.addIssue({ code: "custom", message: `relationship names ${id}, which is not in the document` });
      }
    }
    if (!doc.relationships.some((r) => r.spdxElementId === "SPDXRef-DOCUMENT" && r.relationshipType === "DESCRIBES")) {
      ctx.addIssue({ code: "custom", message: "the document DESCRIBES nothing" });
    }
  });
