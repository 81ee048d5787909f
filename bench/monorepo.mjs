#!/usr/bin/env node
// The Bazel-scale benchmark (issue 18): a generated workspace of 200 images built cold and after one
// app file changes, with ociutil's actions in the persistent worker, as one process each, and
// replaced by a trivial process (the floor: Bazel's own share). See docs/bench.md.
//
//   node bench/monorepo.mjs [--images N] [--runs N]
//
// It reuses the test harness (a docker-registry for the base image, crane and Bazel 7 in the sid
// rootfs), which is TypeScript: this launcher bundles bench/monorepo/bench.ts with esbuild and
// runs it. Runs the committed oci/private/ociutil.mjs. Needs root (chroot). A benchmark, not a test:
// exit 0 whatever the speeds, 1 if a build fails.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outfile = path.join(root, "node_modules", ".cache", "bench-monorepo", "bench.mjs");
await build({
  entryPoints: [path.join(root, "bench", "monorepo", "bench.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  outfile,
  logLevel: "warning",
});
const r = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(r.status ?? 1);
