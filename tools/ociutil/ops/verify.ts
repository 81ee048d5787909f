/**
 * verify: is a layout complete and valid? Everything reachable from index.json is checked: manifests
 * and indexes against their schemas, configs against the image-config schema, every blob present with
 * the size and digest its descriptor gives, layer media types known, one diff_id per layer.
 * Problems are collected, not thrown, so one run lists all of them.
 *
 * Files that are not blobs are problems too: a temp file an interrupted write left (temp-files.ts),
 * or any other name in blobs/<algorithm>/. The image may be intact, but the layout is not one: the
 * image-layout spec names every child of blobs/<algorithm>/ by the digest of its content, and tools
 * that list blobs (umoci's gc, for one) take every name there for a digest.
 */
import { createReadStream } from "node:fs";
import { opendir } from "node:fs/promises";
import path from "node:path";
import { digestAlgorithm, isDigest, newHash } from "../name/digest.js";
import { ImageLayout } from "../layout/layout.js";
import { CONFIG_MEDIA_TYPES, LAYER_MEDIA_TYPES, isImageManifestMediaType, isIndexMediaType } from "../spec/mediatypes.js";
import { parseManifest } from "../spec/manifest.js";
import { ImageConfigSchema, describeIssues, type Descriptor } from "../spec/schemas.js";
import { errorMessage } from "../util/errors.js";
import { forEachLimit } from "../util/pool.js";
import { hashFileAsWritten } from "../util/file-hasher.js";
import { abandonedBecause, parseTempName } from "../util/temp-files.js";

export interface VerifyResult {
  manifests: number;
  blobs: number;
  bytes: number;
  problems: string[];
  /** Temp files left in the layout, relative to it (each is also a problem). */
  strays: string[];
}

/** Big blobs are hashed on worker threads, so a layout of several layers uses every core. */
async function hashFile(file: string, desc: Descriptor): Promise<string> {
  if (desc.size >= 8 << 20) {
    const job = hashFileAsWritten(file, digestAlgorithm(desc.digest));
    job.advance(desc.size);
    return await job.finish();
  }
  const hash = newHash(digestAlgorithm(desc.digest));
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export async function verifyLayout(dir: string, jobs: number): Promise<VerifyResult> {
  const layout = await ImageLayout.open(dir);
  const index = await layout.readIndex();
  const problems: string[] = [];
  const result: VerifyResult = { manifests: 0, blobs: 0, bytes: 0, problems, strays: [] };
  const checkedBlobs = new Map<string, Promise<boolean>>();
  const visited = new Set<string>();
  const layers: Array<{ layer: Descriptor; path: string }> = [];

  /** Checks size and digest by streaming the file; memoised per digest. */
  const checkBlob = (desc: Descriptor, what: string): Promise<boolean> => {
    let p = checkedBlobs.get(desc.digest);
    if (p === undefined) {
      p = (async () => {
        const size = await layout.blobSize(desc.digest);
        if (size === undefined) {
          problems.push(`${what} ${desc.digest}: blob missing`);
          return false;
        }
        if (size !== desc.size) {
          problems.push(`${what} ${desc.digest}: blob has ${size} bytes, descriptor says ${desc.size}`);
          return false;
        }
        const got = `${digestAlgorithm(desc.digest)}:${await hashFile(layout.blobPath(desc.digest), desc)}`;
        if (got !== desc.digest) {
          problems.push(`${what} ${desc.digest}: content has digest ${got}`);
          return false;
        }
        result.blobs++;
        result.bytes += size;
        return true;
      })();
      checkedBlobs.set(desc.digest, p);
    }
    return p;
  };

  const visitManifest = async (desc: Descriptor, path: string): Promise<void> => {
    if (visited.has(desc.digest)) return;
    visited.add(desc.digest);
    if (!isIndexMediaType(desc.mediaType) && !isImageManifestMediaType(desc.mediaType)) {
      problems.push(`${path}: unknown manifest media type "${desc.mediaType}"`);
      return;
    }
    if (!(await checkBlob(desc, `${path} manifest`))) return;
    let m;
    try {
      m = parseManifest(await layout.readBlob(desc), desc.mediaType, `${desc.digest}`);
    } catch (err) {
      problems.push(`${path}: ${errorMessage(err)}`);
      return;
    }
    result.manifests++;
    if (m.mediaType !== desc.mediaType) problems.push(`${path} ${desc.digest}: descriptor says ${desc.mediaType}, manifest says ${m.mediaType}`);
    if (m.kind === "index") {
      for (const [i, child] of m.index.manifests.entries()) await visitManifest(child, `${path}.manifests[${i}]`);
      return;
    }
    const { config, layers: ls } = m.manifest;
    if (!CONFIG_MEDIA_TYPES.includes(config.mediaType)) {
      problems.push(`${path} config ${config.digest}: unknown config media type "${config.mediaType}"`);
    } else if (await checkBlob(config, `${path} config`)) {
      try {
        const parsed = ImageConfigSchema.safeParse(JSON.parse((await layout.readBlob(config)).toString("utf8")));
        if (!parsed.success) problems.push(`${path} config ${config.digest}: ${describeIssues(parsed.error)}`);
        else if (parsed.data.rootfs.diff_ids.length !== ls.length) {
          problems.push(`${path} config ${config.digest}: ${parsed.data.rootfs.diff_ids.length} diff_ids for ${ls.length} layers`);
        }
      } catch (err) {
        problems.push(`${path} config ${config.digest}: not JSON (${errorMessage(err)})`);
      }
    }
    for (const [i, layer] of ls.entries()) {
      if (!LAYER_MEDIA_TYPES.includes(layer.mediaType)) problems.push(`${path}.layers[${i}] ${layer.digest}: unknown layer media type "${layer.mediaType}"`);
      layers.push({ layer, path: `${path}.layers[${i}]` });
    }
  };

  for (const [i, desc] of index.manifests.entries()) await visitManifest(desc, `index.json manifests[${i}]`);
  // Layers are the big blobs: hash them in parallel.
  await forEachLimit(layers, jobs, async ({ layer, path }) => {
    await checkBlob(layer, path);
  });
  if (index.manifests.length === 0) problems.push("index.json lists no manifests");
  await checkNames(layout, result);
  return result;
}

/** Reports temp files and other names that are not blobs, reading each directory as a stream. */
async function checkNames(layout: ImageLayout, result: VerifyResult): Promise<void> {
  for (const dir of await layout.tempFileDirs()) {
    const rel = path.relative(layout.dir, dir);
    const algorithm = rel === "" ? undefined : path.basename(dir);
    const known = algorithm === "sha256" || algorithm === "sha512"; // other algorithms' names are not ours to judge
    for await (const entry of await opendir(dir)) {
      const name = path.join(rel, entry.name);
      const temp = parseTempName(entry.name);
      if (temp !== undefined && entry.isFile()) {
        const why = await abandonedBecause(path.join(dir, entry.name), temp);
        result.strays.push(name);
        result.problems.push(
          why !== undefined
            ? `${name}: a temp file an interrupted write left (${why}); the next pull or build into this layout removes it`
            : `${name}: a temp file of a write still under way`,
        );
      } else if (known && !isDigest(`${algorithm}:${entry.name}`)) {
        result.problems.push(`${name}: not a blob (a blob's name is the ${algorithm} digest of its content)`);
      }
    }
  }
}
