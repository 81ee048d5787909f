#!/usr/bin/env node
// The promoter benchmark (issue 11): validating and planning 440,000 edges from a thin manifest
// directory against local registries, and promoting 200 images with --jobs 8 through the fault proxy
// answering 429s. See docs/bench.md.
//
//   node bench/promote.mjs [--scale F] [--skip-scale] [--skip-promotion]
//
// It reuses the test harness (real docker-registry instances, the fault proxy, cosign from the sid
// rootfs), which is TypeScript: this launcher bundles bench/promote/bench.ts with esbuild and runs it.
// Runs the committed oci/private/ociutil.mjs. A benchmark, not a test: exit 0 whatever the speeds,
// 1 if a promotion does not complete correctly.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outfile = path.join(root, "node_modules", ".cache", "bench-promote", "bench.mjs");
await build({
  entryPoints: [path.join(root, "bench", "promote", "bench.ts")],
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
