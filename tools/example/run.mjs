#!/usr/bin/env node
// `npm run example`: README.md's five-minute example, end to end (see tools/example/README.md).
//
// The example is TypeScript that shares the test harness's modules (registry, Bazel in the rootfs,
// registry log), so the tests and this command run the same code. Node 20 runs no TypeScript, so this
// bundles tools/example/main.ts with esbuild (a dev dependency that `bash .ci/setup` installs) into a
// temp file, loads it, removes it, and runs it.
import { mkdtemp, rm, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  process.stderr.write("example: not set up yet (no node_modules): run `bash .ci/setup` as root\n");
  process.exit(1);
}

/** Each module's import.meta.url stays its source file's, so paths relative to it (REPO_ROOT) hold. */
const sourceUrls = {
  name: "source-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => ({
      contents: (await readFile(args.path, "utf8")).replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)),
      loader: "ts",
    }));
  },
};

const out = await esbuild.build({
  absWorkingDir: root,
  entryPoints: ["tools/example/main.ts"],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20.18",
  write: false,
  logLevel: "error",
  plugins: [sourceUrls],
  // CommonJS dependencies (tar-stream's) call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __exampleCreateRequire } from 'node:module';\nconst require = __exampleCreateRequire(import.meta.url);" },
});
const dir = await mkdtemp(join(tmpdir(), "rules_ociutil-example-bundle-"));
let main;
try {
  const file = join(dir, "example.mjs");
  await writeFile(file, out.outputFiles[0].contents);
  ({ main } = await import(pathToFileURL(file).href));
} finally {
  await rm(dir, { recursive: true, force: true });
}
const code = await main(process.argv.slice(2));
// Exit now, even if a bug left a handle open: the registry's exit hook then kills it rather than it
// outliving this command.
process.exit(code);
