// Makes a release of rules_ociutil: the source archive the Bazel Central Registry downloads
// (`git archive` of a commit, so the committed bundle oci/private/ociutil.mjs is inside), its
// integrity (sha256 SRI, as source.json and archive_override want it), and the release notes'
// MODULE.bazel snippet.
//   usage: npm run release -- v0.1.0 [--out DIR] [--worktree]
//   --worktree: archive the working tree's tracked files, uncommitted changes included (tests).
// The version must be MODULE.bazel's; the bundle must be what tools/ociutil builds to.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");

function fail(message) {
  process.stderr.write(`release: ${message}\n`);
  process.exit(1);
}

const args = process.argv.slice(2);
let tag;
let out = join(root, "dist");
let worktree = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--out") out = resolve(args[++i] ?? fail("--out needs a directory"));
  else if (args[i] === "--worktree") worktree = true;
  else if (tag === undefined && !args[i].startsWith("-")) tag = args[i];
  else fail(`unknown argument ${JSON.stringify(args[i])}; usage: npm run release -- vX.Y.Z [--out DIR] [--worktree]`);
}
if (!tag || !/^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(tag)) fail("give the tag to release, e.g. v0.1.0");
const version = tag.slice(1);

const git = (...a) => execFileSync("git", a, { cwd: root, encoding: "utf8" }).trim();
const moduleVersion = /module\([^)]*?version\s*=\s*"([^"]+)"/s.exec(readFileSync(join(root, "MODULE.bazel"), "utf8"))?.[1];
if (moduleVersion !== version) fail(`MODULE.bazel says version "${moduleVersion}", not "${version}": set it and commit first`);
try {
  execFileSync(process.execPath, [join(root, "tools", "build.mjs"), "--check"], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
} catch {
  fail("oci/private/ociutil.mjs is not the build of tools/ociutil: run npm run -s build and commit it");
}
let commit = "HEAD";
if (worktree) {
  // Files rewritten with the same content (a test that edits and restores one, a rebuilt bundle) are
  // stat-dirty: refresh the index first, or `git stash create` finds "changes" it cannot save and fails.
  git("update-index", "-q", "--refresh");
  commit = git("stash", "create") || "HEAD";
}
else if (git("status", "--porcelain", "--untracked-files=no") !== "") fail("uncommitted changes: commit them (the archive is of HEAD)");

const prefix = `rules_ociutil-${version}`;
const name = `rules_ociutil-${tag}.tar.gz`;
mkdirSync(out, { recursive: true });
const archive = join(out, name);
const tmp = `${archive}.tmp`;
// git's own gzip: the same commit always gives the same bytes, so the integrity is reproducible.
execFileSync("git", ["archive", "--format=tar.gz", `--prefix=${prefix}/`, "-o", tmp, commit], { cwd: root });
renameSync(tmp, archive);
const integrity = "sha256-" + createHash("sha256").update(readFileSync(archive)).digest("base64");

const notes = `## Using rules_ociutil ${version}

In MODULE.bazel (Bazel 7.1 or later; Node.js >= 20 on the host):

\`\`\`starlark
bazel_dep(name = "rules_ociutil", version = "${version}")
\`\`\`

Before the Bazel Central Registry has it, from this release's archive:

\`\`\`starlark
bazel_dep(name = "rules_ociutil", version = "${version}")
archive_override(
    module_name = "rules_ociutil",
    integrity = "${integrity}",
    strip_prefix = "${prefix}",
    urls = ["https://github.com/rules-ociutil/rules_ociutil/releases/download/${tag}/${name}"],
)
\`\`\`
`;
writeFileSync(join(out, "release-notes.md"), notes);
process.stdout.write(`${JSON.stringify({ archive, integrity, strip_prefix: prefix, notes: join(out, "release-notes.md") })}\n`);
