/**
 * container-structure-test's YAML (schemaVersion 2.0.0), the parts that need no container runtime:
 * fileExistenceTests, fileContentTests, metadataTest, licenseTests. Keys are checked strictly (a typo
 * must not make a check silently vanish), and commandTests, which need to run the image, are refused.
 * JSON is YAML too: the oci_structure_test rule writes its own attributes as one more config file.
 */
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import * as z from "zod";
import { describeIssues } from "../spec/schemas.js";
import { OciError } from "../util/errors.js";

const keyValue = z.object({ key: z.string().min(1), value: z.string(), isRegex: z.boolean().optional() }).strict();

export const FileExistenceSchema = z
  .object({
    name: z.string().min(1),
    path: z.string().min(1),
    shouldExist: z.boolean().default(true),
    /** Go's os.FileMode string, as container-structure-test compares it: "-rw-r--r--", "drwxr-xr-x", "Lrwxrwxrwx". */
    permissions: z.string().optional(),
    uid: z.number().int().optional(),
    gid: z.number().int().optional(),
    isExecutableBy: z.enum(["any", "owner", "group", "other"]).optional(),
  })
  .strict();

export const FileContentSchema = z
  .object({
    name: z.string().min(1),
    path: z.string().min(1),
    expectedContents: z.array(z.string()).default([]),
    excludedContents: z.array(z.string()).default([]),
  })
  .strict();

export const MetadataSchema = z
  .object({
    env: z.array(keyValue).optional(),
    envVars: z.array(keyValue).optional(),
    labels: z.array(keyValue).optional(),
    exposedPorts: z.array(z.string().min(1)).optional(),
    unexposedPorts: z.array(z.string().min(1)).optional(),
    volumes: z.array(z.string().min(1)).optional(),
    unmountedVolumes: z.array(z.string().min(1)).optional(),
    entrypoint: z.array(z.string()).optional(),
    cmd: z.array(z.string()).optional(),
    workdir: z.string().optional(),
    user: z.string().optional(),
  })
  .strict();

export const LicenseSchema = z.object({ debian: z.boolean().default(false), files: z.array(z.string()).default([]) }).strict();

export const StructureConfigSchema = z
  .object({
    schemaVersion: z.literal("2.0.0"),
    fileExistenceTests: z.array(FileExistenceSchema).default([]),
    fileContentTests: z.array(FileContentSchema).default([]),
    metadataTest: MetadataSchema.optional(),
    licenseTests: z.array(LicenseSchema).default([]),
  })
  .strict();

export type StructureConfig = z.infer<typeof StructureConfigSchema>;
export type FileExistenceTest = z.infer<typeof FileExistenceSchema>;
export type FileContentTest = z.infer<typeof FileContentSchema>;
export type MetadataTest = z.infer<typeof MetadataSchema>;
export type LicenseTest = z.infer<typeof LicenseSchema>;

export async function readStructureConfig(file: string): Promise<StructureConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new OciError(`cannot read structure test config ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: true, prettyErrors: false });
  } catch (err) {
    throw new OciError(`structure test config ${file} is not YAML: ${(err as Error).message}`);
  }
  if (doc !== null && typeof doc === "object" && "commandTests" in doc) {
    throw new OciError(`structure test config ${file}: commandTests run the image and need a container runtime; oci_structure_test reads the image only (use oci_layout_test with container-structure-test for them)`);
  }
  const parsed = StructureConfigSchema.safeParse(doc);
  if (!parsed.success) throw new OciError(`structure test config ${file}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
