/**
 * The generated workspace of the Bazel-scale benchmark: IMAGES images, each with two oci_layers (an
 * app file and a data file), an oci_image on a shallow pull of a small base, and an oci_push (its
 * push descriptor); every fourth also an oci_image_layout (on the base's full pull) and an
 * oci_layout_test with a scanner script. Split into packages of 25 images, as a monorepo would be.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

const PER_PACKAGE = 25;

export function appFile(dir: string, i: number): string {
  return join(dir, `p${Math.floor(i / PER_PACKAGE)}`, `app${i}`, "main.txt");
}

/**
 * Writes the workspace into `dir` (as the host sees it). `rulesPath` is the checkout's path as Bazel
 * sees it; `base` and `digest` the base image in the test registry.
 */
export async function writeWorkspace(dir: string, images: number, rulesPath: string, base: string, digest: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "MODULE.bazel"),
    [
      'module(name = "bazel_scale")',
      'bazel_dep(name = "rules_ociutil")',
      `local_path_override(module_name = "rules_ociutil", path = "${rulesPath}")`,
      'oci = use_extension("@rules_ociutil//oci:extensions.bzl", "oci")',
      `oci.pull(name = "base", image = "${base}", digest = "${digest}")`,
      `oci.pull_all(name = "base_all", image = "${base}", digest = "${digest}")`,
      'use_repo(oci, "base", "base_all")',
      "",
    ].join("\n"),
  );
  await writeFile(join(dir, "scan.sh"), '#!/bin/sh\ntest -f "$1/index.json"\n', { mode: 0o755 });
  // The floor's Node (bench.ts writes floor-node), for `--extra_toolchains=//:floor_toolchain`.
  await writeFile(
    join(dir, "BUILD.bazel"),
    [
      'load("@rules_ociutil//oci:defs.bzl", "oci_node_toolchain")',
      'exports_files(["scan.sh"])',
      'oci_node_toolchain(name = "floor_node", node = "floor-node")',
      'toolchain(name = "floor_toolchain", toolchain = ":floor_node", toolchain_type = "@rules_ociutil//oci:node_toolchain_type")',
      "",
    ].join("\n"),
  );
  for (let p = 0; p * PER_PACKAGE < images; p++) {
    const pkg = join(dir, `p${p}`);
    const rules: string[] = [
      'load("@rules_ociutil//oci:defs.bzl", "oci_image", "oci_image_layout", "oci_layer", "oci_layout_test", "oci_push")',
    ];
    for (let i = p * PER_PACKAGE; i < Math.min(images, (p + 1) * PER_PACKAGE); i++) {
      await mkdir(join(pkg, `app${i}`), { recursive: true });
      await writeFile(appFile(dir, i), `app ${i}\n`);
      await writeFile(join(pkg, `app${i}`, "data.txt"), `data ${i}\n`.repeat(64));
      rules.push(`
oci_layer(name = "app${i}_code", srcs = ["app${i}/main.txt"])

oci_layer(name = "app${i}_data", srcs = ["app${i}/data.txt"], prefix = "data")

oci_image(
    name = "app${i}",
    base = "@base",
    pulled_base = "@base_all",
    entrypoint = ["/app${i}/main.txt"],
    layers = [":app${i}_code", ":app${i}_data"],
)

oci_push(name = "app${i}_push", image = ":app${i}", remote_tags = ["latest"], repository = "localhost:5000/bench/app${i}")
`);
      if (i % 4 === 0) {
        rules.push(`oci_image_layout(name = "app${i}_layout", image = ":app${i}")

oci_layout_test(name = "app${i}_scan", image = ":app${i}", scanner = "//:scan.sh", args = ["{layout}"])
`);
      }
    }
    await writeFile(join(pkg, "BUILD.bazel"), rules.join("\n"));
  }
}
