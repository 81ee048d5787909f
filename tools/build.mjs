#!/usr/bin/env node
// Bundles tools/ociutil into the one ESM file that Bazel actions run: oci/private/ociutil.mjs.
// The bundle is committed so users of the ruleset need Node and nothing else (no npm install).
//   node tools/build.mjs           rebuild it
//   node tools/build.mjs --check   fail if the committed bundle differs from a fresh build (CI)
//   node tools/build.mjs --out F   write the bundle to F instead
import { build } from "esbuild";
import { bundleOptions } from "./bundle-options.mjs";
import { readFile, writeFile, rename } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const committed = path.join(root, "oci/private/ociutil.mjs");
const args = process.argv.slice(2);
const check = args.includes("--check");
const outIndex = args.indexOf("--out");
const out = outIndex >= 0 ? path.resolve(args[outIndex + 1]) : committed;

const result = await build({ ...bundleOptions(root), write: false });
const bundle = result.outputFiles[0].contents;

if (check) {
  const current = await readFile(committed).catch(() => Buffer.alloc(0));
  if (!Buffer.from(bundle).equals(current)) {
    console.error("oci/private/ociutil.mjs differs from a fresh build of tools/ociutil: run `npm run build` and commit it");
    process.exit(1);
  }
  console.log("oci/private/ociutil.mjs matches a fresh build");
} else {
  const tmp = `${out}.tmp-${process.pid}`;
  await writeFile(tmp, bundle, { mode: 0o755 });
  await rename(tmp, out);
  console.log(`wrote ${path.relative(process.cwd(), out)} (${bundle.length} bytes)`);
}
