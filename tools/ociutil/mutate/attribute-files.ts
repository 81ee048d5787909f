/**
 * Attribute values given as files, as rules_oci users write them (often made by a stamping step):
 * `name=value` a line for env, labels and annotations; one item a line for entrypoint, cmd and tags;
 * one line for `created`. Empty lines are skipped; a line that is not what it should be is an error
 * naming the file and the line.
 */
import { readFile } from "node:fs/promises";
import { OciError } from "../util/errors.js";

async function lines(file: string, what: string): Promise<Array<{ text: string; n: number }>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new OciError(`cannot read the ${what} file ${file}: ${(err as Error).message}`);
  }
  return text
    .split(/\r?\n/)
    .map((line, i) => ({ text: line, n: i + 1 }))
    .filter((l) => l.text.trim() !== "");
}

/** `name=value` a line; the value may itself contain "=". */
export async function readKeyValueFile(file: string, what: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const { text, n } of await lines(file, what)) {
    const eq = text.indexOf("=");
    if (eq <= 0) throw new OciError(`${what} file ${file}, line ${n}: expected name=value, got "${text}"`);
    out[text.slice(0, eq).trim()] = text.slice(eq + 1);
  }
  return out;
}

/** One item a line. */
export async function readListFile(file: string, what: string): Promise<string[]> {
  return (await lines(file, what)).map((l) => l.text);
}

/** Exactly one non-empty line. */
export async function readValueFile(file: string, what: string): Promise<string> {
  const all = await lines(file, what);
  if (all.length !== 1) throw new OciError(`${what} file ${file}: expected one line, it has ${all.length}`);
  return all[0]!.text.trim();
}
