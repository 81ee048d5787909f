/**
 * Provenance under the real Bazel 7 (issue 10), against a real registry on 127.0.0.1 and the real
 * oras, cosign and crane: e2e/provenance pulls a base by tag and digest, builds an image and an index,
 * and pushes them with `attest = True`.
 * - the pull records what it resolved (resolved.json; the provenance's resolvedDependencies);
 * - `--output_groups=+provenance` makes `<name>_/provenance.json` (only when asked), an in-toto
 *   Statement v1 / SLSA Provenance v1 about the built digests; `<name>.digest` is rules_oci's file;
 * - `bazel run :push` attaches it as a referrer oras lists, and cosign verifies the signed one;
 * - re-pinning the base changes exactly the base entries of the provenance;
 * - OCI annotations and labels from attributes, and stamping: `{{KEY}}` values reach tags, labels,
 *   annotations, `created` and the provenance's source with --stamp; unstamped, they are left out
 *   and a rebuild is a full (disk) cache hit with the digest of before.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../ociutil/name/reference.js";
import { attach } from "../ociutil/ops/attach.js";
import { RegistryClient } from "../ociutil/remote/client.js";
import {
  BazelWorkspace,
  MountedCheckout,
  REPO_ROOT,
  buildTestIndex,
  makeTempDir,
  mustRun,
  peer,
  pushWithCrane,
  removeTempDir,
  runTool,
  startRegistry,
  type TestRegistry,
} from "./harness/index.js";

const checkout = new MountedCheckout();
const HOST_WS = join(REPO_ROOT, "e2e", "provenance");
const ws = new BazelWorkspace(checkout, `${checkout.src}/e2e/provenance`);
const pkg = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
const OFFLINE = ["--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry"];

let registry: TestRegistry;
let tmp: string;
/** The base index as first pinned, and its platforms' digests. */
let baseIndex: string;
let baseAmd64: string;
let baseArm64: string;

const crane = async (...args: string[]): Promise<string> => (await mustRun(peer("crane"), [...args, "--insecure"])).stdout.trim();

/** Pushes a two-platform base to prov/base:v1 and returns the index digest and its platforms'. */
async function seedBase(name: string, content: string): Promise<{ index: string; amd64: string; arm64: string }> {
  const layout = join(tmp, name);
  const built = await buildTestIndex(layout, [
    { platform: { os: "linux", architecture: "amd64" }, layers: [{ files: { "etc/base.txt": `${content} amd64\n` } }] },
    { platform: { os: "linux", architecture: "arm64" }, layers: [{ files: { "etc/base.txt": `${content} arm64\n` } }] },
  ]);
  const index = await pushWithCrane(layout, `${registry.host}/prov/base:v1`);
  expect(index).toBe(built.indexDigest);
  const doc = JSON.parse(await crane("manifest", `${registry.host}/prov/base@${index}`)) as { manifests: { digest: string; platform: { architecture: string } }[] };
  const of = (arch: string) => doc.manifests.find((m) => m.platform.architecture === arch)!.digest;
  return { index, amd64: of("amd64"), arm64: of("arm64") };
}

async function pin(index: string): Promise<void> {
  await writeFile(
    join(HOST_WS, "pulls.MODULE.bazel"),
    [
      "# Written by tools/test/e2e-provenance.test.ts: the test registry, the tag and the digest it seeded.",
      'oci = use_extension("@rules_ociutil//oci:extensions.bzl", "oci")',
      `oci.pull(name = "base", image = "${registry.host}/prov/base:v1", digest = "${index}", platforms = ["linux/amd64", "linux/arm64"])`,
      'use_repo(oci, "base", "base_linux_arm64")',
      "",
    ].join("\n"),
  );
}

type Statement = {
  _type: string;
  subject: { name?: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate: {
    buildDefinition: { buildType: string; externalParameters: { target: string; attributes: Record<string, unknown> }; resolvedDependencies: Record<string, unknown>[] };
    runDetails: Record<string, unknown> & { builder: { id: string; version: Record<string, string> } };
  };
};
const hex = (d: string) => d.slice("sha256:".length);
const baseEntry = (digest: string, platform: string) => ({
  // purl-spec: ":" in a qualifier's value is percent-encoded, "/" is not.
  uri: `pkg:oci/base@sha256%3A${hex(digest)}?repository_url=${registry.host.replace(":", "%3A")}/prov/base`,
  digest: { sha256: hex(digest) },
  annotations: { tag: "v1", platform },
});

beforeAll(async () => {
  await checkout.mount();
  registry = await startRegistry();
  tmp = await makeTempDir("e2e-provenance");
  ({ index: baseIndex, amd64: baseAmd64, arm64: baseArm64 } = await seedBase("base", "first base"));
  await pin(baseIndex);
  // An ECDSA P-256 key as openssl makes it (attest_key of //:push), and its public half for cosign.
  const openssl = (...args: string[]) => mustRun(peer("openssl"), args, { cwd: tmp });
  await openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", join(HOST_WS, "key.pem"));
  await openssl("ec", "-in", join(HOST_WS, "key.pem"), "-pubout", "-out", "key.pub");
  await ws.bazel("clean --expunge");
}, 600_000);

afterAll(async () => {
  await ws.bazel("shutdown").catch(() => undefined);
  await registry?.stop();
  if (tmp) await removeTempDir(tmp);
  checkout.unmount();
});

describe("provenance under Bazel", () => {
  it("a plain build makes <name>.digest but no provenance; the output group makes it", async () => {
    await ws.mustBazel("build //:app //:idx");
    await ws.info();
    for (const name of ["app", "idx"]) {
      const { digest } = await ws.json<{ digest: string }>(`${name}_/descriptor.json`);
      expect(await readFile(ws.bin(`${name}.digest`), "utf8")).toBe(digest);
      expect(existsSync(ws.bin(`${name}_/provenance.json`)), `${name}_/provenance.json after a plain build`).toBe(false);
    }
    await ws.mustBazel("build //:app //:idx --output_groups=+provenance");
    expect(existsSync(ws.bin("app_/provenance.json"))).toBe(true);
  });

  it("each pull records what it resolved: the reference as written, registry/repo@digest, each platform's digest", async () => {
    const resolved = JSON.parse(await readFile(join(ws.externalRepo("base"), "resolved.json"), "utf8"));
    expect(resolved).toEqual({
      reference: `${registry.host}/prov/base:v1@${baseIndex}`,
      resolved: `${registry.host}/prov/base@${baseIndex}`,
      tag: "v1",
      platforms: { "linux/amd64": baseAmd64, "linux/arm64": baseArm64 },
    });
  });

  it("an image's provenance: the built digest, the target and its attributes, the pulled base, our builder", async () => {
    const st = await ws.json<Statement>("app_/provenance.json");
    const { digest } = await ws.json<{ digest: string }>("app_/descriptor.json");
    expect(st._type).toBe("https://in-toto.io/Statement/v1");
    expect(st.predicateType).toBe("https://slsa.dev/provenance/v1");
    expect(st.subject).toEqual([{ name: "//:app", digest: { sha256: hex(digest) } }]);
    expect(st.predicate.buildDefinition.buildType).toBe("https://github.com/rules-ociutil/rules_ociutil/blob/main/docs/provenance.md#build-type-v1");
    expect(st.predicate.buildDefinition.externalParameters).toEqual({
      target: "//:app",
      attributes: {
        base: "@base//:linux_amd64",
        layers: ["//:app_layer"],
        entrypoint: ["/app/hello.txt"],
        labels: { "org.opencontainers.image.source": "https://github.com/example/app", "org.opencontainers.image.description": "the provenance e2e image" },
      },
    });
    expect(st.predicate.buildDefinition.resolvedDependencies).toEqual([baseEntry(baseAmd64, "linux/amd64")]);
    // No clock and no host: runDetails is the builder alone; the ruleset's version is a map entry.
    expect(st.predicate.runDetails).toEqual({ builder: { id: "https://bazel.build/", version: { rules_ociutil: pkg.version } } });
  });

  it("an index's provenance: the index and each image, and both images' bases", async () => {
    const st = await ws.json<Statement>("idx_/provenance.json");
    const { digest } = await ws.json<{ digest: string }>("idx_/descriptor.json");
    const amd = await ws.json<{ digest: string }>("app_/descriptor.json");
    const arm = await ws.json<{ digest: string }>("app_arm64_/descriptor.json");
    expect(st.subject).toEqual([
      { name: "//:idx", digest: { sha256: hex(digest) } },
      { name: "linux/amd64", digest: { sha256: hex(amd.digest) } },
      { name: "linux/arm64", digest: { sha256: hex(arm.digest) } },
    ]);
    expect(st.predicate.buildDefinition.externalParameters.attributes).toEqual({
      images: ["//:app", "//:app_arm64"],
      annotations: { "org.opencontainers.image.description": "the provenance e2e index" },
    });
    expect(st.predicate.buildDefinition.resolvedDependencies).toEqual([baseEntry(baseAmd64, "linux/amd64"), baseEntry(baseArm64, "linux/arm64")]);
  });

  it("builder.id comes from --@rules_ociutil//oci:builder_id", async () => {
    await ws.mustBazel("build //:app --output_groups=+provenance --@rules_ociutil//oci:builder_id=https://ci.example/builders/bazel");
    const st = await ws.json<Statement>("app_/provenance.json");
    expect(st.predicate.runDetails.builder).toEqual({ id: "https://ci.example/builders/bazel", version: { rules_ociutil: pkg.version } });
  });

  it("bazel run of a push with attest = True: oras lists the attestation, cosign verifies it, it is the built provenance", async () => {
    const repo = `${registry.host}/prov/app`;
    const refs = "/tmp/e2e-provenance-refs.txt";
    const r = await ws.bazel(`run //:push -- --image-refs ${refs}`, `OCI_PUSH_REPOSITORY=${repo}`);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const { digest } = await ws.json<{ digest: string }>("app_/descriptor.json");
    expect(r.stdout.trim()).toBe(`${repo}@${digest}`);
    // Records flags after `--` reach ociutil push.
    expect(await readFile(checkout.host(refs), "utf8")).toBe(`${repo}@${digest}\n`);

    const discovered = JSON.parse((await mustRun(peer("oras"), ["discover", "--plain-http", "--format", "json", `${repo}@${digest}`])).stdout) as {
      referrers: { artifactType: string; annotations?: Record<string, string> }[];
    };
    expect(discovered.referrers).toHaveLength(1);
    expect(discovered.referrers[0]!.artifactType).toBe("application/vnd.dev.sigstore.bundle.v0.3+json");
    expect(discovered.referrers[0]!.annotations?.["dev.sigstore.bundle.predicateType"]).toBe("https://slsa.dev/provenance/v1");

    const v = await runTool(peer("cosign"), ["verify-attestation", "--key", "key.pub", "--type", "slsaprovenance1", ...OFFLINE, `${repo}@${digest}`], {
      cwd: tmp,
      env: { HOME: tmp },
      timeoutMs: 120_000,
    });
    expect(v.code, v.stderr).toBe(0);
    const envelope = JSON.parse(v.stdout.trim().split("\n")[0]!) as { payload: string };
    const built = await readFile(ws.bin("app_/provenance.json"), "utf8");
    expect(Buffer.from(envelope.payload, "base64").toString("utf8")).toBe(built);

    const config = JSON.parse(await crane("config", `${repo}@${digest}`)) as { config: { Labels: Record<string, string> } };
    expect(config.config.Labels).toMatchObject({ "org.opencontainers.image.source": "https://github.com/example/app" });
  });

  it("the attestation with one byte of its statement changed: cosign rejects it", async () => {
    const good = `${registry.host}/prov/app`;
    const repo = `${registry.host}/prov/tampered`;
    const { digest } = await ws.json<{ digest: string }>("app_/descriptor.json");
    await crane("copy", `${good}@${digest}`, `${repo}@${digest}`); // the image alone: crane copies no referrers
    const listed = JSON.parse((await mustRun(peer("oras"), ["discover", "--plain-http", "--format", "json", `${good}@${digest}`])).stdout) as {
      referrers: { digest: string }[];
    };
    const manifest = JSON.parse(await crane("manifest", `${good}@${listed.referrers[0]!.digest}`)) as {
      artifactType: string;
      annotations: Record<string, string>;
      layers: { mediaType: string; digest: string }[];
    };
    const bundle = JSON.parse(await crane("blob", `${good}@${manifest.layers[0]!.digest}`)) as { dsseEnvelope: { payload: string } };
    const statement = Buffer.from(bundle.dsseEnvelope.payload, "base64");
    const at = statement.indexOf('"target": "//:app"');
    expect(at).toBeGreaterThan(0);
    statement[at + 14] = "b".charCodeAt(0); // "//:bpp": still JSON, still the same subject
    const tampered = { ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: statement.toString("base64") } };
    const remote = new RegistryClient({ plainHttp: true }).repository(parseReference(repo), "push");
    const subject = await remote.getManifest(digest as `sha256:${string}`);
    await attach(remote, { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length }, {
      artifactType: manifest.artifactType,
      layers: [{ mediaType: manifest.layers[0]!.mediaType, bytes: Buffer.from(JSON.stringify(tampered)) }],
      annotations: manifest.annotations,
    });
    const verify = (ref: string) =>
      runTool(peer("cosign"), ["verify-attestation", "--key", "key.pub", "--type", "slsaprovenance1", ...OFFLINE, ref], { cwd: tmp, env: { HOME: tmp }, timeoutMs: 120_000 });
    const v = await verify(`${repo}@${digest}`);
    expect(v.code).not.toBe(0);
    expect(v.stderr).toMatch(/failed to verify signature/);
    expect((await verify(`${good}@${digest}`)).code).toBe(0);
  });

  it("an unsigned attestation of an index: oras lists it and its layer is the built provenance, byte for byte", async () => {
    const repo = `${registry.host}/prov/idx`;
    await rm(join(HOST_WS, "idx-refs.txt"), { force: true });
    await rm(join(HOST_WS, "tekton-results"), { recursive: true, force: true });
    await mkdir(join(HOST_WS, "tekton-results"));
    const r = await ws.bazel("run //:idx_push", `OCI_PUSH_REPOSITORY=${repo}`);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const { digest } = await ws.json<{ digest: string }>("idx_/descriptor.json");
    // The image_refs and tekton_results attributes: written where `bazel run` started, the index first.
    const images = (JSON.parse(await readFile(ws.bin("idx_/index.json"), "utf8")) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest);
    expect(await readFile(join(HOST_WS, "idx-refs.txt"), "utf8")).toBe([digest, ...images].map((d) => `${repo}@${d}\n`).join(""));
    expect(await readFile(join(HOST_WS, "tekton-results", "IMAGE_DIGEST"), "utf8")).toBe(digest);
    expect(await readFile(join(HOST_WS, "tekton-results", "IMAGE_URL"), "utf8")).toBe(repo);
    await rm(join(HOST_WS, "idx-refs.txt"), { force: true });
    await rm(join(HOST_WS, "tekton-results"), { recursive: true, force: true });
    const discovered = JSON.parse((await mustRun(peer("oras"), ["discover", "--plain-http", "--format", "json", `${repo}@${digest}`])).stdout) as {
      referrers: { digest: string; artifactType: string }[];
    };
    expect(discovered.referrers.map((x) => x.artifactType)).toEqual(["application/vnd.in-toto+json"]);
    const manifest = JSON.parse(await crane("manifest", `${repo}@${discovered.referrers[0]!.digest}`)) as { layers: { digest: string }[] };
    const statement = await crane("blob", `${repo}@${manifest.layers[0]!.digest}`);
    expect(`${statement}\n`).toBe(await readFile(ws.bin("idx_/provenance.json"), "utf8"));
  });

  it("re-pinning the base changes exactly the base entries of the provenance", async () => {
    const before = await ws.json<Statement>("idx_/provenance.json");
    const second = await seedBase("base2", "second base");
    await pin(second.index);
    try {
      await ws.mustBazel("build //:idx --output_groups=+provenance");
      const after = await ws.json<Statement>("idx_/provenance.json");
      expect(after.predicate.buildDefinition.resolvedDependencies).toEqual([baseEntry(second.amd64, "linux/amd64"), baseEntry(second.arm64, "linux/arm64")]);
      // Everything else is the same, but the subjects' digests (new bases make new images).
      const strip = (s: Statement) => ({
        ...s,
        subject: s.subject.map((x) => x.name),
        predicate: { ...s.predicate, buildDefinition: { ...s.predicate.buildDefinition, resolvedDependencies: [] } },
      });
      expect(strip(after)).toEqual(strip(before));
      expect(after.subject[0]!.digest).not.toEqual(before.subject[0]!.digest);
    } finally {
      await pin(baseIndex);
    }
  });
});

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
/** A disk cache of its own, so that "a full cache hit" is observable across a stamped build. */
const DISK_CACHE = "--disk_cache=/root/.cache/rules_ociutil-e2e-provenance-disk";
const stampFlags = () => `--stamp --workspace_status_command=${ws.dir}/status.sh`;
type Config = { created: string; config: { Labels?: Record<string, string> } };
type Manifest = { annotations?: Record<string, string> };
const OCI = "org.opencontainers.image";
/** The label every harness-built image has (so the base's labels are kept under ours). */
const FIXTURE = { "org.example.fixture": "ociutil-test" };

describe("annotations, labels and stamping", () => {
  let unstampedDigest: string;

  it("unstamped: the attributes' OCI keys without a stamp value are set, those that need one are left out", async () => {
    await ws.mustBazel(`build //:stamped //:stamped_idx //:stamped_push --output_groups=+provenance ${DISK_CACHE}`);
    await ws.info(); // this describe also runs alone (-t stamp)
    const config = await ws.json<Config>("stamped_/config.json");
    // The base's label (the harness's fixture), then the attributes' keys that need no stamp value.
    expect(config.config.Labels).toEqual({ ...FIXTURE, [`${OCI}.source`]: "https://github.com/example/app", [`${OCI}.description`]: "a stamped image" });
    expect(config.created).toBe("1970-01-01T00:00:00Z");
    const manifest = await ws.json<Manifest>("stamped_/manifest.json");
    expect(manifest.annotations).toEqual({
      [`${OCI}.base.digest`]: baseAmd64,
      [`${OCI}.base.name`]: expect.stringContaining(`${registry.host}/prov/base`),
      [`${OCI}.source`]: "https://github.com/example/app",
      [`${OCI}.description`]: "a stamped image",
    });
    const index = await ws.json<Manifest>("stamped_idx_/index.json");
    expect(index.annotations).toEqual({ [`${OCI}.source`]: "https://github.com/example/app", [`${OCI}.description`]: "a stamped index" });
    // The ruleset's version is in the provenance only, never in the image.
    for (const f of ["stamped_/config.json", "stamped_/manifest.json", "stamped_idx_/index.json"]) {
      expect(await readFile(ws.bin(f), "utf8"), f).not.toContain(pkg.version);
    }
    const st = await ws.json<Statement>("stamped_/provenance.json");
    expect(st.predicate.runDetails.builder.version).toEqual({ rules_ociutil: pkg.version });
    expect(st.predicate.buildDefinition.resolvedDependencies).toEqual([baseEntry(baseAmd64, "linux/amd64")]); // no source: its revision needs a stamp
    unstampedDigest = (await ws.json<{ digest: string }>("stamped_/descriptor.json")).digest;
  });

  it("--stamp: the status values reach labels, annotations, created, the provenance's source and the pushed tags", async () => {
    await ws.mustBazel(`build //:stamped //:stamped_idx --output_groups=+provenance ${DISK_CACHE} ${stampFlags()}`);
    const config = await ws.json<Config>("stamped_/config.json");
    expect(config.config.Labels).toEqual({
      ...FIXTURE,
      [`${OCI}.source`]: "https://github.com/example/app",
      [`${OCI}.description`]: "a stamped image",
      [`${OCI}.revision`]: COMMIT,
      [`${OCI}.version`]: "1.2.3",
      "build.channel": "beta",
    });
    // BUILD_TIMESTAMP (seconds since the epoch) as RFC 3339 in UTC, within this test's run.
    expect(config.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Math.abs(Date.parse(config.created) - Date.now())).toBeLessThan(3_600_000);
    const manifest = await ws.json<Manifest>("stamped_/manifest.json");
    expect(manifest.annotations).toMatchObject({ [`${OCI}.revision`]: COMMIT, [`${OCI}.version`]: "1.2.3", [`${OCI}.created`]: config.created });
    const index = await ws.json<Manifest>("stamped_idx_/index.json");
    expect(index.annotations).toEqual({
      [`${OCI}.source`]: "https://github.com/example/app",
      [`${OCI}.version`]: "1.2.3",
      [`${OCI}.description`]: "a stamped index",
    });
    const st = await ws.json<Statement>("stamped_/provenance.json");
    expect(st.predicate.buildDefinition.resolvedDependencies).toEqual([
      baseEntry(baseAmd64, "linux/amd64"),
      { uri: "git+https://github.com/example/app", digest: { gitCommit: COMMIT } },
    ]);
    // Stamped: the build's start (BUILD_TIMESTAMP) as RFC 3339 UTC, the image's `created` (same key).
    expect(st.predicate.runDetails.metadata).toEqual({ startedOn: config.created });
    // The attributes as written, placeholders and all.
    expect(st.predicate.buildDefinition.externalParameters.attributes).toMatchObject({ revision: "{{STABLE_GIT_COMMIT}}", created: "{{BUILD_TIMESTAMP}}" });
    const stampedDigest = (await ws.json<{ digest: string }>("stamped_/descriptor.json")).digest;
    expect(stampedDigest).not.toBe(unstampedDigest);

    const repo = `${registry.host}/prov/stamped`;
    const r = await ws.bazel(`run ${DISK_CACHE} ${stampFlags()} //:stamped_push`, `OCI_PUSH_REPOSITORY=${repo}`);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout.trim()).toBe(`${repo}@${stampedDigest}`);
    expect((await crane("ls", repo)).split("\n").sort()).toEqual(["1.2.3", "latest"]);
    const pushed = JSON.parse(await crane("config", `${repo}:1.2.3`)) as Config;
    expect(pushed.config.Labels).toMatchObject({ [`${OCI}.version`]: "1.2.3", "build.channel": "beta" });
    const pushedManifest = JSON.parse(await crane("manifest", `${repo}:1.2.3`)) as Manifest;
    expect(pushedManifest.annotations).toMatchObject({ [`${OCI}.revision`]: COMMIT, [`${OCI}.source`]: "https://github.com/example/app", [`${OCI}.created`]: config.created });
  });

  it("an unstamped rebuild after the stamped one is a full cache hit, with the digest of before", async () => {
    const r = await ws.mustBazel(`build //:stamped //:stamped_idx //:stamped_push --output_groups=+provenance ${DISK_CACHE}`);
    // Every action that ran came from the cache: only "disk cache hit" and Bazel's internal ones.
    const processes = /^INFO: \d+ process(?:es)?: (.*)\.$/m.exec(r.stderr)?.[1];
    expect(processes, r.stderr.slice(-2000)).toBeDefined();
    for (const part of processes!.split(", ")) expect(part, processes).toMatch(/^\d+ (disk cache hit|internal)$/);
    expect(processes).toMatch(/disk cache hit/);
    expect((await ws.json<{ digest: string }>("stamped_/descriptor.json")).digest).toBe(unstampedDigest);
    // And the push's stamped tags are left out: `latest` only.
    expect(await readFile(ws.bin("stamped_push_/stamped_tags.txt"), "utf8")).toBe("");
  });
});
