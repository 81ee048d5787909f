/**
 * Bazel stamping: `{{KEY}}` placeholders (bazel-lib expand_template's syntax, what rules_oci users
 * write) replaced by the values of `--workspace_status_command`, which Bazel writes to
 * bazel-out/stable-status.txt and volatile-status.txt as `KEY value` lines.
 *
 * A stamped action gets the status files; an unstamped one gets none, and then a value that holds a
 * placeholder is left out (its label, annotation or tag is not set; `created` keeps its default), so
 * an unstamped build never reads the status files and stays reproducible.
 */
import { readFile } from "node:fs/promises";
import { OciError } from "../util/errors.js";

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Values by key; `undefined` when the build is not stamped. */
export type StampValues = Map<string, string> | undefined;

export async function readStatusFiles(files: string[]): Promise<StampValues> {
  if (files.length === 0) return undefined;
  const values = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      throw new OciError(`cannot read the workspace status file ${file}: ${(err as Error).message}`);
    }
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      const sp = line.indexOf(" ");
      // Bazel writes "KEY value"; a key with no value is an empty value.
      if (sp < 0) values.set(line.trim(), "");
      else values.set(line.slice(0, sp), line.slice(sp + 1));
    }
  }
  return values;
}

export function hasPlaceholder(value: string): boolean {
  return new RegExp(PLACEHOLDER.source).test(value);
}

/**
 * `value` with each `{{KEY}}` replaced; `undefined` when it has a placeholder and the build is not
 * stamped. A key that a stamped build has no value for is an error naming it and `what`.
 */
export function expand(value: string, values: StampValues, what: string): string | undefined {
  if (!hasPlaceholder(value)) return value;
  if (values === undefined) return undefined;
  return value.replace(PLACEHOLDER, (_, key: string) => {
    const v = values.get(key);
    if (v === undefined) {
      throw new OciError(`${what}: {{${key}}} has no value: --workspace_status_command printed no ${key} line (keys: ${[...values.keys()].sort().join(", ") || "none"})`);
    }
    return v;
  });
}

const CREATED_KEY = "org.opencontainers.image.created";

/**
 * Each value of `map` expanded; entries that are left out unstamped are dropped. The OCI `created`
 * key is a time, so a stamped number of seconds becomes RFC 3339, as the config's `created` does.
 */
export function expandMap(map: Record<string, string> | undefined, values: StampValues, what: string): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) {
    const e = expand(v, values, `${what} ${k}`);
    if (e !== undefined) out[k] = k === CREATED_KEY && hasPlaceholder(v) ? stampedTime(e) : e;
  }
  return out;
}

/** `created` after expansion: Bazel's BUILD_TIMESTAMP is seconds since the epoch; an image wants RFC 3339. */
export function stampedTime(value: string): string {
  return /^\d{1,12}$/.test(value) ? new Date(Number(value) * 1000).toISOString().replace(".000Z", "Z") : value;
}
