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
import { existsSync } from "node:fs";
import { readFile, readdir, readlink, stat, writeFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BazelWorkspace,
  MountedCheckout,
  REPO_ROOT,
  buildTestIndex,
  makeTempDir,
  mustRun,
  ociRepoName,
  peer,
  podman,
  pushWithCrane,
  readmeBlock,
  readmeModule,
  removeTempDir,
  startDockerd,
  startRegistry,
  type LayerSpec,
  type RunResult,
  type TestRegistry,
} from "./harness/index.js";

const checkout = new MountedCheckout();
const ws = new BazelWorkspace(checkout, `${checkout.src}/e2e/smoke`);
const HOST_WS = join(REPO_ROOT, "e2e", "smoke");
const BUNDLE = join(REPO_ROOT, "oci", "private", "ociutil.mjs");
/** The size of the big base layer (MiB, $OCIUTIL_E2E_BIG_LAYER_MB, default 64): to measure that
 *  assembling the layout does not grow with the base's size. */
const BIG_LAYER = Number(process.env["OCIUTIL_E2E_BIG_LAYER_MB"] ?? "64") << 20;

let registry: TestRegistry;
let tmp: string;
let indexDigest: string;
let amd64Digest: string;
const appConfig = join(HOST_WS, "app", "config.txt");
let appConfigOriginal: Buffer;

/** Runs bash -lc CMD inside the rootfs, in the e2e workspace. */
const inRootfs = (cmd: string, timeoutMs?: number): Promise<RunResult> => ws.sh(cmd, timeoutMs);
const bazel = (args: string, env = ""): Promise<RunResult> => ws.bazel(args, env);
const mustBazel = (args: string, env = ""): Promise<RunResult> => ws.mustBazel(args, env);
/** A path inside the rootfs, as the host sees it. */
const host = (p: string): string => checkout.host(p);

let outputBase = "";
let bazelBin = "";

async function bazelInfo(): Promise<void> {
  await ws.info();
  outputBase = ws.outputBase;
  bazelBin = ws.bazelBin;
}

const externalRepo = (name: string): string => host(join(outputBase, "external", ociRepoName(name)));

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
    "# One platform's pulls, by rules_oci's names (//:app_arm64_alone):",
    'use_repo(oci, "base_all_linux_arm64", "base_linux_arm64")',
    "# rules_oci's other form of a pull (registry + repository), with bazel_tags on its targets:",
    `oci.pull(name = "split_form", registry = "${reg}", repository = "e2e/base", digest = "${digest}", platforms = ["linux/amd64"], bazel_tags = ["from_split_form"])`,
    'use_repo(oci, "split_form")',
    "",
  ].join("\n");
}


/** The base's dpkg database (e2e/smoke/sbom lists it): BASE_PACKAGES, installed, and one removed. */
const BASE_PACKAGES = [
  { name: "base-files", version: "13.8" },
  { name: "libc6", version: "2.41-12" },
  { name: "libstdc++6", version: "14.2.0-19" },
];
const dpkgStatus = (arch: string): string =>
  [
    ...BASE_PACKAGES.map((p) => `Package: ${p.name}\nStatus: install ok installed\nVersion: ${p.version}\nArchitecture: ${arch}\nDescription: ${p.name}\n in the e2e base\n`),
    `Package: removed\nStatus: deinstall ok config-files\nVersion: 1.0\nArchitecture: ${arch}\n`,
  ].join("\n");

beforeAll(async () => {
  await checkout.mount();
  registry = await startRegistry();
  tmp = await makeTempDir("e2e");
  // The base: a two-platform index; each image has several layers, one of them a file only the base
  // has, and amd64 has a big random layer (to show assembly cost does not grow with base size).
  const layers = (arch: string): LayerSpec[] => [
    { files: { "etc/base-only.txt": `only in the base (${arch})\n` } },
    { files: { "usr/share/base/readme": "base readme\n", "etc/os-release": "ID=e2e\n", "var/lib/dpkg/status": dpkgStatus(arch) } },
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
  checkout.unmount();
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
      const r = await bazel(`run ${target}`, `OCI_PUSH_REPOSITORY=${repo}`);
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

  it("the pull repositories hold no absolute symlink: Bazel 8/9's shared repository-contents cache would keep a dangling one", async () => {
    const absolute: string[] = [];
    for (const name of ["base", "base_all", "base_linux_arm64"]) {
      for (const entry of await readdir(externalRepo(name), { recursive: true, withFileTypes: true })) {
        if (!entry.isSymbolicLink()) continue;
        const p = join(entry.parentPath, entry.name);
        if (isAbsolute(await readlink(p))) absolute.push(p);
      }
    }
    expect(absolute).toEqual([]);
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
    if (/linux-sandbox/.test(ws.log) && inLayout.ino !== big[0]!.ino) {
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
    const marker = host(join(outputBase, "external", `@${ociRepoName("base_all")}.marker`));
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

describe("rules_oci's forms of oci.pull", () => {
  it("registry + repository pulls registry/repository; bazel_tags tag the generated targets", async () => {
    await mustBazel("build @split_form//:image");
    if (outputBase === "") await bazelInfo();
    const resolved = JSON.parse(await readFile(join(externalRepo("split_form"), "resolved.json"), "utf8")) as { resolved: string };
    expect(resolved.resolved).toBe(`${registry.host}/e2e/base@${indexDigest}`);
    const q = await mustBazel("query 'attr(tags, from_split_form, @split_form//:all)'");
    expect(q.stdout.trim().split("\n")).toEqual(["@split_form//:linux_amd64"]); // :image is an alias of it
  });
});

describe("errors name the target and the fix", () => {
  const cases: Array<[string, string, RegExp[]]> = [
    ["a base with no pulled_base", "build //errors:no_pulled_base_layout", [/errors:no_pulled_base/, /set pulled_base/]],
    ["a pulled_base of another image", "build //errors:wrong_pulled_base_layout", [/errors:wrong_pulled_base: pulled_base @base_all\/\/:linux_arm64/, /same image, digest and platform/]],
    ["a layer path that escapes its prefix", "build //errors:escapes_prefix", [/errors:escapes_prefix: layer path "\.\.\/\.\.\/etc\/passwd" escapes/]],
    ["an OCIUTIL_NODE that is not there", "build --repo_env=OCIUTIL_NODE=/nonexistent/node //:app_layer", [/Node\.js at \/nonexistent\/node does not exist/, /OCIUTIL_NODE/]],
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

describe("oci_load: bazel build writes a docker save-format tar, bazel run loads it", () => {
  const TARGET = "//load";
  const tarPath = (): string => host(join(bazelBin, "load", "load_", "tarball.tar"));
  /** The app's diff_ids (base layers and the app layer), from the config Bazel built; each test can run alone. */
  const appDiffIds = async (): Promise<string[]> => {
    if (bazelBin === "") await bazelInfo();
    const config = JSON.parse(await readFile(host(join(bazelBin, "app_", "config.json")), "utf8")) as { rootfs: { diff_ids: string[] } };
    return config.rootfs.diff_ids;
  };
  const loadRun = (env: string): Promise<RunResult> => bazel(`run ${TARGET}`, env);

  /** The content of one file of a created (not started) container, from `cp CONTAINER:PATH -` (a tar). */
  const fileFrom = async (engine: (args: string[]) => Promise<RunResult>, image: string, path: string): Promise<string> => {
    const created = await engine(["create", image]);
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim().split("\n").pop()!;
    try {
      const cp = await engine(["cp", `${id}:${path}`, "-"]);
      expect(cp.code, cp.stderr).toBe(0);
      return cp.stdout;
    } finally {
      await engine(["rm", id]);
    }
  };

  it("docs/rules.md's oci_load example is e2e/smoke/load/BUILD.bazel", async () => {
    const rules = await readFile(join(REPO_ROOT, "docs", "rules.md"), "utf8");
    const m = /<!-- example:oci_load -->\s*```starlark\n([\s\S]*?)```/.exec(rules);
    expect(m, "docs/rules.md has a starlark block after <!-- example:oci_load -->").not.toBeNull();
    const build = await readFile(join(HOST_WS, "load", "BUILD.bazel"), "utf8");
    const [example] = build.split("\n\n# ---- end of docs/rules.md's example");
    expect(m![1]).toBe(`${example}\n`);
  });

  it("bazel build //load fetches the full pull (only it: not //:app) and writes a tar skopeo and crane read", async () => {
    await mustBazel("clean --expunge");
    await mustBazel("build //:app");
    await bazelInfo();
    expect(existsSync(externalRepo("base_all")), "building the image must not fetch @base_all").toBe(false);
    await mustBazel(`build ${TARGET}`);
    expect(existsSync(externalRepo("base_all")), "oci_load needs the full pull").toBe(true);

    const manifest = JSON.parse(await readFile(host(join(bazelBin, "app_", "manifest.json")), "utf8")) as { config: { digest: string } };
    const diffIds = await appDiffIds();
    expect(diffIds).toHaveLength(4); // three base layers + the app layer
    const raw = JSON.parse((await mustRun(peer("skopeo"), ["inspect", "--raw", `docker-archive:${tarPath()}`])).stdout) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    expect(raw.config.digest).toBe(manifest.config.digest);
    expect(raw.layers.map((l) => l.digest)).toEqual(diffIds);
    // crane reads every layer and checks it against the config's diff_ids.
    await mustRun(peer("crane"), ["validate", "--tarball", tarPath()]);
  });

  it("an image on one platform's full pull (@base_all_linux_arm64) fetches that platform's layers alone", async () => {
    await mustBazel("clean --expunge");
    await mustBazel("build //load:arm64_alone");
    await bazelInfo();
    expect(existsSync(externalRepo("base_all_linux_arm64")), "the arm64 full pull").toBe(true);
    expect(existsSync(externalRepo("base_all")), "the full pull of every platform must not be fetched").toBe(false);
    // Only arm64's blobs are in that repository's layout: none of amd64's layers.
    const pulled = new Set(await readdir(join(externalRepo("base_all_linux_arm64"), "layout", "blobs", "sha256")));
    const index = JSON.parse((await mustRun(peer("crane"), ["manifest", "--insecure", `${registry.host}/e2e/base@${indexDigest}`])).stdout) as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    const layersOf = async (arch: string): Promise<string[]> => {
      const d = index.manifests.find((m) => m.platform.architecture === arch)!.digest;
      const m = JSON.parse((await mustRun(peer("crane"), ["manifest", "--insecure", `${registry.host}/e2e/base@${d}`])).stdout) as { layers: { digest: string }[] };
      return m.layers.map((l) => l.digest.slice(7));
    };
    for (const hex of await layersOf("arm64")) expect(pulled.has(hex), `arm64 layer ${hex}`).toBe(true);
    for (const hex of await layersOf("amd64")) if (!(await layersOf("arm64")).includes(hex)) expect(pulled.has(hex), `amd64 layer ${hex}`).toBe(false);
    const tar = host(join(bazelBin, "load", "arm64_alone_", "tarball.tar"));
    await mustRun(peer("crane"), ["validate", "--tarball", tar]);
  });

  it("an index comes down to the platform asked for; a target named like a file works", async () => {
    await mustBazel("build //load:index.tar");
    if (bazelBin === "") await bazelInfo();
    const arm64 = JSON.parse(await readFile(host(join(bazelBin, "app_arm64_", "manifest.json")), "utf8")) as { config: { digest: string } };
    const tar = host(join(bazelBin, "load", "index.tar_", "tarball.tar"));
    const raw = JSON.parse((await mustRun(peer("skopeo"), ["inspect", "--raw", `docker-archive:${tar}`])).stdout) as { config: { digest: string } };
    expect(raw.config.digest).toBe(arm64.config.digest);
    await mustRun(peer("crane"), ["validate", "--tarball", tar]);
  });

  it("repo_tags from a file (rules_oci's form): the tarball carries the file's names", async () => {
    await mustBazel("build //load:from_file");
    if (bazelBin === "") await bazelInfo();
    const tar = host(join(bazelBin, "load", "from_file_", "tarball.tar"));
    const manifest = JSON.parse((await mustRun("tar", ["-xOf", tar, "manifest.json"])).stdout) as { RepoTags: string[] }[];
    expect(manifest[0]!.RepoTags).toEqual(["e2e/app:from-file", "e2e/app:also"]);
  });

  it("bazel run loads it into podman ($DOCKER=podman), base layers included", async () => {
    const image = "localhost/e2e/app:latest";
    await podman(["rmi", "--ignore", image]);
    const r = await loadRun("DOCKER=podman PODMAN_IGNORE_CGROUPSV1_WARNING=1");
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout).toContain(`Loaded image: ${image}`);
    expect(r.stdout, "the tarball action prints nothing (Bazel would show it on every build)").not.toContain("tarball.tar");
    try {
      const inspect = JSON.parse((await podman(["image", "inspect", image])).stdout) as { RootFS: { Layers: string[] } }[];
      expect(inspect[0]!.RootFS.Layers).toEqual(await appDiffIds());
      expect(await fileFrom(podman, image, "/etc/base-only.txt")).toContain("only in the base (amd64)");
      expect(await fileFrom(podman, image, "/app/config.txt")).toContain((await readFile(appConfig, "utf8")).trim());
    } finally {
      await podman(["rmi", "--ignore", image]);
    }
  });

  it("bazel run loads it into docker (the default loader: docker is on PATH), base layers included", async () => {
    // A daemon of our own; if it cannot start here, this fails with its log (docker is part of the brief).
    const dockerd = await startDockerd();
    try {
      const r = await loadRun(`DOCKER_HOST=${dockerd.dockerHost}`);
      expect(r.code, `${r.stderr.slice(-3000)}\ndockerd:\n${await dockerd.logTail()}`).toBe(0);
      expect(r.stdout).toContain("Loaded image: e2e/app:latest");
      const docker = (args: string[]): Promise<RunResult> => dockerd.docker(args);
      const inspect = JSON.parse((await docker(["image", "inspect", "e2e/app:latest"])).stdout) as { RootFS: { Layers: string[] } }[];
      expect(inspect[0]!.RootFS.Layers).toEqual(await appDiffIds());
      expect(await fileFrom(docker, "e2e/app:latest", "/etc/base-only.txt")).toContain("only in the base (amd64)");
    } finally {
      await dockerd.stop();
    }
  });

  it("a loader that is not there, or neither docker nor podman on PATH: one line that says so", async () => {
    const r = await loadRun("DOCKER=no-such-loader");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('oci_load //load:load: the loader "no-such-loader" (from $DOCKER or the loader attribute) is not an executable on PATH');
    if (bazelBin === "") await bazelInfo();
    const none = await inRootfs(`env -i PATH=/nonexistent /bin/sh ${bazelBin}/load/load_/load.sh`);
    expect(none.code).toBe(1);
    expect(none.stderr.trim()).toBe("oci_load //load:load: neither docker nor podman is on PATH: install one, or set DOCKER=/path/to/docker (or podman)");
  });

  it("a repo_tags entry without a tag fails at analysis, naming the target", async () => {
    const r = await bazel("build //load:bad_tag");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('//load:bad_tag: repo_tags entry "e2e/app" must be "repo:tag" (e.g. "my/app:latest"), without a digest');
  });
});

describe("oci_structure_test (e2e/smoke/structure)", () => {
  it("docs/structure_test.md's example is a target of e2e/smoke/structure/BUILD.bazel, as written", async () => {
    const doc = await readFile(join(REPO_ROOT, "docs", "structure_test.md"), "utf8");
    const m = /<!-- example:structure-test -->\s*```starlark\n([\s\S]*?)```/.exec(doc);
    expect(m, "docs/structure_test.md has its example block").not.toBeNull();
    expect(await readFile(join(HOST_WS, "structure", "BUILD.bazel"), "utf8")).toContain(m![1]!);
  });

  it("passes on a file only the base has; a file the app layer deletes is absent; every platform is checked", async () => {
    const r = await mustBazel("test --test_output=all //structure:app_structure //structure:deleted_is_absent //structure:index_structure");
    const out = r.stdout + r.stderr;
    expect(out).toContain(`PASS linux/amd64 fileExistenceTests "exists /etc/base-only.txt" (/etc/base-only.txt)`);
    expect(out).toContain(`PASS linux/amd64 fileContentTests "content of /etc/base-only.txt" (/etc/base-only.txt)`);
    expect(out).toContain(`PASS linux/amd64 fileContentTests "os-release from the base" (/etc/os-release)`);
    expect(out).toContain(`PASS linux/amd64 fileExistenceTests "absent /etc/os-release" (/etc/os-release)`);
    expect(out).toMatch(/^PASS linux\/arm64\S* fileExistenceTests "exists \/app\/hello.sh" \(\/app\/hello.sh\)$/m);
    expect(out).toContain(`PASS linux/amd64 fileExistenceTests "owner of /etc/base-only.txt" (/etc/base-only.txt)`);
    expect(out).toMatch(/^linux\/amd64: 8 passed, 0 failed$/m); // app_structure: 5 from attributes, 3 from checks.yaml
  });

  it("a wrong check fails with the check, the platform, what was expected and what was found", async () => {
    const r = await bazel("test --test_output=errors //structure:wrong_check");
    const out = r.stdout + r.stderr;
    expect(r.code, out.slice(-3000)).toBe(3); // Bazel's exit code for "a test failed"
    expect(out).toMatch(
      /^FAIL linux\/arm64\S* fileContentTests "content of \/etc\/base-only.txt" \(\/etc\/base-only.txt\): expected content matching \/amd64\/, found "only in the base \(arm64\)\\n"$/m,
    );
    expect(out).toContain(`PASS linux/amd64 fileContentTests "content of /etc/base-only.txt" (/etc/base-only.txt)`);
    expect(out).toMatch(/ociutil: structure test failed: 1 of 2 checks \(linux\/arm64\S*\)/);
  });

  it.each([
    ["no_checks", "//structure:no_checks: no checks: give `configs` (container-structure-test YAML) or check attributes"],
    ["bad_owner", `//structure:bad_owner: owners["/etc/base-only.txt"] must be "UID:GID" (numbers), got "root"`],
  ])("%s fails at analysis with one message naming the target", async (target, message) => {
    const r = await bazel(`build //structure:${target}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
  });
});

describe("oci_sbom (e2e/smoke/sbom)", () => {
  it("docs/rules.md's oci_sbom example is a target of e2e/smoke/sbom/BUILD.bazel, as written", async () => {
    const doc = await readFile(join(REPO_ROOT, "docs", "rules.md"), "utf8");
    const m = /<!-- example:sbom -->\s*```starlark\n([\s\S]*?)```/.exec(doc);
    expect(m, "docs/rules.md has its oci_sbom example block").not.toBeNull();
    expect(await readFile(join(HOST_WS, "sbom", "BUILD.bazel"), "utf8")).toContain(m![1]!);
  });

  it("bazel build writes the SBOM of the complete image: the base's installed packages and the image's digest", async () => {
    await mustBazel("build //sbom:hello //sbom:hello_sbom //sbom:hello_sbom_cdx");
    await bazelInfo();
    const digest = (JSON.parse(await readFile(host(join(bazelBin, "sbom/hello_/descriptor.json")), "utf8")) as { digest: string }).digest;
    const purls = BASE_PACKAGES.map((p) => `pkg:deb/debian/${p.name.replace(/\+/g, "%2B")}@${p.version}?arch=amd64`).sort();
    const spdx = JSON.parse(await readFile(host(join(bazelBin, "sbom/hello_sbom_/sbom.spdx.json")), "utf8")) as {
      packages: Array<{ SPDXID: string; checksums?: unknown; externalRefs?: Array<{ referenceLocator: string }> }>;
    };
    expect(spdx.packages.find((p) => p.SPDXID === "SPDXRef-Image")?.checksums).toEqual([{ algorithm: "SHA256", checksumValue: digest.slice(7) }]);
    expect(spdx.packages.flatMap((p) => p.externalRefs?.map((r) => r.referenceLocator) ?? []).sort()).toEqual(purls);
    const cdx = JSON.parse(await readFile(host(join(bazelBin, "sbom/hello_sbom_cdx_/sbom.cdx.json")), "utf8")) as {
      specVersion: string;
      metadata: { component: { name: string } };
      components: Array<{ purl: string }>;
    };
    expect(cdx.specVersion).toBe("1.5");
    expect(cdx.metadata.component.name).toBe(digest);
    expect(cdx.components.map((c) => c.purl).sort()).toEqual(purls);
  });

  it("oci_push(sbom = ...) attaches the SBOM to the pushed image as a referrer oras discover lists", async () => {
    const repo = `${registry.host}/e2e/hello`;
    const r = await bazel("run //sbom:hello_push", `OCI_PUSH_REPOSITORY=${repo}`);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    if (bazelBin === "") await bazelInfo();
    const digest = (JSON.parse(await readFile(host(join(bazelBin, "sbom/hello_/descriptor.json")), "utf8")) as { digest: string }).digest;
    expect(r.stdout.trim()).toBe(`${repo}@${digest}`);
    const referrers = JSON.parse((await mustRun(peer("oras"), ["discover", "--plain-http", "--format", "json", `${repo}@${digest}`])).stdout)
      .referrers as Array<{ artifactType: string; digest: string }>;
    expect(referrers.map((x) => x.artifactType)).toEqual(["application/spdx+json"]);
    const manifest = JSON.parse((await mustRun(peer("crane"), ["manifest", "--insecure", `${repo}@${referrers[0]!.digest}`])).stdout) as {
      layers: { digest: string }[];
    };
    const blob = (await mustRun(peer("crane"), ["blob", "--insecure", `${repo}@${manifest.layers[0]!.digest}`])).stdout;
    expect(blob).toBe(await readFile(host(join(bazelBin, "sbom/hello_sbom_/sbom.spdx.json")), "utf8"));
  });
});
