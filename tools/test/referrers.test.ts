/**
 * OCI 1.1 referrers against distribution 2.8 (no referrers API: the `sha256-<hex>` tag index), read by
 * oras; and `ociutil copy` carrying referrers made by oras and cosign, and cosign's `.sig` tags, to
 * another registry, where oras lists them and cosign still verifies them.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../ociutil/name/reference.js";
import { attach } from "../ociutil/ops/attach.js";
import { RegistryClient } from "../ociutil/remote/client.js";
import { listReferrers, referrersTag } from "../ociutil/remote/referrers.js";
import { buildTestImage, buildTestIndex, makeTempDir, mustRun, peer, removeTempDir, runOciutil, mustRunOciutil, runTool, startRegistry, type BuiltIndex, type TestRegistry } from "./harness/index.js";

let registry: TestRegistry;
let other: TestRegistry;
let tmp: string;

beforeAll(async () => {
  registry = await startRegistry();
  other = await startRegistry();
  tmp = await makeTempDir("referrers");
});
afterAll(async () => {
  await registry?.stop();
  await other?.stop();
  await removeTempDir(tmp);
});

async function ociutil(...args: string[]): Promise<string> {
  return (await mustRunOciutil(args, { env: { BUILDER_OUTPUT: undefined } })).stdout.trim();
}
const crane = (...args: string[]) => mustRun(peer("crane"), [...args, "--insecure"]);
/** `oras discover`: the referrers oras sees (it reads the API, else the referrers tag). */
async function discover(ref: string): Promise<Array<{ digest: string; artifactType: string; annotations?: Record<string, string> }>> {
  const out = await mustRun(peer("oras"), ["discover", "--plain-http", "--format", "json", ref]);
  return JSON.parse(out.stdout).referrers;
}
/** cosign, offline: no transparency log, no signing config, plain HTTP (see shared notes). */
function cosign(args: string[], cwd: string) {
  return runTool(peer("cosign"), args, { cwd, env: { COSIGN_PASSWORD: "", HOME: cwd }, timeoutMs: 120_000 });
}
const OFFLINE = ["--allow-insecure-registry", "--allow-http-registry"];

describe("attach", () => {
  it("pushes a referrer oras discover lists, keeping what oras attached before", async () => {
    const dir = join(tmp, "attach");
    const img = await buildTestImage(join(dir, "layout"), { layers: [{ files: { a: "a\n" } }] });
    const repo = `${registry.host}/ref/attach`;
    await ociutil("push", "--insecure", join(dir, "layout"), `${repo}:v1`);
    await writeFile(join(dir, "note.txt"), "by oras\n");
    await mustRun(peer("oras"), ["attach", "--plain-http", "--artifact-type", "application/vnd.test.oras", `${repo}@${img.manifestDigest}`, "note.txt:text/plain"], { cwd: dir });
    const [byOras] = await discover(`${repo}@${img.manifestDigest}`);
    expect(byOras?.artifactType).toBe("application/vnd.test.oras");

    const client = new RegistryClient({ plainHttp: true });
    const remote = client.repository(parseReference(repo), "push");
    const subject = await remote.getManifest(img.manifestDigest);
    const { manifest, via } = await attach(remote, { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length }, {
      artifactType: "application/vnd.test.ours",
      layers: [{ mediaType: "application/json", bytes: Buffer.from('{"hello":"world"}') }],
      annotations: { "org.example.note": "ours" },
    });
    expect(via).toBe("tag"); // distribution 2.8 has no referrers API

    const listed = await discover(`${repo}@${img.manifestDigest}`);
    expect(listed.map((r) => r.digest)).toEqual([byOras!.digest, manifest.digest]);
    expect(listed[1]).toMatchObject({ artifactType: "application/vnd.test.ours", annotations: { "org.example.note": "ours" } });
    // The referrer is what we said: subject, empty config, our layer.
    const pushed = JSON.parse((await crane("manifest", `${repo}@${manifest.digest}`)).stdout);
    expect(pushed.subject).toEqual({ mediaType: subject.mediaType, digest: img.manifestDigest, size: subject.bytes.length });
    expect(pushed.config.mediaType).toBe("application/vnd.oci.empty.v1+json");
    expect((await crane("blob", `${repo}@${pushed.layers[0].digest}`)).stdout).toBe('{"hello":"world"}');

    // Attaching again changes nothing; our own listing agrees with oras.
    await attach(remote, { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length }, {
      artifactType: "application/vnd.test.ours",
      layers: [{ mediaType: "application/json", bytes: Buffer.from('{"hello":"world"}') }],
      annotations: { "org.example.note": "ours" },
    });
    const ours = await listReferrers(remote, img.manifestDigest as never);
    expect(ours.via).toBe("tag");
    expect(ours.descriptors.map((d) => d.digest)).toEqual([byOras!.digest, manifest.digest]);
  });
});

describe("copy carries referrers and cosign tags", () => {
  let index: BuiltIndex;
  let dir: string;
  const srcRepo = () => `${registry.host}/ref/app`;
  const dstRepo = () => `${other.host}/prod/app`;

  beforeAll(async () => {
    dir = join(tmp, "copy");
    index = await buildTestIndex(join(dir, "layout"), [
      { layers: [{ files: { a: "amd64\n" } }], platform: { os: "linux", architecture: "amd64" } },
      { layers: [{ files: { a: "arm64\n" } }], platform: { os: "linux", architecture: "arm64" } },
    ]);
    await ociutil("push", "--insecure", join(dir, "layout"), `${srcRepo()}:v1`);
    await writeFile(join(dir, "sbom.json"), '{"sbom":true}\n');
    await mustRun(peer("oras"), ["attach", "--plain-http", "--artifact-type", "application/vnd.test.sbom", `${srcRepo()}@${index.indexDigest}`, "sbom.json:application/json"], { cwd: dir });
    const child = index.images[0]!.manifestDigest;
    await mustRun(peer("oras"), ["attach", "--plain-http", "--artifact-type", "application/vnd.test.child", `${srcRepo()}@${child}`, "sbom.json:application/json"], { cwd: dir });

    await mkdir(join(dir, "keys"));
    const keys = join(dir, "keys");
    expect((await cosign(["generate-key-pair"], keys)).code).toBe(0);
    // Legacy signature tag sha256-<hex>.sig, and a cosign 3 attestation (a Sigstore bundle referrer).
    const sign = await cosign(["sign", "--yes", "--key", "cosign.key", "--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false", ...OFFLINE, `${srcRepo()}@${index.indexDigest}`], keys);
    expect(sign.code, sign.stderr).toBe(0);
    await writeFile(join(keys, "pred.json"), JSON.stringify({ buildDefinition: { buildType: "https://example.com/t", externalParameters: {} }, runDetails: { builder: { id: "https://example.com/b" } } }));
    const attest = await cosign(
      ["attest", "--yes", "--key", "cosign.key", "--type", "slsaprovenance1", "--predicate", "pred.json", "--use-signing-config=false", "--tlog-upload=false", ...OFFLINE, `${srcRepo()}@${index.indexDigest}`],
      keys,
    );
    expect(attest.code, attest.stderr).toBe(0);
  });

  it("copies each referrer and cosign tag byte for byte; oras lists them and cosign verifies at the destination", async () => {
    const srcIndexReferrers = await discover(`${srcRepo()}@${index.indexDigest}`);
    // cosign 3.1.1 writes its bundle's entry in the referrers tag without the manifest's annotations
    // and with the config's type (the go-containerregistry bug of cosign#4641): the copy lists it as
    // the manifest says, below.
    expect(srcIndexReferrers.map((r) => r.artifactType).sort()).toEqual(["application/vnd.oci.empty.v1+json", "application/vnd.test.sbom"]);
    const child = index.images[0]!.manifestDigest;
    const srcChildReferrers = await discover(`${srcRepo()}@${child}`);
    const sigTag = `${referrersTag(index.indexDigest as never)}.sig`;
    const srcSig = (await crane("digest", `${srcRepo()}:${sigTag}`)).stdout.trim();

    const json = JSON.parse(await ociutil("copy", "--insecure", `${srcRepo()}:v1`, `${dstRepo()}:v1`, "--json"));
    expect(json.referrers.cosignTags).toEqual([sigTag]);
    expect(json.referrers.referrers).toHaveLength(3);

    const dstIndexReferrers = await discover(`${dstRepo()}@${index.indexDigest}`);
    expect(dstIndexReferrers.map((r) => r.digest).sort()).toEqual(srcIndexReferrers.map((r) => r.digest).sort());
    // At the destination the bundle is listed with its manifest's artifactType and annotations.
    const bundle = dstIndexReferrers.find((r) => r.artifactType === "application/vnd.dev.sigstore.bundle.v0.3+json");
    expect(bundle?.annotations?.["dev.sigstore.bundle.predicateType"]).toBe("https://slsa.dev/provenance/v1");
    expect((await discover(`${dstRepo()}@${child}`)).map((r) => r.digest)).toEqual(srcChildReferrers.map((r) => r.digest));
    expect((await crane("digest", `${dstRepo()}:${sigTag}`)).stdout.trim()).toBe(srcSig);

    const keys = join(dir, "keys");
    const verify = await cosign(["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", ...OFFLINE, `${dstRepo()}@${index.indexDigest}`], keys);
    expect(verify.code, verify.stderr).toBe(0);
    const verifyAtt = await cosign(
      ["verify-attestation", "--key", "cosign.pub", "--type", "slsaprovenance1", "--insecure-ignore-tlog=true", ...OFFLINE, `${dstRepo()}@${index.indexDigest}`],
      keys,
    );
    expect(verifyAtt.code, verifyAtt.stderr).toBe(0);
  });

  it("a referrer the source lists but no longer has (a stale referrers tag) is reported, not fatal", async () => {
    const repo = `${registry.host}/ref/stale`;
    const img = await buildTestImage(join(dir, "stale"), { layers: [{ files: { s: "stale\n" } }] });
    await ociutil("push", "--insecure", join(dir, "stale"), `${repo}:v1`);
    await writeFile(join(dir, "gone.txt"), "gone\n");
    await mustRun(peer("oras"), ["attach", "--plain-http", "--artifact-type", "application/vnd.test.gone", `${repo}@${img.manifestDigest}`, "gone.txt:text/plain"], { cwd: dir });
    const [gone] = await discover(`${repo}@${img.manifestDigest}`);
    await crane("delete", `${repo}@${gone!.digest}`); // the referrers tag still lists it
    const json = JSON.parse(await ociutil("copy", "--insecure", `${repo}:v1`, `${other.host}/prod/stale:v1`, "--json"));
    expect(json.digest).toBe(img.manifestDigest);
    expect(json.referrers).toEqual({ referrers: [], cosignTags: [], missing: [gone!.digest] });
    expect(await discover(`${other.host}/prod/stale@${img.manifestDigest}`)).toEqual([]);
  });

  it("--no-referrers copies the image alone", async () => {
    const dst = `${other.host}/prod/bare`;
    await ociutil("copy", "--insecure", "--no-referrers", `${srcRepo()}:v1`, `${dst}:v1`);
    expect(await discover(`${dst}@${index.indexDigest}`)).toEqual([]);
    const tags = (await crane("ls", dst)).stdout.trim().split("\n");
    expect(tags).toEqual(["v1"]);
  });
});
