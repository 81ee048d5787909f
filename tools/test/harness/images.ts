/**
 * Test fixtures: real OCI image layouts (or Docker schema2 images in an OCI layout) written from
 * scratch with tar-stream and node:zlib. Deliberately independent of tools/ociutil (nothing is
 * imported from it) so that the fixtures can catch ociutil's bugs instead of sharing them.
 *
 * Layers are gzip'd tars; `files` layers are deterministic (fixed mtimes, modes and owners, so the
 * same spec gives the same digests), `randomBytes` layers hold one file of random content and are
 * streamed to disk (a 500 MB layer is never in memory).
 */
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, constants as zc } from "node:zlib";
import tar from "tar-stream";
import { mustRun, peer } from "./peers.js";
import { makeTempDir, removeTempDir } from "./util.js";

export const MT = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export type LayerSpec = { files: Record<string, string | Buffer> } | { randomBytes: number };

export interface ImageSpec {
  layers: LayerSpec[];
  /** Default linux/amd64. */
  platform?: Platform;
  /** index.json ref name (org.opencontainers.image.ref.name). Default "latest". */
  refName?: string;
  /** Write Docker schema2 media types instead of OCI ones. */
  docker?: boolean;
}

export interface BuiltImage {
  manifestDigest: string;
  /** mediaType, digest, size (+ platform when the spec has one). */
  manifestDescriptor: Descriptor;
  /** Compressed layer digests, in order. */
  layerDigests: string[];
  layerDescriptors: Descriptor[];
  /** Uncompressed layer digests (config rootfs.diff_ids). */
  diffIds: string[];
  configDigest: string;
  configDescriptor: Descriptor;
  manifest: Record<string, unknown>;
  config: Record<string, unknown>;
}

export interface BuiltIndex {
  indexDigest: string;
  indexDescriptor: Descriptor;
  images: BuiltImage[];
}

/** Fixed timestamps, so `files` layers and configs are reproducible. */
const MTIME = new Date("2024-01-01T00:00:00Z");
const CREATED = "2024-01-01T00:00:00Z";

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function ensureLayout(dir: string): Promise<void> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
}

function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(":");
  return join(dir, "blobs", alg!, hex!);
}

async function writeBlob(dir: string, data: Buffer | string, mediaType: string): Promise<Descriptor> {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, "utf8");
  const digest = sha256(buf);
  await writeFile(blobPath(dir, digest), buf);
  return { mediaType, digest, size: buf.length };
}

class HashCount extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void) {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

function normalizeName(name: string): string {
  const n = name.replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "");
  if (n === "" || n.split("/").some((p) => p === ".." || p === ".")) throw new Error(`bad file name in layer spec: ${name}`);
  return n;
}

/** Writes one gzip'd tar layer to the layout; returns its descriptor and diff_id. */
async function writeLayer(dir: string, spec: LayerSpec, mediaType: string): Promise<{ desc: Descriptor; diffId: string }> {
  const tmp = join(dir, "blobs", "sha256", `.tmp-${randomBytes(8).toString("hex")}`);
  const pack = tar.pack();
  const raw = new HashCount();
  const gz = new HashCount();
  const random = "randomBytes" in spec;
  const gzip = createGzip({ level: random ? 1 : zc.Z_DEFAULT_COMPRESSION, chunkSize: 1024 * 1024 });
  const done = pipeline(pack, raw, gzip, gz, createWriteStream(tmp));

  const entry = (header: Parameters<tar.Pack["entry"]>[0], body?: Buffer) =>
    new Promise<void>((resolve, reject) => pack.entry(header, body ?? Buffer.alloc(0), (e) => (e ? reject(e) : resolve())));

  const fill = async () => {
    if ("randomBytes" in spec) {
      const size = spec.randomBytes;
      const stream = pack.entry({ name: "random.bin", size, mode: 0o644, mtime: MTIME, uid: 0, gid: 0, type: "file" });
      const finished = new Promise<void>((resolve, reject) => {
        stream.on("finish", () => resolve());
        stream.on("error", reject);
      });
      let left = size;
      while (left > 0) {
        const n = Math.min(left, 1024 * 1024);
        left -= n;
        if (!stream.write(randomBytes(n))) await new Promise<void>((r) => stream.once("drain", () => r()));
      }
      (stream as unknown as NodeJS.WritableStream).end();
      await finished;
    } else {
      const names = Object.keys(spec.files).map((n) => [normalizeName(n), n] as const);
      const dirs = new Set<string>();
      for (const [n] of names) {
        const parts = n.split("/");
        for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
      }
      const all: Array<{ name: string; dir: boolean; key?: string }> = [
        ...[...dirs].map((d) => ({ name: d, dir: true })),
        ...names.map(([n, key]) => ({ name: n, dir: false, key })),
      ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of all) {
        if (e.dir) {
          await entry({ name: `${e.name}/`, type: "directory", mode: 0o755, mtime: MTIME, uid: 0, gid: 0 });
        } else {
          const v = spec.files[e.key!]!;
          const body = Buffer.isBuffer(v) ? v : Buffer.from(v, "utf8");
          await entry({ name: e.name, type: "file", mode: 0o644, mtime: MTIME, uid: 0, gid: 0, size: body.length }, body);
        }
      }
    }
    pack.finalize();
  };

  try {
    await Promise.all([fill(), done]);
  } catch (e) {
    pack.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  const digest = `sha256:${gz.hash.digest("hex")}`;
  await rename(tmp, blobPath(dir, digest));
  return { desc: { mediaType, digest, size: gz.bytes }, diffId: `sha256:${raw.hash.digest("hex")}` };
}

/** Writes an image's blobs (layers, config, manifest) into the layout, without touching index.json. */
async function writeImage(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  await ensureLayout(dir);
  const docker = spec.docker === true;
  const platform = spec.platform ?? { os: "linux", architecture: "amd64" };
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const l of spec.layers) {
    const { desc, diffId } = await writeLayer(dir, l, docker ? MT.dockerLayerGzip : MT.ociLayerGzip);
    layers.push(desc);
    diffIds.push(diffId);
  }
  const config: Record<string, unknown> = {
    created: CREATED,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: ["/bin/sh"],
      Labels: { "org.example.fixture": "ociutil-test" },
    },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: spec.layers.map((l, i) => ({
      created: CREATED,
      created_by: "randomBytes" in l ? `ociutil-test: ${l.randomBytes} random bytes (layer ${i})` : `ociutil-test: files (layer ${i})`,
    })),
  };
  const configDescriptor = await writeBlob(dir, JSON.stringify(config), docker ? MT.dockerConfig : MT.ociConfig);
  const manifestMediaType = docker ? MT.dockerManifest : MT.ociManifest;
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: manifestMediaType,
    config: configDescriptor,
    layers,
  };
  const m = await writeBlob(dir, JSON.stringify(manifest), manifestMediaType);
  const manifestDescriptor: Descriptor = { ...m, ...(spec.platform ? { platform: spec.platform } : {}) };
  return {
    manifestDigest: m.digest,
    manifestDescriptor,
    layerDigests: layers.map((l) => l.digest),
    layerDescriptors: layers,
    diffIds,
    configDigest: configDescriptor.digest,
    configDescriptor,
    manifest,
    config,
  };
}

/** Adds (or replaces, by ref name) an entry of the layout's index.json. */
async function addToIndexJson(dir: string, desc: Descriptor, refName: string): Promise<void> {
  const p = join(dir, "index.json");
  let index: { schemaVersion: number; mediaType?: string; manifests: Descriptor[] } = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [],
  };
  try {
    index = JSON.parse(await readFile(p, "utf8")) as typeof index;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  index.manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== refName);
  index.manifests.push({ ...desc, annotations: { ...(desc.annotations ?? {}), [REF_NAME_ANNOTATION]: refName } });
  await writeFile(p, JSON.stringify(index, null, 2));
}

/**
 * Writes an image into the OCI layout at `dir` (created if needed) and names it in index.json with
 * `refName` (default "latest"; an existing entry with that name is replaced, others are kept).
 */
export async function buildTestImage(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  const img = await writeImage(dir, spec);
  await addToIndexJson(dir, img.manifestDescriptor, spec.refName ?? "latest");
  return img;
}

/**
 * Writes a multi-platform image index (a Docker manifest list if every image is `docker: true`)
 * whose entries carry each image's platform, and names it `refName` in index.json. The child
 * manifests are blobs only (not named in index.json).
 */
export async function buildTestIndex(dir: string, images: Array<ImageSpec & { platform: Platform }>, refName = "latest"): Promise<BuiltIndex> {
  const built: BuiltImage[] = [];
  for (const spec of images) built.push(await writeImage(dir, spec));
  const docker = images.length > 0 && images.every((i) => i.docker === true);
  const mediaType = docker ? MT.dockerList : MT.ociIndex;
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: built.map((b, i) => ({
      mediaType: b.manifestDescriptor.mediaType,
      digest: b.manifestDigest,
      size: b.manifestDescriptor.size,
      platform: images[i]!.platform,
    })),
  };
  const desc = await writeBlob(dir, JSON.stringify(index), mediaType);
  await addToIndexJson(dir, desc, refName);
  return { indexDigest: desc.digest, indexDescriptor: desc, images: built };
}

/** Anything with a registry host and optional credentials (TestRegistry, or a FaultProxy plus creds). */
export interface RegistryLike {
  host: string;
  username?: string;
  password?: string;
}

/**
 * Writes a docker config.json with the registry's credentials (if any) to `dir` and returns the env
 * for crane/oras (DOCKER_CONFIG) and skopeo (REGISTRY_AUTH_FILE).
 */
export async function dockerConfigEnv(dir: string, registries: RegistryLike | RegistryLike[]): Promise<Record<string, string>> {
  const auths: Record<string, { auth: string }> = {};
  for (const r of Array.isArray(registries) ? registries : [registries]) {
    if (r.username !== undefined && r.password !== undefined) {
      auths[r.host] = { auth: Buffer.from(`${r.username}:${r.password}`).toString("base64") };
    }
  }
  await mkdir(dir, { recursive: true });
  const file = join(dir, "config.json");
  await writeFile(file, JSON.stringify({ auths }));
  return { DOCKER_CONFIG: dir, REGISTRY_AUTH_FILE: file };
}

export interface PushOptions {
  /** crane push --index: push index.json itself as an index (needed when it names several images). */
  index?: boolean;
  /** Credentials for the registry in `ref`. */
  registry?: RegistryLike;
}

/**
 * `crane push [--index] DIR REF --insecure`; returns the pushed digest. Without --index, crane pushes
 * the single entry of index.json (image or index).
 */
export async function pushWithCrane(layoutDir: string, ref: string, opts: PushOptions = {}): Promise<string> {
  const tmp = await makeTempDir("crane-cfg");
  try {
    const env = await dockerConfigEnv(tmp, opts.registry ? [opts.registry] : []);
    const args = ["push", ...(opts.index ? ["--index"] : []), layoutDir, ref, "--insecure"];
    const { stdout, stderr } = await mustRun(peer("crane"), args, { env });
    const m = /@(sha256:[0-9a-f]{64})\s*$/.exec(stdout.trim());
    if (!m) throw new Error(`crane push printed no digest; stdout: ${stdout}\nstderr: ${stderr}`);
    return m[1]!;
  } finally {
    await removeTempDir(tmp);
  }
}

/** Builds an image in a temp layout and pushes it with crane to `registry.host/repoTag`; returns its digest. */
export async function seedImage(registry: RegistryLike, repoTag: string, spec: ImageSpec): Promise<string> {
  const dir = await makeTempDir("seed");
  try {
    const img = await buildTestImage(join(dir, "layout"), spec);
    const digest = await pushWithCrane(join(dir, "layout"), `${registry.host}/${repoTag}`, { registry });
    if (digest !== img.manifestDigest) {
      throw new Error(`crane pushed ${digest} but the fixture manifest is ${img.manifestDigest}`);
    }
    return digest;
  } finally {
    await removeTempDir(dir);
  }
}

/** Size on disk of a blob in a layout (for assertions). */
export async function blobSize(dir: string, digest: string): Promise<number> {
  return (await stat(blobPath(dir, digest))).size;
}

export { blobPath };
