/**
 * `ociutil promote --attest`: one in-toto promotion statement per promoted digest in each destination,
 * attached as a referrer (signed with --attest-key, so real cosign verify-attestation accepts it and
 * returns our statement); planned as edges, so a re-run attests nothing twice and an image promoted
 * before without --attest is attested by the next run that asks.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PROMOTION_PREDICATE_V1 } from "../ociutil/promote/attest.js";
import { makeTempDir, mustRun, peer, removeTempDir, runOciutil, runTool, seedImage, startRegistry, type TestRegistry } from "./harness/index.js";

let staging: TestRegistry;
let prod: TestRegistry;
let tmp: string;
let manifest: string;
const d: Record<string, string> = {};

const promote = (...args: string[]) => runOciutil(["promote", "--insecure", "--manifest", manifest, ...args]);
const OFFLINE = ["--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry"];
async function discover(ref: string): Promise<Array<{ digest: string; artifactType: string; annotations?: Record<string, string> }>> {
  return JSON.parse((await mustRun(peer("oras"), ["discover", "--plain-http", "--format", "json", ref])).stdout).referrers;
}

beforeAll(async () => {
  [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
  tmp = await makeTempDir("promote-attest");
  d["app"] = await seedImage(staging, "staging/app:1.0", { layers: [{ files: { "a.txt": "app" } }] });
  d["old"] = await seedImage(staging, "staging/old:1.0", { layers: [{ files: { "o.txt": "old" } }] });
  const openssl = (...args: string[]) => mustRun(peer("openssl"), args, { cwd: tmp });
  await openssl("ecparam", "-genkey", "-name", "prime256v1", "-out", "key.pem");
  await openssl("ec", "-in", "key.pem", "-pubout", "-out", "key.pub");
  // "old" was promoted before, without --attest.
  const before = join(tmp, "before.yaml");
  await writeFile(before, `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${prod.host}/prod\nimages:\n- name: old\n  dmap:\n    "${d["old"]}": ["1.0"]\n`);
  const r = await runOciutil(["promote", "--insecure", "--manifest", before, "--confirm"]);
  expect(r.code, r.stderr).toBe(0);
  manifest = join(tmp, "promoter-manifest.yaml");
  await writeFile(
    manifest,
    `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${prod.host}/prod\nimages:\n- name: app\n  dmap:\n    "${d["app"]}": ["1.0", "stable"]\n- name: old\n  dmap:\n    "${d["old"]}": ["1.0"]\n`,
  );
}, 120_000);
afterAll(async () => {
  await Promise.all([staging?.stop(), prod?.stop()]);
  await removeTempDir(tmp);
});

it("a dry run plans one attestation per digest and destination, also for an image already there", async () => {
  const r = await promote("--attest", "--json");
  expect(r.code, r.stderr).toBe(0);
  const report = JSON.parse(r.stdout);
  const att = report.edges.filter((e: { kind?: string }) => e.kind === "attestation");
  expect(att.map((e: { destination: string; outcome: string }) => [e.destination, e.outcome]).sort()).toEqual([
    [`${prod.host}/prod/app@${d["app"]}`, "planned"],
    [`${prod.host}/prod/old@${d["old"]}`, "planned"],
  ]);
  const table = await promote("--attest");
  expect(table.stdout).toMatch(new RegExp(`^copy\\s+${prod.host}/prod/old \\(attestation\\)\\s+${d["old"]!.slice(0, 19)}\\s+promotion attestation of ${d["old"]!.slice(0, 19)}$`, "m"));
});

it("--confirm --attest --attest-key: cosign verify-attestation accepts the statement, which names source, destination and tags", async () => {
  const r = await promote("--confirm", "--attest", "--attest-key", join(tmp, "key.pem"), "--json");
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout).summary).toMatchObject({ copied: 4, present: 1, failed: 0 });

  const [listed, ...rest] = await discover(`${prod.host}/prod/app@${d["app"]}`);
  expect(rest).toEqual([]);
  expect(listed!.annotations?.["dev.sigstore.bundle.predicateType"]).toBe(PROMOTION_PREDICATE_V1);

  const verify = await runTool(peer("cosign"), ["verify-attestation", "--key", "key.pub", "--type", PROMOTION_PREDICATE_V1, ...OFFLINE, `${prod.host}/prod/app@${d["app"]}`], {
    cwd: tmp,
    env: { HOME: tmp },
    timeoutMs: 120_000,
  });
  expect(verify.code, verify.stderr).toBe(0);
  const envelope = JSON.parse(verify.stdout.trim().split("\n")[0]!);
  const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8"));
  expect(statement).toMatchObject({
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ name: `${prod.host}/prod/app`, digest: { sha256: d["app"]!.slice(7) } }],
    predicateType: PROMOTION_PREDICATE_V1,
    predicate: { source: `${staging.host}/staging/app@${d["app"]}`, destination: `${prod.host}/prod/app@${d["app"]}`, tags: ["1.0", "stable"] },
  });
  expect(statement.predicate.promotedOn).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  // The image promoted before without --attest has its statement now too.
  expect((await discover(`${prod.host}/prod/old@${d["old"]}`)).map((x) => x.annotations?.["dev.sigstore.bundle.predicateType"])).toEqual([PROMOTION_PREDICATE_V1]);
});

it("a second run with --attest attests nothing twice", async () => {
  const r = await promote("--confirm", "--attest", "--attest-key", join(tmp, "key.pem"));
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout.trim()).toBe("nothing to do: all 5 edges are already in place");
  expect(await discover(`${prod.host}/prod/app@${d["app"]}`)).toHaveLength(1);
});

it("--attest-key without --attest is a usage error", async () => {
  const r = await promote("--attest-key", join(tmp, "key.pem"));
  expect(r.code).toBe(2);
  expect(r.stderr.trim()).toBe("ociutil: --attest-key needs --attest");
});
