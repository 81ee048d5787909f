/**
 * Bazel's `@file` arguments. Actions pass their arguments in a param file (one argument a line), since
 * a persistent worker must get them that way. Bazel expands the file itself for the worker; a plain
 * run (the `worker` strategy off, sandboxed, or on a remote executor) gets `@file` and expands it
 * here, by the same rule, so both see the same arguments: a line that starts with `@` is itself a
 * file to expand, except `@@...` and a label `@repo//...`.
 */
import { readFileSync } from "node:fs";
import { UsageError } from "../util/errors.js";

const EXTERNAL_LABEL = /^@@?[\w.~+-]*\/\//;

export function expandParamFiles(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const arg of args) expand(arg, out, 0);
  return out;
}

function expand(arg: string, out: string[], depth: number): void {
  if (!arg.startsWith("@") || arg.startsWith("@@") || EXTERNAL_LABEL.test(arg)) {
    out.push(arg);
    return;
  }
  if (depth >= 8) throw new UsageError(`${arg}: param files nested more than 8 deep`);
  let text: string;
  try {
    text = readFileSync(arg.slice(1), "utf8");
  } catch (err) {
    throw new UsageError(`cannot read the param file ${arg.slice(1)}: ${(err as Error).message}`);
  }
  // Bazel's "multiline" format: one argument a line, the last line ended by a newline or not.
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.at(-1) === "") lines.pop();
  for (const line of lines) expand(line, out, depth + 1);
}
