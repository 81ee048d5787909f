/**
 * Small helpers shared by the build subcommands (layer, image, index, layout): reading the JSON files
 * that Bazel rules write for them, and the descriptor files they hand to each other.
 */
import { readFile } from "node:fs/promises";
import type { z } from "zod";
import { parseDigest, type Digest } from "../name/digest.js";
import { DescriptorSchema, describeIssues, type Descriptor } from "../spec/schemas.js";
import { OciError, UsageError } from "../util/errors.js";

export async function readJsonFile<T>(file: string, schema: z.ZodType<T>, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new OciError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OciError(`${what} ${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new OciError(`${what} ${file}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

export function readDescriptorFile(file: string): Promise<Descriptor> {
  return readJsonFile(file, DescriptorSchema, "descriptor");
}

/** Splits "A=B" (an option value pairing two things) at the first "=". */
export function splitPair(value: string, flag: string): [string, string] {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new UsageError(`${flag} expects KEY=VALUE, got "${value}"`);
  return [value.slice(0, eq), value.slice(eq + 1)];
}

/** commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function asDigest(value: string): Digest {
  return parseDigest(value);
}

/** Deterministic JSON: the bytes of a manifest or config we create (2-space indent would also be
 *  deterministic, but compact is what registries and peers produce). */
export function canonicalBytes(doc: unknown): Buffer {
  return Buffer.from(JSON.stringify(doc), "utf8");
}
