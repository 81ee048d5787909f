/**
 * A new user's first workspace (issue 9), under the real Bazel 7 against real registries on 127.0.0.1:
 * e2e/first_workspace is written the way a rules_oci or crane user writes one, and must pass
 * `bazel build //...` and `bazel test //...` with no flag:
 * - pulls and pushes to a loopback registry with no `insecure`;
 * - `base = "@distroless"`: a pull repository's own name is its default image;
 * - a base with empty os and architecture (`crane append` onto scratch) lays out, tests and pushes;
 * - a test named like its scanner (`scan` / scan.sh), and user files named as rules' outputs used to be.
 * Then Bazel's downloader for `oci.pull_all`: after `clean --expunge`, and in a second workspace, the
 * registry serves no layer bytes (counted in its log); a `--downloader_config` that rewrites the
 * registry to a mirror is honoured.
 */
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BazelWorkspace,
  MountedCheckout,
  REPO_ROOT,
  blobBytesServed,
  buildTestIndex,
  logMark,
  makeTempDir,
  mustRun,
  peer,
  pushWithCrane,
  removeTempDir,
  servedSince,
  startRegistry,
  type TestRegistry,
} from "./harness/index.js";

const checkout = new MountedCheckout();
const HOST_WS = join(REPO_ROOT, "e2e", "first_workspace");
const ws = new BazelWorkspace(checkout, `${checkout.src}/e2e/first_workspace`);
const BUNDLE = join(REPO_ROOT, "oci", "private", "ociutil.mjs");
/** A base layer big enough that its bytes stand out in the registry's log. */
const BIG_LAYER = 4 << 20;

let registry: TestRegistry;
let mirror: TestRegistry;
let tmp: string;
let amd64Digest: string;
/** Every layer digest of the pulled bases: what Bazel's downloader fetches. */
const layerDigests = new Set<string>();

const crane = async (...args: string[]): Promise<string> => (await mustRun(peer("crane"), args)).stdout.trim();

async function collectLayers(ref: string): Promise<void> {
  const m = JSON.parse(await crane("manifest", "--insecure", ref)) as { manifests?: { digest: string }[]; layers?: { digest: string }[] };
  const repo = ref.split("@")[0]!.replace(/:[^/]*$/, "");
  for (const child of m.manifests ?? []) await collectLayers(`${repo}@${child.digest}`);
  for (const l of m.layers ?? []) layerDigests.add(l.digest);
}

/** Layer bytes `reg` sent since `mark`. */
async function layerBytesServed(reg: TestRegistry, mark: number): Promise<number> {
  return (await servedSince(reg, mark))
    .filter((r) => r.method === "GET" && [...layerDigests].some((d) => r.uri.endsWith(`/blobs/${d}`)))
    .reduce((n, r) => n + r.bytes, 0);
}

function pulls(reg: string, index: string, scratch: string): string {
  return [
    "# Written by tools/test/e2e-first-workspace.test.ts: the test registry and the digests it seeded.",
    'oci = use_extension("@rules_ociutil//oci:extensions.bzl", "oci")',
    `oci.pull(name = "distroless", image = "${reg}/e2e/base", digest = "${index}", platforms = ["linux/amd64", "linux/arm64"])`,
    `oci.pull_all(name = "distroless_all", image = "${reg}/e2e/base", digest = "${index}", platforms = ["linux/amd64", "linux/arm64"])`,
    `oci.pull(name = "scratch_base", image = "${reg}/e2e/scratch", digest = "${scratch}")`,
    `oci.pull_all(name = "scratch_base_all", image = "${reg}/e2e/scratch", digest = "${scratch}")`,
    'use_repo(oci, "distroless", "distroless_all", "distroless_linux_arm64", "distroless_all_linux_arm64", "scratch_base", "scratch_base_all")',
    "",
  ].join("\n");
}

beforeAll(async () => {
  await checkout.mount();
  [registry, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  tmp = await makeTempDir("e2e-first");
  const layers = (arch: string) => [
    { files: { "etc/base-only.txt": `only in the base (${arch})\n` } },
    { randomBytes: BIG_LAYER },
  ];
  const layout = join(tmp, "base");
  await buildTestIndex(layout, [
    { platform: { os: "linux", architecture: "amd64" }, layers: layers("amd64") },
    { platform: { os: "linux", architecture: "arm64" }, layers: layers("arm64") },
  ]);
  const indexDigest = await pushWithCrane(layout, `${registry.host}/e2e/base:multi`);
  const index = JSON.parse(await crane("manifest", "--insecure", `${registry.host}/e2e/base@${indexDigest}`)) as {
    manifests: { digest: string; platform: { architecture: string } }[];
  };
  amd64Digest = index.manifests.find((m) => m.platform.architecture === "amd64")!.digest;
  // go-containerregistry's empty image under one layer: a config with "" for os and architecture.
  const files = join(tmp, "scratch");
  await mkdir(join(files, "etc"), { recursive: true });
  await writeFile(join(files, "etc", "scratch.txt"), "from a scratch base\n");
  await mustRun("tar", ["-C", files, "-cf", join(tmp, "scratch.tar"), "etc"]);
  await crane("append", "--insecure", "-f", join(tmp, "scratch.tar"), "-t", `${registry.host}/e2e/scratch:v1`);
  const scratchDigest = await crane("digest", "--insecure", `${registry.host}/e2e/scratch:v1`);
  const scratchConfig = JSON.parse(await crane("config", "--insecure", `${registry.host}/e2e/scratch@${scratchDigest}`)) as { os: string; architecture: string };
  expect([scratchConfig.os, scratchConfig.architecture], "crane append onto scratch leaves the platform empty").toEqual(["", ""]);
  await collectLayers(`${registry.host}/e2e/base@${indexDigest}`);
  await collectLayers(`${registry.host}/e2e/scratch@${scratchDigest}`);
  await writeFile(join(HOST_WS, "pulls.MODULE.bazel"), pulls(registry.host, indexDigest, scratchDigest));
  await writeFile(join(HOST_WS, "repository.txt"), `${registry.host}/first/files\n`);
  await ws.bazel("clean --expunge");
}, 600_000);

afterAll(async () => {
  await ws.bazel("shutdown").catch(() => undefined);
  await registry?.stop();
  await mirror?.stop();
  if (tmp) await removeTempDir(tmp);
  checkout.unmount();
});

describe("a new user's first workspace", () => {
  it("bazel build //... and bazel test //... pass with no flag", async () => {
    await ws.mustBazel("build //...");
    await ws.info();
    const r = await ws.mustBazel("test //...");
    const out = r.stdout + r.stderr;
    for (const t of ["scan", "tool_scan", "no_shadowing"]) expect(out).toMatch(new RegExp(`//:${t}\\s+PASSED`));
  });

  it("@distroless is the pull's default image: its first platform", async () => {
    const manifest = await ws.json<{ annotations: Record<string, string> }>("app_/manifest.json");
    expect(manifest.annotations["org.opencontainers.image.base.digest"]).toBe(amd64Digest);
  });

  it("an image on a base with empty os and architecture has no platform, and lays out", async () => {
    const desc = await ws.json<Record<string, unknown>>("tool_/descriptor.json");
    expect(desc).not.toHaveProperty("platform");
    const v = await mustRun(process.execPath, [BUNDLE, "verify", ws.bin("tool_layout")]);
    expect(v.code).toBe(0);
    await mustRun(peer("skopeo"), ["inspect", `oci:${ws.bin("tool_layout")}:latest`]);
  });

  it("bazel run of the pushes needs no insecure on a loopback registry, the empty-platform image included", async () => {
    for (const [target, repo, descriptor] of [
      ["//:push", "first/app", "app_/descriptor.json"],
      ["//:tool_push", "first/tool", "tool_/descriptor.json"],
    ] as const) {
      const r = await ws.bazel(`run ${target}`, `OCI_PUSH_REPOSITORY=${registry.host}/${repo}`);
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const { digest } = await ws.json<{ digest: string }>(descriptor);
      expect(r.stdout.trim()).toBe(`${registry.host}/${repo}@${digest}`);
      await crane("validate", "--insecure", "--remote", `${registry.host}/${repo}@${digest}`);
    }
  });
});

describe("rules_oci's attribute forms", () => {
  it("env, labels, annotations, cmd and created from files; $PATH extends the base's", async () => {
    const config = await ws.json<{ created: string; config: { Env: string[]; Labels: Record<string, string>; Cmd: string[] } }>("app_files_/config.json");
    expect(config.created).toBe("2024-05-06T07:08:09Z");
    expect(config.config.Env).toEqual(["PATH=/app/bin:/usr/bin", "GREETING=hello = world"]);
    expect(config.config.Labels).toMatchObject({ "org.opencontainers.image.licenses": "Apache-2.0" });
    expect(config.config.Cmd).toEqual(["--verbose", "--port=8080"]);
    const manifest = await ws.json<{ annotations: Record<string, string> }>("app_files_/manifest.json");
    expect(manifest.annotations).toMatchObject({ "org.opencontainers.image.source": "https://example.com/first", "com.example.empty": "" });
    const index = await ws.json<{ annotations: Record<string, string>; manifests: { platform: { architecture: string } }[] }>("idx_/index.json");
    expect(index.annotations).toEqual({ "org.opencontainers.image.description": "from a file" });
    // :app_arm64's base is @distroless_linux_arm64, rules_oci's name for that platform's repository.
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
  });

  it("oci_push with repository_file and remote_tags from a file", async () => {
    const r = await ws.bazel("run //:files_push");
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const { digest } = await ws.json<{ digest: string }>("app_files_/descriptor.json");
    expect(r.stdout.trim()).toBe(`${registry.host}/first/files@${digest}`);
    for (const tag of ["v1", "stable"]) expect(await crane("digest", "--insecure", `${registry.host}/first/files:${tag}`)).toBe(digest);
  });
});

describe("oci.pull_all through Bazel's downloader", () => {
  it("the first fetch downloaded the layers (the log counts them)", async () => {
    expect(await blobBytesServed(registry)).toBeGreaterThan(2 * BIG_LAYER);
  });

  it("after bazel clean --expunge, rebuilding the layouts serves no layer bytes: the repository cache has them", async () => {
    await ws.mustBazel("clean --expunge");
    const mark = await logMark(registry);
    await ws.mustBazel("build //:app_layout //:tool_layout");
    expect(await layerBytesServed(registry, mark)).toBe(0);
  });

  it("a second workspace with the same base on the same machine serves no layer bytes either", async () => {
    const dir = `/tmp/first-second-${process.pid}`;
    const second = new BazelWorkspace(checkout, dir);
    await rm(checkout.host(dir), { recursive: true, force: true });
    await cp(HOST_WS, checkout.host(dir), { recursive: true, filter: (src) => !/\/bazel-[^/]*$/.test(src) });
    const module = (await readFile(join(HOST_WS, "MODULE.bazel"), "utf8")).replace('path = "../.."', `path = "${checkout.src}"`);
    await writeFile(checkout.host(join(dir, "MODULE.bazel")), module);
    try {
      const mark = await logMark(registry);
      await second.mustBazel("build //:app_layout //:tool_layout");
      expect(await layerBytesServed(registry, mark)).toBe(0);
    } finally {
      await second.bazel("shutdown").catch(() => undefined);
      await rm(checkout.host(dir), { recursive: true, force: true });
    }
  });

  it("--experimental_downloader_config (Bazel 8: --downloader_config) that rewrites the registry to a mirror is honoured", async () => {
    for (const repo of ["e2e/base:multi", "e2e/scratch:v1"]) {
      await crane("copy", "--insecure", `${registry.host}/${repo}`, `${mirror.host}/${repo}`);
    }
    const config = `/tmp/first-downloader-${process.pid}.cfg`;
    const cache = `/tmp/first-repository-cache-${process.pid}`;
    await writeFile(checkout.host(config), `rewrite ${registry.host.replaceAll(".", "\\.")}/(.*) ${mirror.host}/$1\n`);
    try {
      await ws.mustBazel("clean --expunge");
      const mark = await logMark(registry);
      const mirrorMark = await logMark(mirror);
      await ws.mustBazel(`build --repository_cache=${cache} --experimental_downloader_config=${config} //:app_layout //:tool_layout`);
      expect(await layerBytesServed(registry, mark), "the registry itself serves no layer").toBe(0);
      expect(await layerBytesServed(mirror, mirrorMark), "the mirror serves the layers").toBeGreaterThan(2 * BIG_LAYER);
    } finally {
      await rm(checkout.host(config), { force: true });
      await rm(checkout.host(cache), { recursive: true, force: true });
    }
  });
});
