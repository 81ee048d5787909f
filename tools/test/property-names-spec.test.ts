/**
 * Generated bad input for the parsers of names and documents: references, digests, manifests,
 * indexes and image configs. Each property feeds thousands of inputs, valid ones and mutations of
 * them, and allows exactly two outcomes: a parsed value that holds its invariants, or one clear
 * OciError (see harness/property.ts). The seed is printed; OCIUTIL_TEST_SEED replays a run.
 */
import fc from "fast-check";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ImageLayout } from "../ociutil/layout/layout.js";
import { parseDigest } from "../ociutil/name/digest.js";
import { formatReference, parseReference } from "../ociutil/name/reference.js";
import { parseManifest } from "../ociutil/spec/manifest.js";
import { MediaType } from "../ociutil/spec/mediatypes.js";
import { ImageConfigSchema, describeIssues } from "../ociutil/spec/schemas.js";
import {
  announceSeed,
  damagedBytes,
  hostileString,
  mutatedJson,
  outcome,
  runs,
  serialize,
  sha256Digest,
} from "./harness/property.js";

announceSeed("property-names-spec");

// ---- references ----

const lowerAlnum = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const component = fc.tuple(lowerAlnum, fc.option(fc.tuple(fc.constantFrom(".", "_", "__", "-", "--"), lowerAlnum))).map(([a, b]) => (b ? a + b[0] + b[1] : a));
const registry = fc.oneof(
  fc.constantFrom("docker.io", "ghcr.io", "localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000", "registry.example.com:443", "Reg.Example"),
  fc.tuple(lowerAlnum, lowerAlnum, fc.option(fc.integer({ min: 1, max: 65535 }))).map(([a, b, p]) => `${a}.${b}${p ? `:${p}` : ""}`),
);
const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
const validReference = fc
  .tuple(fc.option(registry), fc.array(component, { minLength: 1, maxLength: 3 }), fc.option(tag), fc.option(sha256Digest))
  .map(([r, repo, t, d]) => `${r ? `${r}/` : ""}${repo.join("/")}${t ? `:${t}` : ""}${d ? `@${d}` : ""}`);

/** Edits of a string: insert, delete or replace a run of characters, truncate, repeat. */
function edited(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const piece = fc.oneof(hostileString, fc.constantFrom("/", ":", "@", ".", "-", "_", "A", "[", "]", "user:secret@", "sha512:"));
  return fc.oneof(
    valid,
    fc.tuple(valid, fc.nat(), fc.nat({ max: 6 }), piece).map(([s, at, del, ins]) => {
      const i = at % (s.length + 1);
      return s.slice(0, i) + ins + s.slice(i + del);
    }),
    fc.tuple(valid, fc.nat()).map(([s, n]) => s.slice(0, n % (s.length + 1))),
    fc.tuple(valid, fc.integer({ min: 2, max: 40 })).map(([s, n]) => s.repeat(n)),
  );
}

describe("references", () => {
  it("parse to a reference that formats and parses back to itself, or fail with one clear error", () => {
    fc.assert(
      fc.property(edited(validReference), (input) => {
        const ref = outcome(() => parseReference(input), `parseReference(${JSON.stringify(input)})`);
        if (ref === undefined) return;
        const again = parseReference(formatReference(ref));
        expect(again).toEqual(ref);
        expect(formatReference(ref).length).toBeLessThanOrEqual(255 + 1 + 128 + 1 + 71 + 1);
      }),
      runs(4000),
    );
  });

  it("never repeat a password written into a reference", () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9!$%&*+.=~-]{6,20}$/).map((s) => `S3cr${s}`);
    fc.assert(
      fc.property(fc.option(fc.constantFrom("https://", "http://", "oci://")), fc.stringMatching(/^[a-z]{1,8}$/), secret, edited(validReference), (scheme, user, password, rest) => {
        const input = `${scheme ?? ""}${user}:${password}@${rest}`;
        try {
          parseReference(input);
        } catch (err) {
          expect((err as Error).message).not.toContain(password);
          return;
        }
        throw new Error(`accepted a reference holding credentials: ${input}`);
      }),
      runs(2000),
    );
  });
});

// ---- digests ----

describe("digests", () => {
  const validDigest = fc.oneof(sha256Digest, fc.stringMatching(/^[0-9a-f]{128}$/).map((h) => `sha512:${h}`));
  it("parse only to names that stay one path component under blobs/, or fail with one clear error", () => {
    const root = path.resolve("/layout");
    fc.assert(
      fc.property(edited(validDigest), (input) => {
        const d = outcome(() => parseDigest(input), `parseDigest(${JSON.stringify(input)})`);
        if (d === undefined) return;
        const p = ImageLayout.prototype.blobPath.call({ dir: root } as ImageLayout, d);
        expect(path.dirname(path.dirname(p))).toBe(path.join(root, "blobs"));
        expect(path.basename(p)).toMatch(/^[0-9a-f]{64}$|^[0-9a-f]{128}$/);
      }),
      runs(3000),
    );
  });
});

// ---- manifests, indexes, configs ----

const layerMediaType = fc.constantFrom(MediaType.OciLayerGzip, "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+zstd");
const descriptor = fc.record(
  {
    mediaType: layerMediaType,
    digest: sha256Digest,
    size: fc.nat(),
    annotations: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 2 }),
    platform: fc.record({ os: fc.constantFrom("linux", "windows"), architecture: fc.constantFrom("amd64", "arm64"), variant: fc.constantFrom("v8", "v7") }, { requiredKeys: ["os", "architecture"] }),
  },
  { requiredKeys: ["mediaType", "digest", "size"] },
);
const imageManifest = fc.record(
  {
    schemaVersion: fc.constant(2),
    mediaType: fc.constantFrom(MediaType.OciImageManifest, "application/vnd.docker.distribution.manifest.v2+json"),
    config: descriptor.map((d) => ({ ...d, mediaType: MediaType.OciImageConfig })),
    layers: fc.array(descriptor, { maxLength: 4 }),
    subject: descriptor,
    annotations: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 2 }),
  },
  { requiredKeys: ["schemaVersion", "config", "layers"] },
);
const imageIndex = fc.record(
  {
    schemaVersion: fc.constant(2),
    mediaType: fc.constantFrom(MediaType.OciImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json"),
    manifests: fc.array(descriptor.map((d) => ({ ...d, mediaType: MediaType.OciImageManifest })), { maxLength: 4 }),
  },
  { requiredKeys: ["schemaVersion", "manifests"] },
);
const imageConfig = fc.record(
  {
    architecture: fc.constantFrom("amd64", "arm64", ""),
    os: fc.constantFrom("linux", ""),
    config: fc.record({ Env: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), Cmd: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), User: fc.string({ maxLength: 5 }) }, { requiredKeys: [] }),
    rootfs: fc.record({ type: fc.constant("layers"), diff_ids: fc.array(sha256Digest, { maxLength: 3 }) }),
    history: fc.array(fc.record({ created_by: fc.string({ maxLength: 10 }), empty_layer: fc.boolean() }, { requiredKeys: [] }), { maxLength: 2 }),
  },
  { requiredKeys: ["architecture", "os", "rootfs"] },
);
const declaredMediaType = fc.option(fc.oneof(fc.constantFrom(MediaType.OciImageManifest, MediaType.OciImageIndex, "application/json; charset=utf-8", ""), hostileString));

describe("manifests and indexes", () => {
  it("parse to a validated document whose digest names the bytes, or fail with one clear error", () => {
    const doc = mutatedJson(fc.oneof(imageManifest, imageIndex)).map(serialize);
    fc.assert(
      fc.property(damagedBytes(doc), declaredMediaType, (bytes, declared) => {
        const m = outcome(() => parseManifest(bytes, declared ?? undefined, "under test"), `parseManifest(${JSON.stringify(bytes.toString())})`);
        if (m === undefined) return;
        expect(m.bytes).toBe(bytes);
        if (m.kind === "image") for (const l of m.manifest.layers) expect(Number.isSafeInteger(l.size) && l.size >= 0).toBe(true);
        else for (const d of m.index.manifests) parseDigest(d.digest);
      }),
      runs(4000),
    );
  });
});

describe("image configs", () => {
  it("validate or give one line naming the field, never an exception", () => {
    const doc = mutatedJson(imageConfig).map(serialize);
    fc.assert(
      fc.property(damagedBytes(doc), (bytes) => {
        // The readers (verify, save, mutate, imagefs) all parse with JSON.parse then this schema.
        let json: unknown;
        try {
          json = JSON.parse(bytes.toString("utf8"));
        } catch {
          return;
        }
        const parsed = ImageConfigSchema.safeParse(json);
        if (parsed.success) {
          for (const d of parsed.data.rootfs.diff_ids) parseDigest(d);
        } else {
          const line = describeIssues(parsed.error);
          expect(line).not.toMatch(/\n/);
          expect(line.length).toBeLessThan(2000);
        }
      }),
      runs(3000),
    );
  });
});

