/**
 * Thin manifest directories, laid out as kpromo expects:
 *   DIR/manifests/<x>/promoter-manifest.yaml   (registries)
 *   DIR/images/<x>/images.yaml                 (images)
 * Only files named exactly promoter-manifest.yaml one level under manifests/ are read; other files
 * (READMEs, OWNERS) and image directories with no manifest are ignored, as kpromo does. Unlike
 * kpromo at the time of writing, a relative DIR, `.` and a trailing slash all work.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { readThinManifest, type Problem, type PromoterManifest } from "./manifest.js";

export async function readThinManifestDir(dir: string, problems: Problem[]): Promise<PromoterManifest[]> {
  const manifestsDir = join(dir, "manifests");
  const imagesDir = join(dir, "images");
  for (const d of [manifestsDir, imagesDir]) {
    const s = await stat(d).catch(() => undefined);
    if (s === undefined || !s.isDirectory()) {
      problems.push({ file: d, line: 0, field: "(directory)", message: "a thin manifest directory needs manifests/ and images/ directories" });
    }
  }
  if (problems.length > 0) return [];

  const subdirs = (await readdir(manifestsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  subdirs.sort();
  const out: PromoterManifest[] = [];
  for (const name of subdirs) {
    const file = join(manifestsDir, name, "promoter-manifest.yaml");
    const s = await stat(file).catch(() => undefined);
    if (s === undefined) continue; // kpromo only warns about a subdirectory without a manifest
    if (!s.isFile()) {
      problems.push({ file, line: 0, field: "(file)", message: "is not a regular file" });
      continue;
    }
    const imagesFile = join(imagesDir, name, "images.yaml");
    const is = await stat(imagesFile).catch(() => undefined);
    if (is === undefined || !is.isFile()) {
      problems.push({ file, line: 0, field: "(file)", message: `its images file ${imagesFile} ${is === undefined ? "does not exist" : "is not a regular file"}` });
      continue;
    }
    const m = await readThinManifest(file, imagesFile, problems);
    if (m !== undefined) out.push(m);
  }
  if (out.length === 0 && problems.length === 0) {
    problems.push({ file: manifestsDir, line: 0, field: "(directory)", message: "no manifests/<name>/promoter-manifest.yaml found" });
  }
  return out;
}
