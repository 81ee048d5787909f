/**
 * Ready for the Bazel Central Registry (issue 19): `npm run release` makes the source archive the
 * registry downloads; that archive, unpacked alone (no checkout, no node_modules), is a module that
 * .bcr/presubmit.yml's test module (e2e/bcr) uses through `archive_override` with the printed
 * integrity; and the presubmit's build and test targets pass under the real Bazel 7.7.1 (the test
 * module pushes to a registry its own test starts, as the presubmit machines have none).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { BazelWorkspace, MountedCheckout, REPO_ROOT, makeTempDir, mustRun, removeTempDir } from "./harness/index.js";

const checkout = new MountedCheckout();
/** One directory per checkout inside the rootfs, reused so that its Bazel output base is too. */
const DIR = `/tmp/rules_ociutil-bcr-${createHash("sha256").update(REPO_ROOT).digest("hex").slice(0, 12)}`;
const ws = new BazelWorkspace(checkout, `${DIR}/module`);
/** Debian's rules_shell in the rootfs (.ci/setup-sid-rootfs): this Bazel runs offline. */
const RULES_SHELL = "--override_module=rules_shell=/usr/share/bazel/rules/shell";

const VERSION = /version = "([^"]+)"/.exec(execFileSync("git", ["show", "HEAD:MODULE.bazel"], { cwd: REPO_ROOT, encoding: "utf8" }))![1]!;
const TAG = `v${VERSION}`;
let tmp: string;
let release: { archive: string; integrity: string; strip_prefix: string; notes: string };

interface Task {
  build_targets?: string[];
  build_flags?: string[];
  test_targets?: string[];
  test_flags?: string[];
}
let presubmit: { bcr_test_module: { module_path: string; matrix: { bazel: string[]; platform: string[] }; tasks: Record<string, Task> } };

beforeAll(async () => {
  await checkout.mount();
  tmp = await makeTempDir("bcr");
  const r = await mustRun(process.execPath, [join(REPO_ROOT, "tools", "release.mjs"), TAG, "--out", tmp, "--worktree"]);
  release = JSON.parse(r.stdout) as typeof release;
  presubmit = YAML.parse(await readFile(join(REPO_ROOT, ".bcr", "presubmit.yml"), "utf8")) as typeof presubmit;
  // The archive alone, where Bazel reaches it; the test module from inside it (as the BCR does).
  const host = checkout.host(DIR);
  await rm(join(host, "module"), { recursive: true, force: true });
  await rm(join(host, "unpacked"), { recursive: true, force: true });
  await mkdir(join(host, "unpacked"), { recursive: true });
  await cp(release.archive, join(host, "release.tar.gz"));
  await mustRun("tar", ["-xzf", join(host, "release.tar.gz"), "-C", join(host, "unpacked")]);
  await cp(join(host, "unpacked", release.strip_prefix, presubmit.bcr_test_module.module_path), join(host, "module"), { recursive: true });
  const module = await readFile(join(host, "module", "MODULE.bazel"), "utf8");
  const override = [
    "archive_override(",
    '    module_name = "rules_ociutil",',
    `    integrity = "${release.integrity}",`,
    `    strip_prefix = "${release.strip_prefix}",`,
    `    urls = ["file://${DIR}/release.tar.gz"],`,
    ")",
  ].join("\n");
  const replaced = module.replace(/local_path_override\([^)]*\)/, override);
  expect(replaced, "e2e/bcr/MODULE.bazel has a local_path_override of rules_ociutil to replace").not.toBe(module);
  await writeFile(join(host, "module", "MODULE.bazel"), replaced);
}, 600_000);

afterAll(async () => {
  await ws.bazel("shutdown").catch(() => undefined);
  if (tmp) await removeTempDir(tmp);
  checkout.unmount();
});

describe("the release archive and .bcr/", () => {
  it("the archive holds the committed bundle and the test module, and nothing that is not tracked", async () => {
    const list = (await mustRun("tar", ["-tzf", release.archive])).stdout.split("\n");
    const p = `${release.strip_prefix}/`;
    for (const f of ["MODULE.bazel", "oci/defs.bzl", "oci/private/ociutil.mjs", "e2e/bcr/MODULE.bazel", ".bcr/presubmit.yml"]) expect(list).toContain(p + f);
    expect(list.filter((f) => f.includes("node_modules/"))).toEqual([]);
    const bundle = execFileSync("tar", ["-xzOf", release.archive, `${p}oci/private/ociutil.mjs`], { maxBuffer: 64 << 20 });
    expect(bundle.equals(await readFile(join(REPO_ROOT, "oci", "private", "ociutil.mjs")))).toBe(true);
  });

  it("the integrity is the archive's sha256, and the release notes' snippets name this version and archive", async () => {
    const sha = createHash("sha256").update(await readFile(release.archive)).digest("base64");
    expect(release.integrity).toBe(`sha256-${sha}`);
    const notes = await readFile(release.notes, "utf8");
    expect(notes).toContain(`bazel_dep(name = "rules_ociutil", version = "${VERSION}")`);
    expect(notes).toContain(`integrity = "${release.integrity}"`);
    expect(notes).toContain(`/releases/download/${TAG}/rules_ociutil-${TAG}.tar.gz`);
  });

  it("source.template.json names the archive the release command makes; metadata.template.json is complete", async () => {
    const source = JSON.parse(await readFile(join(REPO_ROOT, ".bcr", "source.template.json"), "utf8")) as { url: string; strip_prefix: string };
    const fill = (s: string) => s.replaceAll("{VERSION}", VERSION).replaceAll("{TAG}", TAG);
    expect(fill(source.strip_prefix)).toBe(release.strip_prefix);
    expect(fill(source.url).split("/").at(-1)).toBe(release.archive.split("/").at(-1));
    const metadata = JSON.parse(await readFile(join(REPO_ROOT, ".bcr", "metadata.template.json"), "utf8")) as Record<string, unknown>;
    expect(Object.keys(metadata).sort()).toEqual(["homepage", "maintainers", "repository", "versions", "yanked_versions"]);
    expect(presubmit.bcr_test_module.matrix.bazel).toEqual(["7.x", "8.x", "9.x"]);
    expect(presubmit.bcr_test_module.matrix.platform.some((p) => p.startsWith("macos"))).toBe(true);
    expect(presubmit.bcr_test_module.matrix.platform.some((p) => /debian|ubuntu/.test(p))).toBe(true);
  });

  it("the presubmit's test module builds and passes its tests (the push included) with the archive as rules_ociutil", async () => {
    for (const [name, task] of Object.entries(presubmit.bcr_test_module.tasks)) {
      const build = await ws.bazel(`build ${RULES_SHELL} ${(task.build_flags ?? []).join(" ")} -- ${(task.build_targets ?? []).join(" ")}`);
      expect(build.code, `task ${name}: bazel build\n${build.stderr.slice(-4000)}`).toBe(0);
      const test = await ws.bazel(`test ${RULES_SHELL} ${(task.test_flags ?? []).join(" ")} -- ${(task.test_targets ?? []).join(" ")}`);
      expect(test.code, `task ${name}: bazel test\n${test.stdout.slice(-3000)}\n${test.stderr.slice(-4000)}`).toBe(0);
      expect(test.stdout + test.stderr).toMatch(/\/\/:push_test\s+PASSED/);
    }
    // Bazel used the archive, not a checkout: its copy of rules_ociutil is the unpacked release.
    const r = await ws.mustBazel(`query ${RULES_SHELL} --output=location @rules_ociutil//oci/private:ociutil.mjs`);
    expect(r.stdout).not.toContain(checkout.src);
  });
});
