/**
 * `ociutil promote` carries what refers to a promoted image: an index signed with cosign (the legacy
 * `sha256-<hex>.sig` tag) and with `oras attach` referrers on the index, on a child and on a referrer,
 * in staging (distribution 2.8: no referrers API, so the `sha256-<hex>` referrers tag). The dry run
 * lists them as edges; --confirm copies them; `cosign verify` and `oras discover` pass at the
 * destination; a re-run does nothing; a referrer added later is the only thing the next run copies.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildTestIndex, makeTempDir, mustRun, peer, removeTempDir, runOciutil, runTool, startRegistry, type BuiltIndex, type TestRegistry } from "./harness/index.js";

let staging: TestRegistry;
let prod: TestRegistry;
let tmp: string;
let index: BuiltIndex;
let manifest: string;
const ref: Record<string, string> = {};

const src = () => `${staging.host}/staging/app`;
const dst = () => `${prod.host}/prod/app`;
const promote = (...args: string[]) => runOciutil(["promote", "--insecure", "--manifest", manifest, ...args]);
const OFFLINE = ["--allow-insecure-registry", "--allow-http-registry"];
function cosign(args: string[], cwd: string) {
  return runTool(peer("cosign"), args, { cwd, env: { COSIGN_PASSWORD: "", HOME: cwd }, timeoutMs: 120_000 });
}
async function discover(reference: string): Promise<string[]> {
  const out = await mustRun(peer("oras"), ["discover", "--plain-http", "--format", "json", reference]);
  return (JSON.parse(out.stdout).referrers as Array<{ digest: string }>).map((r) => r.digest).sort();
}
async function orasAttach(subject: string, type: string, cwd: string): Promise<string> {
  const out = await mustRun(peer("oras"), ["attach", "--plain-http", "--format", "json", "--artifact-type", type, subject, "note.txt:text/plain"], { cwd });
  return JSON.parse(out.stdout).digest as string;
}
async function manifestPuts(): Promise<number> {
  const log = await readFile(prod.logPath, "utf8");
  return log.split("\n").filter((l) => l.includes("http.request.method=PUT") && /http\.request\.uri="\/v2\/[^"]*\/manifests\//.test(l)).length;
}

beforeAll(async () => {
  [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
  tmp = await makeTempDir("promote-referrers");
  index = await buildTestIndex(join(tmp, "layout"), [
    { layers: [{ files: { a: "amd64\n" } }], platform: { os: "linux", architecture: "amd64" } },
    { layers: [{ files: { a: "arm64\n" } }], platform: { os: "linux", architecture: "arm64" } },
  ]);
  const pushed = await runOciutil(["push", "--insecure", join(tmp, "layout"), `${src()}:1.0`]);
  expect(pushed.code, pushed.stderr).toBe(0);
  await writeFile(join(tmp, "note.txt"), "a note\n");
  ref["sbom"] = await orasAttach(`${src()}@${index.indexDigest}`, "application/vnd.test.sbom", tmp);
  ref["child"] = await orasAttach(`${src()}@${index.images[0]!.manifestDigest}`, "application/vnd.test.child", tmp);
  ref["onSbom"] = await orasAttach(`${src()}@${ref["sbom"]}`, "application/vnd.test.review", tmp);
  const keys = join(tmp, "keys");
  await mkdir(keys);
  expect((await cosign(["generate-key-pair"], keys)).code).toBe(0);
  const sign = await cosign(["sign", "--yes", "--key", "cosign.key", "--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false", ...OFFLINE, `${src()}@${index.indexDigest}`], keys);
  expect(sign.code, sign.stderr).toBe(0);
  manifest = join(tmp, "promoter-manifest.yaml");
  await writeFile(
    manifest,
    `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${prod.host}/prod\nimages:\n- name: app\n  dmap:\n    "${index.indexDigest}": ["1.0"]\n`,
  );
}, 180_000);
afterAll(async () => {
  await Promise.all([staging?.stop(), prod?.stop()]);
  await removeTempDir(tmp);
});

const sigTag = () => `sha256-${index.indexDigest.slice("sha256:".length)}.sig`;

it("a dry run lists each referrer and the cosign tag as an edge, and copies nothing", async () => {
  const r = await promote("--json");
  expect(r.code, r.stderr).toBe(0);
  const report = JSON.parse(r.stdout);
  expect(report.summary).toMatchObject({ planned: 5, copied: 0, failed: 0 });
  const referrers = report.edges.filter((e: { kind?: string }) => e.kind !== undefined);
  expect(referrers.map((e: { kind: string; digest: string; subject: string }) => [e.kind, e.digest, e.subject]).sort()).toEqual(
    [
      ["referrer", ref["sbom"], index.indexDigest],
      ["referrer", ref["child"], index.images[0]!.manifestDigest],
      ["referrer", ref["onSbom"], ref["sbom"]],
      ["cosign-tag", expect.stringMatching(/^sha256:/), index.indexDigest],
    ].sort(),
  );
  expect(referrers.find((e: { kind: string }) => e.kind === "cosign-tag").destination).toBe(`${dst()}:${sigTag()}`);
  const table = await promote();
  expect(table.stdout).toMatch(new RegExp(`^copy\\s+${dst()}:${sigTag()}\\s+sha256:\\S+\\s+cosign tag of ${index.indexDigest.slice(0, 19)}$`, "m"));
  expect(table.stdout).toMatch(new RegExp(`^copy\\s+${dst()} \\(referrer\\)\\s+${ref["child"]!.slice(0, 19)}\\s+referrer of ${index.images[0]!.manifestDigest.slice(0, 19)}$`, "m"));
  expect(await manifestPuts()).toBe(0);
});

it("--confirm copies them: cosign verify and oras discover pass at the destination", async () => {
  const r = await promote("--confirm", "--json");
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout).summary).toMatchObject({ copied: 5, failed: 0 });
  expect(await discover(`${dst()}@${index.indexDigest}`)).toEqual(await discover(`${src()}@${index.indexDigest}`));
  expect(await discover(`${dst()}@${index.images[0]!.manifestDigest}`)).toEqual([ref["child"]]);
  expect(await discover(`${dst()}@${ref["sbom"]}`)).toEqual([ref["onSbom"]]);
  const verify = await cosign(["verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", ...OFFLINE, `${dst()}@${index.indexDigest}`], join(tmp, "keys"));
  expect(verify.code, verify.stderr).toBe(0);
});

it("a second run finds everything in place and writes nothing", async () => {
  const puts = await manifestPuts();
  const r = await promote("--confirm");
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout.trim()).toBe("nothing to do: all 5 edges are already in place");
  expect(await manifestPuts()).toBe(puts);
});

it("a referrer added at the source later is the one thing the next run copies", async () => {
  const late = await orasAttach(`${src()}@${index.indexDigest}`, "application/vnd.test.late", tmp);
  const r = await promote("--confirm", "--json");
  expect(r.code, r.stderr).toBe(0);
  const report = JSON.parse(r.stdout);
  expect(report.summary).toMatchObject({ copied: 1, present: 5, failed: 0 });
  expect(report.edges.find((e: { outcome: string }) => e.outcome === "copied")).toMatchObject({ kind: "referrer", digest: late, subject: index.indexDigest });
  expect(await discover(`${dst()}@${index.indexDigest}`)).toContain(late);
});

it("--no-referrers plans the image alone", async () => {
  const r = await promote("--no-referrers", "--json");
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout).edges).toHaveLength(1);
});
