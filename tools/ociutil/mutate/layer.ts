/**
 * `ociutil layer`: a reproducible layer tarball from a file manifest (written by the `oci_layer` rule).
 *
 * Reproducible means: entries sorted by path, parent directories added, fixed mtime/uid/gid, empty
 * user and group names, no other host metadata, and bytes that depend only on the manifest and the
 * sources' contents, never on where the action ran:
 * - modes come from the manifest, decided by the rule at analysis time: a file is 0755 if its entry
 *   says `executable` (the executable of a target) or `modes` names it, else 0644; directories 0755.
 *   The executable bit of a source at action time is never read: remote executors mark every input
 *   executable, so it differs between local and remote runs of one action.
 * - gzip by ReproducibleGzip (gzip.ts), whose output is fixed by this bundle, not by Node's zlib.
 *
 * Manifest (JSON):
 *   { "prefix": "app", "mtime": 0, "uid": 0, "gid": 0, "compression": "gzip" | "none", "modes": { "bin/x": 493 },
 *     "entries": [ { "path": "bin/x", "src": "bazel-out/.../x", "executable": true },   a file, or a directory to walk
 *                  { "path": "etc/y", "symlink": "/target" },
 *                  { "path": "var/empty", "type": "dir" } ] }
 */
import { createReadStream, type Stats } from "node:fs";
import { lstat, open, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash, type Hash } from "node:crypto";
import type { Command } from "commander";
import tar from "tar-stream";
import * as z from "zod";
import { writeFileAtomic } from "../util/fsutil.js";
import { OciError, UsageError } from "../util/errors.js";
import { describeLayerFile } from "./describe.js";
import { ReproducibleGzip } from "./gzip.js";
import { action } from "../cli/run.js";
import { MediaType } from "../spec/mediatypes.js";
import type { Digest } from "../name/digest.js";
import { readJsonFile } from "./common.js";

const EntrySchema = z.object({
  path: z.string(),
  src: z.string().optional(),
  symlink: z.string().optional(),
  type: z.enum(["file", "dir"]).optional(),
  mode: z.number().int().min(0).max(0o7777).optional(),
  /** A target's executable: 0755 unless `mode` or `modes` says otherwise. */
  executable: z.boolean().optional(),
});

export const LayerManifestSchema = z.object({
  prefix: z.string().default(""),
  mtime: z.number().int().nonnegative().default(0),
  uid: z.number().int().nonnegative().default(0),
  gid: z.number().int().nonnegative().default(0),
  compression: z.enum(["gzip", "none"]).default("gzip"),
  /** Path relative to the prefix → mode; applies to files found in `src` directories too. */
  modes: z.record(z.string(), z.number().int().min(0).max(0o7777)).default({}),
  target: z.string().optional(),
  entries: z.array(EntrySchema),
});
export type LayerManifest = z.infer<typeof LayerManifestSchema>;

/** What `layer` writes beside the tarball: its descriptor and the digest of its uncompressed tar. */
export const LayerInfoSchema = z.object({
  descriptor: z.object({ mediaType: z.string(), digest: z.string(), size: z.number().int().nonnegative() }),
  diffID: z.string(),
});
export type LayerInfo = z.infer<typeof LayerInfoSchema>;

export class LayerError extends OciError {
  override readonly name = "LayerError";
}

type TarEntry =
  | { kind: "file"; name: string; src: string; mode: number; size: number }
  | { kind: "dir"; name: string; mode: number }
  | { kind: "symlink"; name: string; target: string };

/**
 * Normalizes `prefix/p` to a relative POSIX path with no "." or ".." segments, and checks it stays
 * under the prefix. Leading "/" on `p` means the root of the prefix, as in a Dockerfile COPY.
 */
export function layerPath(prefix: string, p: string, target?: string): string {
  const cleanPrefix = path.posix.normalize(`/${prefix}`).replace(/^\/+|\/+$/g, "");
  const joined = path.posix.normalize(`/${cleanPrefix}/${p.replace(/^\/+/, "")}`).replace(/^\/+|\/+$/g, "");
  const inside = cleanPrefix === "" || joined === cleanPrefix || joined.startsWith(`${cleanPrefix}/`);
  const escapes = p.split("/").reduce((depth, seg) => (depth < 0 ? depth : seg === ".." ? depth - 1 : seg === "" || seg === "." ? depth : depth + 1), 0) < 0;
  if (!inside || escapes || joined === "") {
    const who = target !== undefined ? `${target}: ` : "";
    if (joined === "" && !escapes) throw new LayerError(`${who}layer path "${p}" names the root of the layer, not a file`);
    throw new LayerError(
      `${who}layer path "${p}" escapes the layer's prefix "${cleanPrefix || "/"}": use a path inside it (no ".." above it), or change the prefix`,
    );
  }
  return joined;
}

/** A file's mode when neither its entry's `mode` nor `modes` gives one: see the rule at the top. */
function defaultFileMode(executable: boolean | undefined): number {
  return executable === true ? 0o755 : 0o644;
}

async function walk(manifest: LayerManifest): Promise<TarEntry[]> {
  const byName = new Map<string, TarEntry>();
  const add = (e: TarEntry): void => {
    const prev = byName.get(e.name);
    if (prev !== undefined && !(prev.kind === "dir" && e.kind === "dir")) {
      throw new LayerError(`${manifest.target ?? "layer"}: two entries for "${e.name}"`);
    }
    byName.set(e.name, e);
  };
  const addDirTree = async (srcDir: string, name: string): Promise<void> => {
    const children = (await readdir(srcDir)).sort();
    for (const child of children) {
      const src = path.join(srcDir, child);
      const childName = `${name}/${child}`;
      const s = await lstat(src);
      if (s.isSymbolicLink()) {
        // Bazel's input trees are symlinks to the real files: follow them (a tree artifact's own
        // symlinks are resolved by Bazel before the action runs).
        const t = await stat(src);
        if (t.isDirectory()) await addDirTree(src, childName);
        else add({ kind: "file", name: childName, src, mode: defaultFileMode(undefined), size: t.size });
      } else if (s.isDirectory()) {
        add({ kind: "dir", name: childName, mode: 0o755 });
        await addDirTree(src, childName);
      } else if (s.isFile()) {
        add({ kind: "file", name: childName, src, mode: defaultFileMode(undefined), size: s.size });
      }
    }
  };
  for (const entry of manifest.entries) {
    const name = layerPath(manifest.prefix, entry.path, manifest.target);
    if (entry.symlink !== undefined) {
      add({ kind: "symlink", name, target: entry.symlink });
    } else if (entry.type === "dir" && entry.src === undefined) {
      add({ kind: "dir", name, mode: entry.mode ?? 0o755 });
    } else if (entry.src !== undefined) {
      let s: Stats;
      try {
        s = await stat(entry.src);
      } catch {
        throw new LayerError(`${manifest.target ?? "layer"}: source ${entry.src} for "${entry.path}" does not exist`);
      }
      if (s.isDirectory()) {
        add({ kind: "dir", name, mode: entry.mode ?? 0o755 });
        await addDirTree(entry.src, name);
      } else {
        add({ kind: "file", name, src: entry.src, mode: entry.mode ?? defaultFileMode(entry.executable), size: s.size });
      }
    } else {
      throw new LayerError(`${manifest.target ?? "layer"}: entry "${entry.path}" has neither src, symlink nor type "dir"`);
    }
  }
  for (const [p, mode] of Object.entries(manifest.modes)) {
    const name = layerPath(manifest.prefix, p, manifest.target);
    const e = byName.get(name);
    if (e === undefined) throw new LayerError(`${manifest.target ?? "layer"}: modes names "${name}", which is not in the layer`);
    if (e.kind === "symlink") throw new LayerError(`${manifest.target ?? "layer"}: modes names "${name}", a symlink (symlinks have no mode)`);
    e.mode = mode;
  }
  // Parent directories, so that every extractor creates them with a known mode.
  for (const name of [...byName.keys()]) {
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const existing = byName.get(parent);
      if (existing === undefined) byName.set(parent, { kind: "dir", name: parent, mode: 0o755 });
      else if (existing.kind !== "dir") throw new LayerError(`${manifest.target ?? "layer"}: "${parent}" is both a file and a directory`);
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Counts and hashes bytes as they pass. */
class Tap extends Transform {
  readonly hash: Hash = createHash("sha256");
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }
}

async function writeEntries(pack: tar.Pack, entries: TarEntry[], m: LayerManifest): Promise<void> {
  const common = { mtime: new Date(m.mtime * 1000), uid: m.uid, gid: m.gid, uname: "", gname: "" };
  for (const e of entries) {
    if (e.kind === "dir") {
      await new Promise<void>((resolve, reject) =>
        pack.entry({ ...common, name: `${e.name}/`, type: "directory", mode: e.mode }, (err) => (err ? reject(err) : resolve())),
      );
    } else if (e.kind === "symlink") {
      await new Promise<void>((resolve, reject) =>
        pack.entry({ ...common, name: e.name, type: "symlink", linkname: e.target, mode: 0o777 }, (err) => (err ? reject(err) : resolve())),
      );
    } else {
      let done!: (err?: Error | null) => void;
      const finished = new Promise<void>((resolve, reject) => {
        done = (err) => (err ? reject(err) : resolve());
      });
      const sink = pack.entry({ ...common, name: e.name, type: "file", mode: e.mode, size: e.size }, done);
      await pipeline(createReadStream(e.src, { highWaterMark: 1 << 20 }), sink);
      await finished;
    }
  }
  pack.finalize();
}

export async function buildLayer(manifest: LayerManifest, output: string): Promise<LayerInfo> {
  const entries = await walk(manifest);
  const pack = tar.pack();
  const tarTap = new Tap();
  const outTap = new Tap();
  const out = await open(output, "w", 0o644);
  const sink = out.createWriteStream();
  const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [pack as unknown as NodeJS.ReadableStream, tarTap];
  if (manifest.compression === "gzip") {
    stages.push(new ReproducibleGzip());
  }
  stages.push(outTap, sink);
  const produced = writeEntries(pack, entries, manifest);
  await Promise.all([pipeline(stages as unknown as [NodeJS.ReadableStream, ...NodeJS.WritableStream[]]), produced]);
  const diffID = `sha256:${tarTap.hash.digest("hex")}` as Digest;
  return {
    descriptor: {
      mediaType: manifest.compression === "gzip" ? MediaType.OciLayerGzip : MediaType.OciLayer,
      digest: `sha256:${outTap.hash.digest("hex")}`,
      size: outTap.size,
    },
    diffID,
  };
}

export function registerLayer(program: Command): void {
  program
    .command("layer")
    .description("write a reproducible layer tarball from a file manifest (JSON) and its info, or (--describe) the info of an existing tar")
    .option("--manifest <file>", "layer manifest JSON (prefix, mtime, uid, gid, compression, entries)")
    .option("--output <file>", "where to write the layer (tar, or tar+gzip)")
    .option("--describe <file>", "instead: describe this existing tar or tar+gzip")
    .requiredOption("--info <file>", "where to write {descriptor, diffID} as JSON")
    .action(
      action(async (opts: { manifest?: string; output?: string; describe?: string; info: string }) => {
        let info: LayerInfo;
        if (opts.describe !== undefined) {
          if (opts.manifest !== undefined || opts.output !== undefined) throw new UsageError("--describe takes no --manifest or --output");
          info = await describeLayerFile(opts.describe);
        } else {
          if (opts.manifest === undefined || opts.output === undefined) throw new UsageError("layer needs --manifest and --output (or --describe)");
          const manifest = await readJsonFile(opts.manifest, LayerManifestSchema, "layer manifest");
          info = await buildLayer(manifest, opts.output);
        }
        await writeFileAtomic(opts.info, `${JSON.stringify(info)}\n`);
      }),
    );
}
