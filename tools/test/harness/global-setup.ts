/**
 * Vitest global setup: bundles the CLI under test (tools/ociutil/main.ts) with esbuild, with the
 * release bundle's options (tools/bundle-options.mjs) plus a source map, to
 * node_modules/.cache/ociutil-test/ociutil.mjs.
 * A compile error fails the whole run with esbuild's messages.
 *
 * OCIUTIL_TEST_NO_BUNDLE=1 skips the build (for working on the harness alone while main.ts does not
 * build); runOciutil() then fails with a message saying so.
 */
import { mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { build, formatMessages, type Message } from "esbuild";
import { bundleOptions } from "../../bundle-options.mjs";
import { BUNDLE_PATH, REPO_ROOT } from "./cli.js";

export const ENTRY = join(REPO_ROOT, "tools", "ociutil", "main.ts");

export async function buildOciutilBundle(outfile = BUNDLE_PATH, entry = ENTRY): Promise<string> {
  if (!existsSync(entry)) throw new Error(`cannot build the ociutil test bundle: ${entry} does not exist`);
  await mkdir(dirname(outfile), { recursive: true });
  try {
    const res = await build({
      ...bundleOptions(REPO_ROOT),
      entryPoints: [entry],
      outfile,
      // A separate map keeps the bundle small to load; runOciutil uses it when OCIUTIL_TEST_SOURCE_MAPS is set.
      sourcemap: "linked",
      logLevel: "silent",
    });
    if (res.warnings.length > 0) {
      const text = await formatMessages(res.warnings, { kind: "warning", color: false });
      process.stderr.write(`esbuild warnings while bundling ${entry}:\n${text.join("")}`);
    }
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    if (errors && errors.length > 0) {
      const text = await formatMessages(errors, { kind: "error", color: false });
      throw new Error(`esbuild could not bundle ${entry}:\n${text.join("")}`);
    }
    throw e;
  }
  return outfile;
}

export default async function setup(): Promise<void> {
  if (process.env["OCIUTIL_TEST_NO_BUNDLE"]) return;
  await buildOciutilBundle();
}
