/**
 * The example's base image: two platforms, three layers each, the same digests on every run (the
 * harness's buildTestIndex writes it; `ociutil push` sends it).
 */
import { createHash } from "node:crypto";
import type { LayerSpec } from "../test/harness/images.js";

/** Bytes that do not compress (so a layer's size shows), the same on every run (so digests do). */
function fixedNoise(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0, n = 0; i < size; n++) i += createHash("sha256").update(`${seed}/${n}`).digest().copy(out, i);
  return out;
}

/** The base image's layers for one architecture: a file only the base has (the scan test looks for
 *  it), an os-release, and a 1 MiB blob, so that "no layer fetched" means something. */
export function baseLayers(arch: string): LayerSpec[] {
  return [
    { files: { "etc/base-only.txt": `only in the base (${arch})\n` } },
    { files: { "etc/os-release": `ID=example\nARCH=${arch}\n`, "usr/share/base/readme": "the example's base image\n" } },
    { files: { "usr/lib/base/data.bin": fixedNoise(`rules_ociutil example ${arch}`, 1 << 20) } },
  ];
}
