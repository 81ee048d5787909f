/**
 * Generated bad input for what an OCI image layout hands ociutil: its `oci-layout` and `index.json`,
 * and the tar headers of its layers (imagefs reads every header; `save` reads layers too). In
 * process, thousands of inputs through the readers the commands use; then a smaller number through
 * the real CLI (the test bundle), where the rule is the user's: exit 0, or exit 1 with exactly one
 * `ociutil: ` line on stderr and no "internal error"; and nothing written outside the target.
 * Seed: see harness/property.ts.
 */
import fc from "fast-check";
import { createHash } from "node:crypto";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openImage } from "../ociutil/imagefs/image.js";
import { readFilesystem } from "../ociutil/imagefs/read.js";
import { ImageLayout } from "../ociutil/layout/layout.js";
import { OciError } from "../ociutil/util/errors.js";
import { makeTempDir, removeTempDir, runOciutil } from "./harness/index.js";
import { announceSeed, damagedBytes, hostileString, mutatedJson, outcomeAsync, runs, serialize, sha256Digest } from "./harness/property.js";

announceSeed("property-layout-tar");

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir("property-layout");
});
afterAll(async () => {
  await removeTempDir(tmp);
});

const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const INDEX = "application/vnd.oci.image.index.v1+json";
const CONFIG = "application/vnd.oci.image.config.v1+json";
const LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";
const LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

function digest(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Writes `blobs` into DIR/blobs/sha256 and returns their descriptors' digests. */
async function writeBlob(dir: string, bytes: Buffer): Promise<string> {
  const d = digest(bytes);
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "blobs", "sha256", d.slice(7)), bytes);
  return d;
}

/** A layout of one image with the given layer bytes; index.json and oci-layout as given (else valid). */
async function writeLayout(dir: string, layer: Buffer, opts: { gzip: boolean; indexJson?: Buffer; ociLayout?: Buffer }): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const diffId = digest(layer);
  const stored = opts.gzip ? gzipSync(layer) : layer;
  const layerDigest = await writeBlob(dir, stored);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [diffId] } }));
  const configDigest = await writeBlob(dir, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: opts.gzip ? LAYER_GZIP : LAYER_TAR, digest: layerDigest, size: stored.length }],
    }),
  );
  const manifestDigest = await writeBlob(dir, manifest);
  const index = { schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: MANIFEST, digest: manifestDigest, size: manifest.length, annotations: { "org.opencontainers.image.ref.name": "latest" } }] };
  await writeFile(join(dir, "index.json"), opts.indexJson ?? serialize(index));
  await writeFile(join(dir, "oci-layout"), opts.ociLayout ?? '{"imageLayoutVersion":"1.0.0"}');
}

// ---- tar layers ----

const entryName = fc.oneof(
  fc.stringMatching(/^[a-z]{1,6}(\/[a-z]{1,6}){0,3}$/),
  fc.constantFrom("./", "/etc/passwd", "../../escape", "a/../../b", "./a/./b/", ".wh.x", "a/.wh..wh..opq", "", "/", "\u0000x", "a\nb", "\u001b[31m", "x".repeat(300), "é/ü", `${"d/".repeat(60)}f`),
  hostileString,
);
const entry = fc.record({
  name: entryName,
  type: fc.constantFrom("file", "file", "directory", "symlink", "link", "character-device", "fifo", "pax-header", "gnu-long-path"),
  linkname: entryName,
  mode: fc.oneof(fc.constantFrom(0o644, 0o755, 0o4755, 0o7777), fc.nat({ max: 0o7777777 })),
  uid: fc.oneof(fc.nat({ max: 70000 }), fc.constantFrom(0o7777777, 2 ** 21 - 1)),
  size: fc.nat({ max: 3000 }),
  mtime: fc.date({ min: new Date(0), max: new Date(2 ** 33 * 1000 - 1), noInvalidDate: true }),
  pax: fc.option(fc.dictionary(fc.constantFrom("path", "linkpath", "uid", "gid", "mtime", "size", "uname", "SCHILY.xattr.x", "x"), fc.oneof(hostileString, fc.constantFrom("1", "-1", "1e400", "99999999999999999999", "1.5")), { maxKeys: 3 }), { nil: undefined }),
});

/** Tar bytes written by tar-stream from generated headers. */
type TarEntry = typeof entry extends fc.Arbitrary<infer T> ? T : never;

async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const e of entries) {
    const header: Partial<tar.Header> & { name: string } = { name: e.name || "x", type: e.type as tar.Header["type"], mode: e.mode, uid: e.uid, mtime: e.mtime, ...(e.pax ? { pax: e.pax } : {}) };
    if (e.type === "symlink" || e.type === "link") header.linkname = e.linkname || "x";
    const body = e.type === "file" ? Buffer.alloc(e.size, 0x61) : undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
        if (body === undefined) pack.entry(header, cb);
        else pack.entry({ ...header, size: body.length }, body, cb);
      });
    } catch {
      // tar-stream refused the header (a name it cannot encode): leave the entry out
    }
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Damage inside the tar: a header field overwritten (checksum left or fixed), the archive cut short. */
function damagedTar(bytes: Buffer, picks: { at: number; value: number; cut: number; fix: boolean; how: number }): Buffer {
  const buf = Buffer.from(bytes);
  if (buf.length === 0) return buf;
  const how = picks.how % 4;
  if (how === 0) return buf;
  if (how === 1) return buf.subarray(0, picks.cut % buf.length);
  const header = Math.floor((picks.at % buf.length) / 512) * 512;
  const field = header + (picks.at % 512);
  buf[field] = picks.value;
  if (picks.fix || how === 3) {
    // Recompute the header checksum so the damage reaches the field parsers, not only the checksum check.
    buf.fill(0x20, header + 148, header + 156);
    let sum = 0;
    for (let i = header; i < header + 512 && i < buf.length; i++) sum += buf[i]!;
    buf.write(`${sum.toString(8).padStart(6, "0")}\0 `, header + 148, "latin1");
  }
  return buf;
}

const tarInput = fc.tuple(
  fc.array(entry, { minLength: 1, maxLength: 6 }),
  fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), cut: fc.nat(), fix: fc.boolean(), how: fc.nat() }),
  fc.boolean(),
);

describe("tar layers", () => {
  it("read to a filesystem, or one clear error naming the layer", async () => {
    const dir = join(tmp, "tar-in-process");
    await fc.assert(
      fc.asyncProperty(tarInput, async ([entries, damage, gzip]) => {
        const layer = damagedTar(await tarOf(entries), damage);
        await writeLayout(dir, layer, { gzip });
        await outcomeAsync(async () => readFilesystem(await openImage(dir, undefined)), `layer ${layer.toString("base64")}`);
      }),
      runs(250),
    );
  });
});

describe("regressions found by the generators", () => {
  it("a layer cut short inside a file's content: one LayerError naming the layer, not tar-stream's bare Error", async () => {
    const dir = join(tmp, "truncated-body");
    const whole = await tarOf([{ name: "f", type: "file", linkname: "", mode: 0o644, uid: 0, size: 513, mtime: new Date(0), pax: undefined }]);
    await writeLayout(dir, whole.subarray(0, 1024), { gzip: false });
    const image = await openImage(dir, undefined);
    await expect(readFilesystem(image)).rejects.toThrow(/^layer 0 \(sha256:[0-9a-f]{12}\): not a valid tar stream: Unexpected end of data$/);
    await expect(readFilesystem(image)).rejects.toBeInstanceOf(OciError);
  });
});

// ---- oci-layout and index.json ----

const validIndex = fc.record(
  {
    schemaVersion: fc.constant(2),
    mediaType: fc.constant(INDEX),
    manifests: fc.array(
      fc.record({ mediaType: fc.constantFrom(MANIFEST, INDEX), digest: sha256Digest, size: fc.nat({ max: 2000 }), annotations: fc.dictionary(fc.constantFrom("org.opencontainers.image.ref.name", "x"), fc.string({ maxLength: 8 }), { maxKeys: 2 }) }, { requiredKeys: ["mediaType", "digest", "size"] }),
      { maxLength: 3 },
    ),
  },
  { requiredKeys: ["schemaVersion", "manifests"] },
);
const ociLayout = fc.oneof(fc.constant('{"imageLayoutVersion":"1.0.0"}'), mutatedJson(fc.constant({ imageLayoutVersion: "1.0.0" })).map(serialize));

describe("index.json and oci-layout", () => {
  it("open to a validated index, or one clear error", async () => {
    const dir = join(tmp, "index-in-process");
    await writeLayout(dir, await tarOf([]), { gzip: false }); // the blobs; each input replaces the two files
    await fc.assert(
      fc.asyncProperty(damagedBytes(mutatedJson(validIndex).map(serialize)), damagedBytes(ociLayout), async (indexJson, marker) => {
        await writeFile(join(dir, "index.json"), indexJson);
        await writeFile(join(dir, "oci-layout"), marker);
        const index = await outcomeAsync(async () => (await ImageLayout.open(dir)).readIndex(), `index.json ${JSON.stringify(indexJson.toString())}`);
        if (index !== undefined) for (const m of index.manifests) expect(m.digest).toMatch(/^sha(256|512):[0-9a-f]+$/);
        await outcomeAsync(() => openImage(dir, undefined), `openImage, index.json ${JSON.stringify(indexJson.toString())}`);
      }),
      runs(800),
    );
  });
});

// ---- the real CLI ----

/** Every file and directory under `dir`, as relative paths. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe("the CLI on generated layouts", () => {
  it("ls, export, verify and save end in success or exactly one line, and write only their target", async () => {
    const sandbox = join(tmp, "cli");
    const dir = join(sandbox, "layout");
    const out = join(sandbox, "out");
    await fc.assert(
      fc.asyncProperty(
        tarInput,
        fc.option(damagedBytes(mutatedJson(validIndex).map(serialize)), { nil: undefined, freq: 3 }),
        fc.constantFrom<[string, ...string[]]>(["ls", "-R"], ["export"], ["verify"], ["save"]),
        async ([entries, damage, gzip], indexJson, [command, ...flags]) => {
          await rm(out, { recursive: true, force: true });
          await writeLayout(dir, damagedTar(await tarOf(entries), damage), { gzip, ...(indexJson !== undefined ? { indexJson } : {}) });
          await mkdir(out);
          const before = await tree(sandbox);
          const target = join(out, "image.tar");
          const args = command === "ls" ? ["ls", dir, "/", ...flags] : command === "export" ? ["export", dir, target] : command === "save" ? ["save", dir, target] : ["verify", dir];
          const r = await runOciutil(args);
          const lines = r.stderr.split("\n").filter((l) => l !== "");
          const context = `ociutil ${args.join(" ")}: exit ${r.code}\n${r.stderr}`;
          for (const l of lines) expect(l, context).not.toMatch(/internal error|^\s+at /);
          if (r.code !== 0) {
            expect(r.code, context).toBe(1);
            expect(lines.at(-1), context).toMatch(/^ociutil: /);
            // verify lists the layout's problems, one a line, above its verdict; the others say one thing.
            if (command !== "verify") expect(lines, context).toHaveLength(1);
          }
          // Only the target may appear (export and save write it whole, or not at all).
          const added = (await tree(sandbox)).filter((p) => !before.includes(p));
          expect(added.filter((p) => p !== "out/image.tar"), context).toEqual([]);
          if (r.code !== 0) expect(added, context).toEqual([]);
        },
      ),
      runs(10),
    );
  });
});
