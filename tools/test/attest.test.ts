/**
 * `ociutil attest`: an in-toto statement attached as an OCI 1.1 referrer, signed with an ECDSA P-256
 * PEM key as openssl makes it, stored where cosign 3 finds it. Real cosign verifies it (offline flags
 * from the shared notes), and rejects it once one byte of the stored statement is changed.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../ociutil/name/reference.js";
import { attach } from "../ociutil/ops/attach.js";
import { RegistryClient } from "../ociutil/remote/client.js";
import { buildTestImage, buildTestIndex, makeTempDir, mustRun, peer, removeTempDir, runOciutil, mustRunOciutil, runTool, startRegistry, type TestRegistry } from "./harness/index.js";

let registry: TestRegistry;
let tmp: string;
let layout: string;
let digest: string;

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await makeTempDir("attest");
  layout = join(tmp, "layout");
  digest = (await buildTestImage(layout, { layers: [{ files: { "etc/app": "attested\n" } }] })).manifestDigest;
  const openssl = (...args: string[]) => mustRun(peer("openssl"), args, { cwd: tmp });
  await openssl("ecparam", "-genkey", "-name", "prime256v1", "-out", "sec1.pem"); // EC PARAMETERS + EC PRIVATE KEY
  await openssl("pkcs8", "-topk8", "-nocrypt", "-in", "sec1.pem", "-out", "pkcs8.pem");
  await openssl("ec", "-in", "sec1.pem", "-pubout", "-out", "key.pub");
  await openssl("ecparam", "-genkey", "-name", "secp384r1", "-noout", "-out", "p384.pem");
});
afterAll(async () => {
  await registry?.stop();
  await removeTempDir(tmp);
});

async function ociutil(...args: string[]): Promise<string> {
  return (await mustRunOciutil(args)).stdout.trim();
}
const crane = (...args: string[]) => mustRun(peer("crane"), [...args, "--insecure"]);
const OFFLINE = ["--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry"];
function verifyAttestation(ref: string, pub = "key.pub") {
  return runTool(peer("cosign"), ["verify-attestation", "--key", pub, "--type", "slsaprovenance1", ...OFFLINE, ref], { cwd: tmp, env: { HOME: tmp }, timeoutMs: 120_000 });
}
/** A statement v1 with an SLSA v1 predicate about `subjectDigest`, written as given (odd spacing kept). */
async function statementFile(name: string, repo: string, subjectDigest: string): Promise<{ path: string; bytes: string }> {
  const bytes =
    `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"${repo}","digest":{"sha256":"${subjectDigest.slice(7)}"}}],` +
    `"predicateType":"https://slsa.dev/provenance/v1",  "predicate":{"buildDefinition":{"buildType":"https://example.com/buildtype/v1",` +
    `"externalParameters":{"target":"//app:image"}},"runDetails":{"builder":{"id":"https://example.com/builder","version":{"rules_ociutil":"0.1.0"}}}}}`;
  const path = join(tmp, name);
  await writeFile(path, bytes);
  return { path, bytes };
}
async function referrers(ref: string): Promise<Array<{ digest: string; artifactType: string; annotations?: Record<string, string> }>> {
  return JSON.parse((await mustRun(peer("oras"), ["discover", "--plain-http", "--format", "json", ref])).stdout).referrers;
}

describe("attest, signed", () => {
  for (const keyFile of ["sec1.pem", "pkcs8.pem"]) {
    it(`with a ${keyFile.replace(".pem", "").toUpperCase()} key: cosign verify-attestation finds and accepts it, and returns our statement`, async () => {
      const repo = `${registry.host}/attest/${keyFile.replace(".pem", "")}`;
      await ociutil("push", "--insecure", layout, `${repo}:v1`);
      const st = await statementFile(`st-${keyFile}.json`, repo, digest);
      const json = JSON.parse(await ociutil("attest", "--insecure", `${repo}:v1`, "--statement", st.path, "--key", join(tmp, keyFile), "--json"));
      expect(json).toMatchObject({ subject: `${repo}@${digest}`, predicateType: "https://slsa.dev/provenance/v1", signed: true, listedBy: "referrers tag" });

      const [listed, ...rest] = await referrers(`${repo}@${digest}`);
      expect(rest).toEqual([]);
      expect(`${repo}@${listed!.digest}`).toBe(json.reference);
      expect(listed!.artifactType).toBe("application/vnd.dev.sigstore.bundle.v0.3+json");
      expect(listed!.annotations?.["dev.sigstore.bundle.predicateType"]).toBe("https://slsa.dev/provenance/v1");

      const v = await verifyAttestation(`${repo}@${digest}`);
      expect(v.code, v.stderr).toBe(0);
      const envelope = JSON.parse(v.stdout.trim().split("\n")[0]!);
      expect(envelope.payloadType).toBe("application/vnd.in-toto+json");
      expect(Buffer.from(envelope.payload, "base64").toString("utf8")).toBe(st.bytes);
    });
  }

  it("attests an index (tag resolved to its digest)", async () => {
    const dir = join(tmp, "index");
    const idx = await buildTestIndex(dir, [
      { layers: [{ files: { a: "1" } }], platform: { os: "linux", architecture: "amd64" } },
      { layers: [{ files: { a: "2" } }], platform: { os: "linux", architecture: "arm64" } },
    ]);
    const repo = `${registry.host}/attest/index`;
    await ociutil("push", "--insecure", dir, `${repo}:v1`);
    const st = await statementFile("st-index.json", repo, idx.indexDigest);
    await ociutil("attest", "--insecure", `${repo}:v1`, "--statement", st.path, "--key", join(tmp, "sec1.pem"));
    const v = await verifyAttestation(`${repo}@${idx.indexDigest}`);
    expect(v.code, v.stderr).toBe(0);
  });

  it("one byte of the stored statement changed: cosign rejects it", async () => {
    const repo = `${registry.host}/attest/tampered`;
    const good = `${registry.host}/attest/untampered`;
    await ociutil("push", "--insecure", layout, `${repo}:v1`);
    await ociutil("push", "--insecure", layout, `${good}:v1`);
    const st = await statementFile("st-tamper.json", good, digest);
    const ref = await ociutil("attest", "--insecure", `${good}:v1`, "--statement", st.path, "--key", join(tmp, "sec1.pem"));
    // Take the bundle ociutil stored, change one byte of the statement inside it, store it elsewhere.
    const manifest = JSON.parse((await crane("manifest", ref)).stdout);
    const bundle = JSON.parse((await crane("blob", `${good}@${manifest.layers[0].digest}`)).stdout);
    const statement = Buffer.from(bundle.dsseEnvelope.payload, "base64");
    const at = statement.indexOf("//app:image");
    expect(at).toBeGreaterThan(0);
    statement[at + 2] = "b".charCodeAt(0); // "//bpp:image": still valid JSON, still the same subject
    const tampered = { ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: statement.toString("base64") } };
    const remote = new RegistryClient({ plainHttp: true }).repository(parseReference(repo), "push");
    const subject = await remote.getManifest(digest);
    const put = async (b: unknown) =>
      attach(remote, { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length }, {
        artifactType: manifest.artifactType,
        layers: [{ mediaType: manifest.layers[0].mediaType, bytes: Buffer.from(JSON.stringify(b)) }],
        annotations: manifest.annotations,
      });
    await put(tampered);
    const v = await verifyAttestation(`${repo}@${digest}`);
    expect(v.code).not.toBe(0);
    expect(v.stderr).toMatch(/failed to verify signature/);
    // The untouched bundle, stored the same way, verifies: the change is what cosign rejected.
    expect((await verifyAttestation(`${good}@${digest}`)).code).toBe(0);
  });
});

describe("attest, unsigned", () => {
  it("attaches the statement itself, byte for byte, which oras lists", async () => {
    const repo = `${registry.host}/attest/unsigned`;
    await ociutil("push", "--insecure", layout, `${repo}:v1`);
    const st = await statementFile("st-unsigned.json", repo, digest);
    const ref = await ociutil("attest", "--insecure", `${repo}:v1`, "--statement", st.path);
    const [listed] = await referrers(`${repo}@${digest}`);
    expect(`${repo}@${listed!.digest}`).toBe(ref);
    expect(listed!.artifactType).toBe("application/vnd.in-toto+json");
    const manifest = JSON.parse((await crane("manifest", ref)).stdout);
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0]).toMatchObject({ mediaType: "application/vnd.in-toto+json", annotations: { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v1" } });
    expect((await crane("blob", `${repo}@${manifest.layers[0].digest}`)).stdout).toBe(st.bytes);
  });
});

describe("attest refuses, with one line and nothing pushed", () => {
  async function refused(args: string[], pattern: RegExp, repo: string): Promise<void> {
    const r = await runOciutil(["attest", "--insecure", `${repo}:v1`, ...args]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(await referrers(`${repo}@${digest}`)).toEqual([]);
  }
  let repo: string;
  let st: string;
  beforeAll(async () => {
    repo = `${registry.host}/attest/refused`;
    await ociutil("push", "--insecure", layout, `${repo}:v1`);
    st = (await statementFile("st-refused.json", repo, digest)).path;
  });

  it("a statement about another digest", async () => {
    const other = await statementFile("st-other.json", repo, `sha256:${"0".repeat(64)}`);
    await refused(["--statement", other.path], /no subject has digest sha256:[0-9a-f]{64}, the image it would be attached to/, repo);
  });
  it("a file that is not a statement", async () => {
    await writeFile(join(tmp, "bad.json"), '{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x"}');
    await refused(["--statement", join(tmp, "bad.json")], /not an in-toto Statement: subject/, repo);
  });
  it("cosign's encrypted key, a P-384 key, a file with no key; never printing the key", async () => {
    await writeFile(join(tmp, "cosign.key"), "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nc2VjcmV0\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
    await refused(["--statement", st, "--key", join(tmp, "cosign.key")], /cosign's encrypted key format is not supported/, repo);
    await refused(["--statement", st, "--key", join(tmp, "p384.pem")], /an EC key on secp384r1; an ECDSA P-256 \(prime256v1\) key is needed/, repo);
    await refused(["--statement", st, "--key", join(tmp, "key.pub")], /no PEM private key in it/, repo);
    const secret = (await readFile(join(tmp, "p384.pem"), "utf8")).split("\n")[1]!;
    const r = await runOciutil(["attest", "--insecure", `${repo}:v1`, "--statement", st, "--key", join(tmp, "p384.pem")]);
    expect(r.stderr).not.toContain(secret.slice(0, 20));
  });
});

describe("push --attest", () => {
  it("pushes, then attaches the signed statement; cosign verifies it", async () => {
    const repo = `${registry.host}/attest/pushed`;
    const st = await statementFile("st-push.json", repo, digest);
    const json = JSON.parse(await ociutil("push", "--insecure", layout, `${repo}:v1`, "--attest", st.path, "--attest-key", join(tmp, "sec1.pem"), "--json"));
    expect(json.digest).toBe(digest);
    expect(json.attestation).toMatchObject({ predicateType: "https://slsa.dev/provenance/v1", signed: true, listedBy: "referrers tag" });
    const [listed] = await referrers(`${repo}@${digest}`);
    expect(`${repo}@${listed!.digest}`).toBe(json.attestation.reference);
    const v = await verifyAttestation(`${repo}@${digest}`);
    expect(v.code, v.stderr).toBe(0);
  });

  it("a statement about another image, or a bad key, is refused before anything is pushed", async () => {
    const repo = `${registry.host}/attest/notpushed`;
    const other = await statementFile("st-push-other.json", repo, `sha256:${"1".repeat(64)}`);
    const good = await statementFile("st-push-good.json", repo, digest);
    for (const [args, code, pattern] of [
      [["--attest", other.path, "--attest-key", join(tmp, "sec1.pem")], 1, /^ociutil: --attest .*: no subject has digest/],
      [["--attest", good.path, "--attest-key", join(tmp, "p384.pem")], 1, /^ociutil: --key .*p384\.pem: an EC key on secp384r1/],
      [["--attest-key", join(tmp, "sec1.pem")], 2, /^ociutil: --attest-key needs --attest/],
    ] as Array<[string[], number, RegExp]>) {
      const r = await runOciutil(["push", "--insecure", layout, `${repo}:v1`, ...args]);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(pattern);
    }
    const ls = await runTool(peer("crane"), ["ls", repo, "--insecure"]);
    expect(ls.code).not.toBe(0);
  });
});
