/**
 * End to end: the Node.js that runs ociutil (issue 17), in e2e/node, a workspace that registers no
 * toolchain, under the real Bazel 7 in the sid rootfs.
 * - By default actions run the pinned official Node of their execution platform, a declared input
 *   fetched by Bazel's downloader (here from the rootfs's --distdir, which `.ci/setup-sid-rootfs`
 *   fills with the very archive users download, checked by sha256): no node on PATH is needed.
 * - The host's node is opt-in (OCIUTIL_NODE), and the layer's bytes are the same with either.
 * - `oci.pull` runs ociutil at fetch time with the machine's pinned Node when no node is on PATH.
 * - With a second execution platform of another CPU, actions get that platform's Node while the
 *   `bazel run` script of a push keeps the Node of the machine running Bazel. The other CPU's Node
 *   is replaced (--override_repository) by a stand-in that fails if run: only what each target
 *   would run is checked (aquery), nothing is executed there.
 *
 * Needs root (chroot, bind mount) and the rootfs of `.ci/setup-sid-rootfs`; a missing one is an error.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BazelWorkspace, MountedCheckout, REPO_ROOT, mustRun, seedImage, startRegistry, type TestRegistry } from "./harness/index.js";

const checkout = new MountedCheckout();
const ws = new BazelWorkspace(checkout, `${checkout.src}/e2e/node`);
const host = (p: string): string => checkout.host(p);

/** This machine's platform, as rules_ociutil names its pinned Nodes (node_dist.bzl). */
const HERE = process.arch === "arm64" ? "linux_arm64" : "linux_amd64";
const OTHER = HERE === "linux_amd64" ? "linux_arm64" : "linux_amd64";
const OTHER_WORKER = "//platforms:linux_arm64_worker";
const nodeRepo = (platform: string): string => `rules_ociutil~~node~ociutil_node_${platform}`;

let registry: TestRegistry;
let seededDigest = "";

/** A stand-in for the other CPU's Node repository, inside the rootfs (its path as Bazel sees it). */
let fakeRepo = "";

interface AqueryAction {
  mnemonic: string;
  arguments?: string[];
  fileContents?: string;
}

async function aquery(query: string, flags: string): Promise<AqueryAction[]> {
  const r = await ws.mustBazel(`aquery ${flags} --include_file_write_contents --output=jsonproto '${query}'`);
  return (JSON.parse(r.stdout) as { actions?: AqueryAction[] }).actions ?? [];
}

async function layerInfo(): Promise<{ descriptor: { digest: string }; diffID: string }> {
  return JSON.parse(await readFile(ws.bin("layer_/layer.json"), "utf8")) as { descriptor: { digest: string }; diffID: string };
}

beforeAll(async () => {
  await checkout.mount();
  registry = await startRegistry();
  seededDigest = await seedImage(registry, "node-e2e/base:v1", { layers: [{ files: { "etc/base.txt": "base\n" } }] });
  // A new registry port each run: the pull's attributes change, so Bazel fetches it again.
  await writeFile(
    join(REPO_ROOT, "e2e", "node", "pulls.MODULE.bazel"),
    [
      "# Written by tools/test/e2e-node.test.ts.",
      'oci = use_extension("@rules_ociutil//oci:extensions.bzl", "oci")',
      `oci.pull(name = "base", image = "${registry.host}/node-e2e/base", digest = "${seededDigest}")`,
      'use_repo(oci, "base")',
      "",
    ].join("\n"),
  );
  await ws.info();
  const dir = await mkdtemp(join(host("/tmp"), "ociutil-e2e-node-"));
  fakeRepo = dir.slice(checkout.rootfs.length);
  await mkdir(join(dir, "bin"));
  await writeFile(join(dir, "bin", "node"), '#!/bin/sh\necho "a stand-in for another CPU\'s node: never run" >&2\nexit 1\n');
  await chmod(join(dir, "bin", "node"), 0o755);
  await writeFile(join(dir, "REPO.bazel"), "");
  await writeFile(
    join(dir, "BUILD.bazel"),
    'load("@@rules_ociutil~//oci/private:toolchain.bzl", "oci_node_toolchain")\npackage(default_visibility = ["//visibility:public"])\noci_node_toolchain(name = "node", node = "bin/node")\n',
  );
}, 600_000);

afterAll(async () => {
  await registry?.stop();
  if (fakeRepo) await rm(host(fakeRepo), { recursive: true, force: true });
  await ws.bazel("shutdown");
  checkout.unmount();
});

describe("the Node that runs ociutil", () => {
  it("is the pinned official build by default: a layer builds with no node on PATH", async () => {
    await ws.mustBazel("build --repo_env=PATH=/nonexistent //:layer //:image");
    const [layer] = await aquery("mnemonic(OciLayer, //:layer)", "--repo_env=PATH=/nonexistent");
    expect(layer!.arguments![0]).toBe(`external/${nodeRepo(HERE)}/bin/node`);
    const version = await mustRun(host(join(ws.outputBase, "external", nodeRepo(HERE), "bin", "node")), ["--version"]);
    expect(version.stdout.trim()).toMatch(/^v22\./);

    // The documented modes: a target's executable 0755; source files 0644, executable or not.
    const listing = (await mustRun("tar", ["tzvf", ws.bin("layer_/layer.tar.gz")])).stdout;
    expect(listing).toMatch(/^-rw-r--r-- .* app\/config\.txt$/m);
    expect(listing).toMatch(/^-rwxr-xr-x .* app\/tool$/m);
  });

  it("runs oci.pull at fetch time with the machine's pinned Node when there is no node on PATH", async () => {
    await ws.mustBazel("build --repo_env=PATH=/nonexistent @base//:image");
    const pulled = await readFile(host(join(ws.outputBase, "external", "rules_ociutil~~oci~base", "BUILD.bazel")), "utf8");
    expect(pulled).toContain(seededDigest);
  });

  it("is the host's node with OCIUTIL_NODE, and the layer's bytes do not change", async () => {
    await ws.mustBazel("build --repo_env=PATH=/nonexistent //:layer");
    const pinned = await layerInfo();
    await ws.mustBazel("build --repo_env=OCIUTIL_NODE=/usr/bin/node //:layer");
    const [layer] = await aquery("mnemonic(OciLayer, //:layer)", "--repo_env=OCIUTIL_NODE=/usr/bin/node");
    expect(layer!.arguments![0]).toBe("external/rules_ociutil~~node~ociutil_node/host/bin/node");
    // Debian's node (system zlib) ran the action this time: same bytes as the official build's.
    expect(await layerInfo()).toEqual(pinned);
  });

  it("is the execution platform's for actions, and the machine's own for a bazel run script", async () => {
    const flags = `--extra_execution_platforms=${OTHER_WORKER} --override_repository=${nodeRepo(OTHER)}=${fakeRepo}`;
    const actions = await aquery("mnemonic(\"OciLayer|FileWrite\", //:layer + //:push)", flags);
    const layer = actions.find((a) => a.mnemonic === "OciLayer");
    expect(layer!.arguments![0]).toBe(`external/${nodeRepo(OTHER)}/bin/node`);
    const script = actions.find((a) => a.mnemonic === "FileWrite" && a.fileContents?.includes(" push "));
    expect(script!.fileContents).toContain(`/${nodeRepo(HERE)}/bin/node`);
    expect(script!.fileContents).not.toContain(nodeRepo(OTHER));
  });
});
