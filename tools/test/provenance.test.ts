/**
 * `ociutil provenance`: an in-toto Statement v1 with an SLSA Provenance v1 predicate, checked field by
 * field against the published shapes (in-toto/attestation spec/v1, slsa-framework/slsa
 * spec/build-provenance.md, purl-spec types/oci-definition.json), and accepted by cosign once attested.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestIndex, makeTempDir, mustRun, peer, removeTempDir, runOciutil, runTool, startRegistry, type BuiltIndex, type TestRegistry } from "./harness/index.js";

const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
let tmp: string;
let layout: string;
let index: BuiltIndex;
const STATIC = `sha256:${"a1".repeat(32)}`;
const DEBIAN = `sha256:${"b2".repeat(32)}`;
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

function description(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "registry.example/app",
    externalParameters: { target: "//app:image", attributes: { entrypoint: ["/app"], tars: ["//app:layer"] } },
    bases: [
      { repository: "gcr.io/distroless/static", digest: STATIC, tag: "nonroot", platform: "linux/amd64" },
      { repository: "localhost:5000/library/debian", digest: DEBIAN },
    ],
    source: { url: "https://github.com/example/app", revision: COMMIT, ref: "refs/heads/main" },
    builder: { version: { bazel: "7.4.1" } },
    ...overrides,
  };
}
async function provenance(name: string, desc: unknown, extra: string[] = ["--layout", layout]): Promise<{ text: string; json: any }> {
  const file = join(tmp, `${name}.build.json`);
  await writeFile(file, JSON.stringify(desc));
  const out = join(tmp, `${name}.provenance.json`);
  const r = await runOciutil(["provenance", "--build", file, ...extra, "-o", out]);
  if (r.code !== 0) throw new Error(`ociutil provenance exited ${r.code}: ${r.stderr}`);
  const text = await readFile(out, "utf8");
  return { text, json: JSON.parse(text) };
}
/** Every key of a JSON value, recursively, outside the given subtrees (user-supplied parameters). */
function keysOf(v: unknown, skip: Set<unknown>, out: string[] = []): string[] {
  if (skip.has(v) || v === null || typeof v !== "object") return out;
  if (Array.isArray(v)) v.forEach((x) => keysOf(x, skip, out));
  else for (const [k, x] of Object.entries(v)) out.push(k), keysOf(x, skip, out);
  return out;
}

beforeAll(async () => {
  tmp = await makeTempDir("provenance");
  layout = join(tmp, "layout");
  index = await buildTestIndex(layout, [
    { layers: [{ files: { a: "amd64" } }], platform: { os: "linux", architecture: "amd64" } },
    { layers: [{ files: { a: "arm64" } }], platform: { os: "linux", architecture: "arm64", variant: "v8" } },
  ]);
});
afterAll(async () => {
  await removeTempDir(tmp);
});

describe("provenance statement", () => {
  it("is an in-toto Statement v1 with an SLSA Provenance v1 predicate, field by field", async () => {
    const { json: st } = await provenance("full", description());
    // Statement v1: exactly these four fields.
    expect(Object.keys(st)).toEqual(["_type", "subject", "predicateType", "predicate"]);
    expect(st._type).toBe("https://in-toto.io/Statement/v1");
    expect(st.predicateType).toBe("https://slsa.dev/provenance/v1");
    // Subjects: the index and each of its images; DigestSet keys lowercase algorithm names, values lowercase hex.
    const hex = (d: string) => d.slice("sha256:".length);
    expect(st.subject).toEqual([
      { name: "registry.example/app", digest: { sha256: hex(index.indexDigest) } },
      { name: "linux/amd64", digest: { sha256: hex(index.images[0]!.manifestDigest) } },
      { name: "linux/arm64/v8", digest: { sha256: hex(index.images[1]!.manifestDigest) } },
    ]);
    for (const s of st.subject) for (const [alg, v] of Object.entries(s.digest)) expect(`${alg}:${v}`).toMatch(/^sha256:[0-9a-f]{64}$/);

    // Predicate: buildDefinition and runDetails, lowerCamelCase, no "_" outside extension fields.
    const p = st.predicate;
    expect(Object.keys(p)).toEqual(["buildDefinition", "runDetails"]);
    expect(Object.keys(p.buildDefinition)).toEqual(["buildType", "externalParameters", "resolvedDependencies"]);
    expect(p.buildDefinition.buildType).toMatch(/^https:\/\/\S+$/);
    expect(p.buildDefinition.externalParameters).toEqual({ target: "//app:image", attributes: { entrypoint: ["/app"], tars: ["//app:layer"] } });
    expect(keysOf(p, new Set([p.buildDefinition.externalParameters, p.runDetails.builder.version])).filter((k) => k.includes("_"))).toEqual([]);

    // resolvedDependencies: each base as a pkg:oci purl (name = last path segment, version = digest with ":" encoded,
    // repository_url = registry/repo) with digest.sha256 and the tag and platform asked for; then the source.
    expect(p.buildDefinition.resolvedDependencies).toEqual([
      {
        uri: `pkg:oci/static@sha256%3A${hex(STATIC)}?repository_url=gcr.io/distroless/static`,
        digest: { sha256: hex(STATIC) },
        annotations: { tag: "nonroot", platform: "linux/amd64" },
      },
      { uri: `pkg:oci/debian@sha256%3A${hex(DEBIAN)}?repository_url=localhost%3A5000/library/debian`, digest: { sha256: hex(DEBIAN) } },
      { uri: "git+https://github.com/example/app@refs/heads/main", digest: { gitCommit: COMMIT } },
    ]);

    // runDetails.builder: id a URI, version a map of strings (not a string), with our version in it.
    expect(Object.keys(p.runDetails)).toEqual(["builder"]); // no metadata, no times, unless stamped
    expect(p.runDetails.builder.id).toMatch(/^https:\/\/\S+$/);
    expect(p.runDetails.builder.version).toEqual({ rules_ociutil: pkg.version, bazel: "7.4.1" });
    expect(Object.values(p.runDetails.builder.version).every((v) => typeof v === "string")).toBe(true);
  });

  it("the same description gives the same bytes; stamped metadata appears only when given, as RFC 3339 UTC", async () => {
    const a = await provenance("same-a", description());
    const b = await provenance("same-b", description());
    expect(a.text).toBe(b.text);
    const metadata = { invocationId: "https://ci.example/runs/7", startedOn: "2026-11-30T22:00:00Z", finishedOn: "2026-11-30T22:01:02.5Z" };
    const stamped = await provenance("stamped", description({ metadata, builder: { id: "https://ci.example/builder", version: { bazel: "7.4.1" } } }));
    expect(stamped.json.predicate.runDetails).toEqual({
      builder: { id: "https://ci.example/builder", version: { rules_ociutil: pkg.version, bazel: "7.4.1" } },
      metadata,
    });
    for (const t of [metadata.startedOn, metadata.finishedOn]) expect(new Date(t).toISOString().replace(/\.\d+Z$/, "")).toBe(t.replace(/(\.\d+)?Z$/, ""));
  });

  it("re-pinning a base changes exactly that base's entry", async () => {
    const before = (await provenance("pin-a", description())).json;
    const bases = (description().bases as Array<Record<string, unknown>>).map((b, i) => (i === 0 ? { ...b, digest: `sha256:${"c3".repeat(32)}` } : b));
    const after = (await provenance("pin-b", description({ bases }))).json;
    const [x, y] = [before.predicate.buildDefinition.resolvedDependencies, after.predicate.buildDefinition.resolvedDependencies];
    expect(y[0]).toEqual({ uri: `pkg:oci/static@sha256%3A${"c3".repeat(32)}?repository_url=gcr.io/distroless/static`, digest: { sha256: "c3".repeat(32) }, annotations: { tag: "nonroot", platform: "linux/amd64" } });
    expect(y[0]).not.toEqual(x[0]);
    x[0] = y[0] = null;
    expect(after).toEqual(before);
  });

  it("subjects from the description when there is no layout", async () => {
    const digest = index.images[0]!.manifestDigest;
    const { json } = await provenance("subjects", description({ subjects: [{ name: "registry.example/app", digest }] }), []);
    expect(json.subject).toEqual([{ name: "registry.example/app", digest: { sha256: digest.slice(7) } }]);
  });

  it("subjects from a descriptor and the manifest's bytes (what a Bazel rule has): the same as from the layout", async () => {
    const descriptor = join(tmp, "index.descriptor.json");
    await writeFile(descriptor, JSON.stringify(index.indexDescriptor));
    const manifest = join(layout, "blobs", "sha256", index.indexDigest.slice(7));
    const fromLayout = await provenance("from-layout", description());
    const fromDescriptor = await provenance("from-descriptor", description(), ["--descriptor", descriptor, "--manifest", manifest]);
    expect(fromDescriptor.text).toBe(fromLayout.text);
    // Bytes that are not the descriptor's: refused, nothing written.
    const other = join(layout, "blobs", "sha256", index.images[0]!.manifestDigest.slice(7));
    await writeFile(join(tmp, "mismatch.build.json"), JSON.stringify(description()));
    const r = await runOciutil(["provenance", "--build", join(tmp, "mismatch.build.json"), "--descriptor", descriptor, "--manifest", other, "-o", join(tmp, "mismatch.json")]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/--manifest .* is sha256:[0-9a-f]{64}, not the sha256:[0-9a-f]{64} of --descriptor/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    await expect(readFile(join(tmp, "mismatch.json"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses a bad description with one line", async () => {
    const cases: Array<[unknown, string[], number, RegExp]> = [
      [description({ metadata: { startedOn: "2026-11-30 22:00" } }), ["--layout", layout], 1, /metadata\.startedOn: an RFC 3339 time in UTC/],
      [description({ bases: [{ repository: "gcr.io/x", digest: "sha256:abc" }] }), ["--layout", layout], 1, /bases\.0\.digest: a sha256:<64 hex> digest/],
      [description({ builder: { version: "1.0" } }), ["--layout", layout], 1, /builder\.version/],
      [description({ extra: 1 }), ["--layout", layout], 1, /extra/],
      [description({ subjects: [{ digest: index.indexDigest }] }), ["--layout", layout], 2, /subjects come from one of --layout, --descriptor or the description; got --layout and the subjects it lists/],
      [description(), [], 2, /lists no subjects/],
      [description(), ["--layout", layout, "--descriptor", "d.json", "--manifest", "m.json"], 2, /subjects come from one of --layout, --descriptor/],
      [description(), ["--descriptor", "d.json"], 2, /--descriptor and --manifest go together/],
    ];
    for (const [desc, extra, code, pattern] of cases) {
      const file = join(tmp, "bad.build.json");
      await writeFile(file, JSON.stringify(desc));
      const r = await runOciutil(["provenance", "--build", file, ...extra, "-o", join(tmp, "bad.provenance.json")]);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
    await expect(readFile(join(tmp, "bad.provenance.json"))).rejects.toThrow(/ENOENT/);
  });
});

describe("provenance, attested", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("cosign verify-attestation --type slsaprovenance1 accepts it and returns it byte for byte", async () => {
    const repo = `${registry.host}/prov/app`;
    const push = await runOciutil(["push", "--insecure", layout, `${repo}:v1`]);
    expect(push.code, push.stderr).toBe(0);
    const { text } = await provenance("attested", description({ name: repo }));
    await mustRun(peer("openssl"), ["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "key.pem"], { cwd: tmp });
    await mustRun(peer("openssl"), ["ec", "-in", "key.pem", "-pubout", "-out", "key.pub"], { cwd: tmp });
    const attest = await runOciutil(["attest", "--insecure", `${repo}:v1`, "--statement", join(tmp, "attested.provenance.json"), "--key", join(tmp, "key.pem")]);
    expect(attest.code, attest.stderr).toBe(0);
    for (const digest of [index.indexDigest, index.images[1]!.manifestDigest]) {
      // The index carries the referrer; its images are subjects too, but nothing is attached to them.
      const v = await runTool(
        peer("cosign"),
        ["verify-attestation", "--key", "key.pub", "--type", "slsaprovenance1", "--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry", `${repo}@${digest}`],
        { cwd: tmp, env: { HOME: tmp }, timeoutMs: 120_000 },
      );
      if (digest === index.indexDigest) {
        expect(v.code, v.stderr).toBe(0);
        expect(Buffer.from(JSON.parse(v.stdout.trim().split("\n")[0]!).payload, "base64").toString("utf8")).toBe(text);
      } else {
        expect(v.code).not.toBe(0);
      }
    }
  });
});
