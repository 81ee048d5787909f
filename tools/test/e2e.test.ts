/**
 * End to end: the Bazel rules under the real Bazel 7 (in the Debian unstable rootfs, entered with
 * chroot), against a real docker-registry on 127.0.0.1 seeded with base images the harness builds.
 *
 * It runs e2e/smoke as a user would (`bazel build`, then `bazel test //...`) and checks from outside:
 * - `bazel build` of the image does not fetch the full pull (@base_all) of its base;
 * - the layouts pass `ociutil verify`, `skopeo copy` and `umoci unpack` (with a file only the base has);
 * - base blobs are hard-linked into the layout (assembly cost does not grow with base size);
 * - the image's own actions run once (not again in the full-pull configuration);
 * - the image digest is the same after a clean rebuild; an app change rebuilds without refetching;
 * - each error case fails with one clear message naming the target and the fix.
 *
 * Needs root (chroot, bind mount) and the rootfs of `.ci/setup-sid-rootfs`; a missing one is an error.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  REPO_ROOT,
  buildTestIndex,
  makeTempDir,
  mustRun,
  peer,
  pushWithCrane,
  readmeBlock,
  readmeModule,
  removeTempDir,
  runTool,
  sidRootfs,
  startRegistry,
  type LayerSpec,
  type RunResult,
  type TestRegistry,
} from "./harness/index.js";

const ROOTFS = sidRootfs();
/** Where the checkout is bind-mounted inside the rootfs: one place per checkout, so that two
 *  checkouts (a developer's and CI's clone) never find each other's mount. */
const SRC = `/src/${createHash("sha256").update(REPO_ROOT).digest("hex").slice(0, 12)}`;
const WS = `${SRC}/e2e/smoke`;
const HOST_WS = join(REPO_ROOT, "e2e", "smoke");
const OUTPUT_USER_ROOT = "/root/.cache/rules_ociutil-e2e";
const BUNDLE = join(REPO_ROOT, "oci", "private", "ociutil.mjs");
/** The size of the big base layer (MiB, $OCIUTIL_E2E_BIG_LAYER_MB, default 64): to measure that
 *  assembling the layout does not grow with the base's size. */
const BIG_LAYER = Number(process.env["OCIUTIL_E2E_BIG_LAYER_MB"] ?? "64") << 20;

let registry: TestRegistry;
let tmp: string;
let mountedHere = false;
let indexDigest: string;
let amd64Digest: string;
const appConfig = join(HOST_WS, "app", "config.txt");
let appConfigOriginal: Buffer;

/** Runs bash -lc CMD inside the rootfs, in the e2e workspace. */
function inRootfs(cmd: string, timeoutMs = 900_000): Promise<RunResult> {
  return runTool("chroot", [ROOTFS, "bash", "-lc", `cd ${WS} && ${cmd}`], { timeoutMs });
}

function bazel(args: string): Promise<RunResult> {
  return inRootfs(`bazel --output_user_root=${OUTPUT_USER_ROOT} ${args}`);
}

/** Everything Bazel printed on stderr in this run (to see which spawn strategies it used). */
let bazelLog = "";

async function mustBazel(args: string): Promise<RunResult> {
  const r = await bazel(args);
  bazelLog += r.stderr;
  if (r.code !== 0) throw new Error(`bazel ${args} failed (exit ${r.code}):\n${r.stderr.slice(-6000)}`);
  return r;
}

/** A path inside the rootfs, as the host sees it. */
const host = (p: string): string => join(ROOTFS, p);

let outputBase = "";
let bazelBin = "";

async function bazelInfo(): Promise<void> {
  outputBase = (await mustBazel("info output_base")).stdout.trim();
  bazelBin = (await mustBazel("info bazel-bin")).stdout.trim();
}

const externalRepo = (name: string): string => host(join(outputBase, "external", `rules_ociutil~~oci~${name}`));

/** The README's MODULE.bazel example with the test registry and the seeded digest, minus its
 *  bazel_dep (e2e/smoke/MODULE.bazel has one with local_path_override), plus the error cases. */
async function pullsModule(reg: string, digest: string): Promise<string> {
  const pulls = (await readmeModule(reg, digest)).replace(/^bazel_dep\(.*\)\n/m, "");
  return [
    "# Written by tools/test/e2e.test.ts: README.md's example with the test registry and the digest it seeded.",
    pulls,
    "# Error cases (fetched only by tools/test/e2e.test.ts):",
    `oci.pull(name = "unreachable", image = "127.0.0.1:9/nothing", digest = "sha256:${"0".repeat(64)}", insecure = True)`,
    `oci.pull(name = "tag_only", image = "${reg}/e2e/base:multi", insecure = True)`,
    `oci.pull(name = "tag_allowed", image = "${reg}/e2e/base:multi", allow_tag = True, platforms = ["linux/amd64"], insecure = True)`,
    'use_repo(oci, "tag_allowed", "tag_only", "unreachable")',
    "",
  ].join("\n");
}

function isMountpoint(p: string): boolean {
  try {
    execFileSync("mountpoint", ["-q", p]);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  if (!existsSync(join(ROOTFS, "usr", "bin", "bazel"))) {
    throw new Error(`no Bazel in ${ROOTFS}: make the rootfs with: bash .ci/setup-sid-rootfs ${ROOTFS}`);
  }
  if (process.getuid?.() !== 0) throw new Error("the e2e test needs root (chroot and a bind mount)");
  // The checkout, at /src in the rootfs.
  const src = host(SRC);
  await mkdir(src, { recursive: true });
  if (isMountpoint(src)) {
    if (statSync(join(src, "MODULE.bazel")).ino !== statSync(join(REPO_ROOT, "MODULE.bazel")).ino) {
      throw new Error(`${src} is a mount of another checkout: unmount it (umount ${src})`); // only on a hash collision
    }
  } else {
    execFileSync("mount", ["--bind", REPO_ROOT, src]);
    mountedHere = true;
  }

  registry = await startRegistry();
  tmp = await makeTempDir("e2e");
  // The base: a two-platform index; each image has several layers, one of them a file only the base
  // has, and amd64 has a big random layer (to show assembly cost does not grow with base size).
  const layers = (arch: string): LayerSpec[] => [
    { files: { "etc/base-only.txt": `only in the base (${arch})\n` } },
    { files: { "usr/share/base/readme": "base readme\n", "etc/os-release": "ID=e2e\n" } },
  ];
  const layout = join(tmp, "base");
  await buildTestIndex(layout, [
    { platform: { os: "linux", architecture: "amd64" }, layers: [...layers("amd64"), { randomBytes: BIG_LAYER }] },
    { platform: { os: "linux", architecture: "arm64" }, layers: layers("arm64") },
  ]);
  indexDigest = await pushWithCrane(layout, `${registry.host}/e2e/base:multi`);
  const index = JSON.parse(
    (await mustRun(peer("crane"), ["manifest", "--insecure", `${registry.host}/e2e/base@${indexDigest}`])).stdout,
  ) as { manifests: { digest: string; platform: { architecture: string } }[] };
  amd64Digest = index.manifests.find((m) => m.platform.architecture === "amd64")!.digest;
  await writeFile(join(HOST_WS, "pulls.MODULE.bazel"), await pullsModule(registry.host, indexDigest));
  appConfigOriginal = await readFile(appConfig);
  // A clean start: nothing fetched, nothing built.
  await bazel("clean --expunge");
}, 600_000);

afterAll(async () => {
  if (appConfigOriginal !== undefined) await writeFile(appConfig, appConfigOriginal);
  await bazel("shutdown").catch(() => undefined);
  await registry?.stop();
  if (tmp) await removeTempDir(tmp);
  if (mountedHere) execFileSync("umount", [host(SRC)]);
});

describe("e2e/smoke under Bazel 7", () => {
  it("runs README.md's BUILD.bazel example as written", async () => {
    const build = await readFile(join(HOST_WS, "BUILD.bazel"), "utf8");
    const [example] = build.split("\n\n# ---- end of the README example");
    expect(`${example}\n`).toBe(await readmeBlock("build", "starlark"));
  });

  let firstDigest = "";

  it("bazel build of the image and its index is fast: the full pull of the base is not fetched", async () => {
    await mustBazel("build //:app //:app_arm64 //:app_index //:app_push //:index_push");
    await bazelInfo();
    expect(existsSync(externalRepo("base")), "the shallow pull @base").toBe(true);
    expect(existsSync(externalRepo("base_all")), "@base_all must not be fetched by building the image").toBe(false);
    const desc = JSON.parse(await readFile(host(join(bazelBin, "app_/descriptor.json")), "utf8")) as { digest: string };
    const manifest = JSON.parse(await readFile(host(join(bazelBin, "app_/manifest.json")), "utf8")) as {
      layers: unknown[];
      annotations: Record<string, string>;
    };
    expect(manifest.layers).toHaveLength(4); // three base layers + the app layer
    expect(manifest.annotations["org.opencontainers.image.base.digest"]).toBe(amd64Digest);
    firstDigest = desc.digest;
  });

  it("bazel run of the push targets pushes image and index, without fetching the full pull", async () => {
    const repo = `${registry.host}/e2e/app`;
    for (const [target, descriptor] of [["//:app_push", "app_/descriptor.json"], ["//:index_push", "app_index_/descriptor.json"]] as const) {
      const r = await inRootfs(`OCI_PUSH_REPOSITORY=${repo} bazel --output_user_root=${OUTPUT_USER_ROOT} run ${target}`);
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const digest = (JSON.parse(await readFile(host(join(bazelBin, descriptor)), "utf8")) as { digest: string }).digest;
      expect(r.stdout.trim()).toBe(`${repo}@${digest}`);
      // crane reads every blob back (base layers included: they were mounted from e2e/base).
      await mustRun(peer("crane"), ["validate", "--insecure", "--remote", `${repo}@${digest}`]);
    }
    expect(existsSync(externalRepo("base_all")), "pushing must not fetch @base_all").toBe(false);
  });

  it("bazel test //... passes: scanners see the complete image, base file included", async () => {
    const r = await mustBazel("test //...");
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/app_unpacks\s+PASSED/);
    expect(out).toMatch(/index_inspects\s+PASSED/);
    expect(out).toMatch(/app_plus_unpacks\s+PASSED/);
    // Cached like any test: nothing runs again.
    const again = await mustBazel("test //...");
    expect(again.stdout + again.stderr).toMatch(/app_unpacks\s+\(cached\) PASSED/);
    expect(existsSync(externalRepo("base_all")), "the layout needs the full pull").toBe(true);
  });

  it("the layouts pass ociutil verify, skopeo copy and umoci unpack", async () => {
    await mustBazel("build //:app_layout //:index_layout");
    for (const name of ["app_layout", "index_layout"]) {
      const dir = host(join(bazelBin, name));
      const v = await mustRun(process.execPath, [BUNDLE, "verify", dir]);
      expect(v.stdout).toMatch(/ok/);
      await mustRun(peer("skopeo"), ["copy", "--all", `oci:${dir}:latest`, `oci:${join(tmp, `skopeo-${name}`)}:latest`]);
    }
    const bundle = join(tmp, "umoci-bundle");
    await mustRun(peer("umoci"), ["unpack", "--rootless", "--image", `${host(join(bazelBin, "app_layout"))}:latest`, bundle]);
    expect(await readFile(join(bundle, "rootfs", "etc", "base-only.txt"), "utf8")).toContain("only in the base");
    expect((await stat(join(bundle, "rootfs", "app", "hello.sh"))).mode & 0o777).toBe(0o755);
  });

  it("base blobs are hard-linked into the layout, not copied", async () => {
    await mustBazel("build --output_groups=+stats //:app_layout");
    const stats = JSON.parse(await readFile(host(join(bazelBin, "app_layout_/stats.json")), "utf8")) as {
      blobs: number;
      linked: number;
      copied: number;
      bytes: number;
    };
    console.log(`//:app_layout: ${stats.blobs} blobs (${stats.bytes} bytes): ${stats.linked} hard-linked, ${stats.copied} copied`);
    const layerDir = join(externalRepo("base_all"), "layout", "blobs", "sha256");
    const big = [];
    for (const f of await readdir(layerDir)) {
      const s = await stat(join(layerDir, f));
      if (s.size >= BIG_LAYER) big.push({ f, ino: s.ino });
    }
    expect(big).toHaveLength(1);
    const inLayout = await stat(host(join(bazelBin, "app_layout", "blobs", "sha256", big[0]!.f)));
    if (/linux-sandbox/.test(bazelLog) && inLayout.ino !== big[0]!.ino) {
      // linux-sandbox mounts the inputs elsewhere: link() fails with EXDEV, and ociutil clones or copies.
      console.log("linux-sandbox: blobs were cloned or copied, not hard-linked");
      expect(stats.copied).toBe(stats.blobs);
    } else {
      expect(inLayout.ino).toBe(big[0]!.ino);
      expect(stats.linked).toBe(stats.blobs);
    }
  });

  it("the image's own actions run once: not again in the full-pull configuration", async () => {
    const outs = (await inRootfs(`find ${outputBase}/execroot/_main/bazel-out -path '*/app_layer_/layer.tar.gz' -o -path '*/app_/manifest.json'`)).stdout
      .split("\n")
      .filter((l) => l.trim() !== "");
    expect(outs).toHaveLength(2);
  });

  it("the image digest is the same after a clean rebuild", async () => {
    await mustBazel("clean --expunge");
    await mustBazel("build //:app");
    await bazelInfo();
    const desc = JSON.parse(await readFile(host(join(bazelBin, "app_/descriptor.json")), "utf8")) as { digest: string };
    expect(desc.digest).toBe(firstDigest);
  });

  it("a change to an app file rebuilds the image without fetching the base again", async () => {
    await mustBazel("build //:app_layout");
    const marker = host(join(outputBase, "external", "@rules_ociutil~~oci~base_all.marker"));
    const before = (await stat(marker)).mtimeMs;
    await writeFile(appConfig, `${appConfigOriginal.toString("utf8")}changed ${Date.now()}\n`);
    try {
      const t0 = Date.now();
      await mustBazel("build //:app_layout");
      const seconds = (Date.now() - t0) / 1000;
      console.log(`incremental rebuild of //:app_layout after an app change, base layer of ${BIG_LAYER >> 20} MiB: ${seconds.toFixed(1)} s`);
      const desc = JSON.parse(await readFile(host(join(bazelBin, "app_/descriptor.json")), "utf8")) as { digest: string };
      expect(desc.digest).not.toBe(firstDigest);
      expect((await stat(marker)).mtimeMs).toBe(before);
    } finally {
      await writeFile(appConfig, appConfigOriginal);
    }
  });
});

describe("pulling by tag", () => {
  it("with allow_tag, resolves the tag and prints the line that pins the digest", async () => {
    const r = await mustBazel("build @tag_allowed//:image");
    expect(r.stderr).toContain(
      `resolved to ${indexDigest}. Pin it: oci.pull(name = "tag_allowed", image = "${registry.host}/e2e/base:multi", digest = "${indexDigest}", ...)`,
    );
  });
});

describe("errors name the target and the fix", () => {
  const cases: Array<[string, string, RegExp[]]> = [
    ["a base with no pulled_base", "build //errors:no_pulled_base_layout", [/errors:no_pulled_base/, /set pulled_base/]],
    ["a pulled_base of another image", "build //errors:wrong_pulled_base_layout", [/errors:wrong_pulled_base: pulled_base @base_all\/\/:linux_arm64/, /same image, digest and platform/]],
    ["a layer path that escapes its prefix", "build //errors:escapes_prefix", [/errors:escapes_prefix: layer path "\.\.\/\.\.\/etc\/passwd" escapes/]],
    ["no Node", "build --repo_env=PATH=/nonexistent //:app_layer", [/:app_layer: rules_ociutil runs its tool with Node\.js/, /OCIUTIL_NODE/]],
    ["an unreachable registry", "build @unreachable//:image", [/oci\.pull "unreachable": could not pull 127\.0\.0\.1:9\/nothing/, /reachable/]],
    ["a tag without digest", "build @tag_only//:image", [/oci\.pull "tag_only": image ".*e2e\/base:multi" has no digest/, /allow_tag = True/]],
  ];
  for (const [what, args, patterns] of cases) {
    it(what, async () => {
      const r = await bazel(args);
      expect(r.code, r.stderr.slice(-2000)).not.toBe(0);
      const line = r.stderr.split("\n").find((l) => l.startsWith("Error in fail:") || /^ERROR: .*(could not pull|has no digest)/.test(l)) ?? r.stderr;
      for (const p of patterns) expect(line).toMatch(p);
    });
  }
});
