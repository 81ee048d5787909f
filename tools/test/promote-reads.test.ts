/**
 * How `ociutil promote` reads registries to plan. Real registries throughout.
 * - A destination registry that takes many repositories is read through its catalog: the
 *   repositories it does not list are not read one by one (a new release costs one catalog read per
 *   registry, not a tag list per repository). One test puts the fault proxy in front of the
 *   destination to answer a stale catalog (MOCKED: distribution's catalog is never stale, a
 *   replicated registry's can be), and checks that the run still refuses a tag move.
 * - Google's registries list every manifest with its tags in tags/list; the plan then needs no HEAD.
 *   distribution does not send that map, so the fault proxy answers the two tag lists (MOCKED) with
 *   the map of what the real registries behind it hold.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  logMark,
  makeTempDir,
  mustRun,
  peer,
  removeTempDir,
  runOciutil,
  seedImage,
  servedSince,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type TestRegistry,
} from "./harness/index.js";

/** More than CATALOG_MIN_REPOSITORIES (20), so the destination's catalog is read. */
const REPOS = Array.from({ length: 24 }, (_, i) => `r${String(i).padStart(2, "0")}`);
const MOVED = "r03"; // prod has :1.0 pointing at another image
const THERE = "r05"; // prod has the image under :1.0 already

let staging: TestRegistry;
let prod: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let app = "";
let other = "";

const crane = (...args: string[]) => mustRun(peer("crane"), [...args, "--insecure"]);

async function manifestFor(destHost: string): Promise<string> {
  const file = join(tmp, `${destHost.replace(/[^a-z0-9]/gi, "_")}.yaml`);
  const images = REPOS.map((r) => `- name: ${r}\n  dmap:\n    "${app}": ["1.0"]\n`).join("");
  await writeFile(file, `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${destHost}/prod\nimages:\n${images}`);
  return file;
}

beforeAll(async () => {
  [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
  proxy = await startFaultProxy(prod.host, []);
  tmp = await makeTempDir("promote-catalog");
  app = await seedImage(staging, `staging/${REPOS[0]}:1.0`, { layers: [{ files: { "app.txt": "app" } }] });
  for (const r of REPOS.slice(1)) await crane("copy", `${staging.host}/staging/${REPOS[0]}:1.0`, `${staging.host}/staging/${r}:1.0`);
  other = await seedImage(prod, `prod/${MOVED}:1.0`, { layers: [{ files: { "app.txt": "older" } }] });
  await crane("copy", `${staging.host}/staging/${REPOS[0]}:1.0`, `${prod.host}/prod/${THERE}:1.0`);
}, 120_000);
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([staging?.stop(), prod?.stop()]);
  await removeTempDir(tmp);
});

describe("a destination read through its catalog", () => {
  it("plans from one catalog read: only the repositories it lists are read, and the plan is the same", async () => {
    const mark = await logMark(prod);
    const r = await runOciutil(["promote", "--insecure", "--manifest", await manifestFor(prod.host), "--json"]);
    expect(r.code, r.stderr).toBe(1); // the refused tag move
    const report = JSON.parse(r.stdout);
    expect(report.summary).toMatchObject({ planned: REPOS.length - 2, present: 1, refused: 1, failed: 0, missing: 0 });
    const moved = report.edges.find((e: { destination: string }) => e.destination.endsWith(`/prod/${MOVED}:1.0`));
    expect(moved).toMatchObject({ outcome: "refused", detail: `${prod.host}/prod/${MOVED}:1.0 points at ${other}; tag moves are refused` });

    const served = await servedSince(prod, mark);
    expect(served.filter((q) => q.uri.startsWith("/v2/_catalog"))).toHaveLength(1);
    // Tag lists and manifest HEADs only for the two repositories the catalog lists.
    const read = new Set(served.filter((q) => /\/(tags\/list|manifests\/)/.test(q.uri)).map((q) => q.uri.split("/")[3]));
    expect([...read].sort()).toEqual([MOVED, THERE]);
  });

  it("with a stale catalog (mocked) the run lists each repository before writing: no tag moves, nothing copied twice", async () => {
    // The proxy answers the catalog as a registry that has not caught up would: no repositories at all.
    proxy.setRules([{ method: "GET", path: /^\/v2\/_catalog$/, action: { kind: "status", status: 200, headers: { "content-type": "application/json" }, body: '{"repositories":[]}' } }]);
    const file = await manifestFor(proxy.host);
    const dry = await runOciutil(["promote", "--insecure", "--manifest", file, "--json"]);
    expect(dry.code, dry.stderr).toBe(0); // the plan believed the catalog: all copies
    expect(JSON.parse(dry.stdout).summary).toMatchObject({ planned: REPOS.length });

    const r = await runOciutil(["promote", "--insecure", "--manifest", file, "--confirm", "--json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/1 tag move refused/);
    expect(JSON.parse(r.stdout).summary).toMatchObject({ copied: REPOS.length - 2, present: 1, refused: 1, failed: 0 });
    expect(proxy.ruleHits[0]).toBeGreaterThan(0);
    // The tag that pointed elsewhere still does; every other repository has the image.
    expect((await crane("digest", `${prod.host}/prod/${MOVED}:1.0`)).stdout.trim()).toBe(other);
    for (const repo of REPOS.filter((x) => x !== MOVED)) expect((await crane("digest", `${prod.host}/prod/${repo}:1.0`)).stdout.trim()).toBe(app);

    // Straight at the destination, whose catalog now lists them all: nothing left but the refusal.
    const again = await runOciutil(["promote", "--insecure", "--manifest", await manifestFor(prod.host), "--json"]);
    expect(JSON.parse(again.stdout).summary).toMatchObject({ planned: 0, present: REPOS.length - 1, refused: 1 });
    // The table shows that refusal alone; what is in place is counted on the last line.
    const table = (await runOciutil(["promote", "--insecure", "--manifest", await manifestFor(prod.host)])).stdout.trim().split("\n");
    expect(table).toHaveLength(3);
    expect(table[0]).toMatch(/^OUTCOME\s+DESTINATION\s+DIGEST\s+DETAIL$/);
    expect(table[1]).toMatch(new RegExp(`^refused\\s+${prod.host}/prod/${MOVED}:1\\.0\\s`));
    expect(table[2]).toBe(`${REPOS.length} edges: ${REPOS.length - 1} already present, 1 tag move refused (dry run; --confirm to promote)`);
  });
});

describe("Google's tags/list extension (mocked by the fault proxy)", () => {
  it("a tag list that names every manifest answers the plan and the snapshot: no HEAD at all", async () => {
    const gcrList = (name: string, manifests: Record<string, string[]>) =>
      JSON.stringify({
        child: [],
        manifest: Object.fromEntries(
          Object.entries(manifests).map(([digest, tag]) => [digest, { imageSizeBytes: "1000", mediaType: "application/vnd.oci.image.manifest.v1+json", tag, timeCreatedMs: "0", timeUploadedMs: "1700000000000" }]),
        ),
        name,
        tags: Object.values(manifests).flat(),
      });
    const front = await startFaultProxy(staging.host, []);
    const back = await startFaultProxy(prod.host, []);
    try {
      const json = { "content-type": "application/json" };
      // What the registries behind the proxies hold, as GCR would list it.
      front.setRules(
        [MOVED, THERE].map((repo) => ({ method: "GET", path: new RegExp(`^/v2/staging/${repo}/tags/list$`), action: { kind: "status" as const, status: 200, headers: json, body: gcrList(`staging/${repo}`, { [app]: ["1.0"] }) } })),
      );
      back.setRules([
        { method: "GET", path: new RegExp(`^/v2/prod/${MOVED}/tags/list$`), action: { kind: "status", status: 200, headers: json, body: gcrList(`prod/${MOVED}`, { [other]: ["1.0"] }) } },
        { method: "GET", path: new RegExp(`^/v2/prod/${THERE}/tags/list$`), action: { kind: "status", status: 200, headers: json, body: gcrList(`prod/${THERE}`, { [app]: ["1.0"] }) } },
      ]);
      const file = join(tmp, "google.yaml");
      await writeFile(
        file,
        `registries:\n- name: ${front.host}/staging\n  src: true\n- name: ${back.host}/prod\nimages:\n- name: ${MOVED}\n  dmap:\n    "${app}": ["1.0"]\n- name: ${THERE}\n  dmap:\n    "${app}": []\n`,
      );
      const r = await runOciutil(["promote", "--insecure", "--manifest", file, "--json"]);
      expect(r.code, r.stderr).toBe(1); // the refused tag move
      const report = JSON.parse(r.stdout);
      expect(report.summary).toMatchObject({ refused: 1, present: 1, planned: 0, failed: 0 });
      expect(report.edges.find((e: { outcome: string }) => e.outcome === "refused").detail).toBe(`${back.host}/prod/${MOVED}:1.0 points at ${other}; tag moves are refused`);
      // Each list was read (a source's once more, for its cosign tags, when its image is promoted or there).
      for (const hits of [...front.ruleHits, ...back.ruleHits]) expect(hits).toBeGreaterThanOrEqual(1);
      expect([...front.requests, ...back.requests].filter((q) => q.method === "HEAD")).toEqual([]);

      // A snapshot lists every manifest the map names, untagged ones too (as kpromo shows GCR), with no HEAD.
      back.setRules([{ method: "GET", path: new RegExp(`^/v2/prod/${MOVED}/tags/list$`), action: { kind: "status", status: 200, headers: json, body: gcrList(`prod/${MOVED}`, { [other]: ["1.0", "old"], [app]: [] }) } }]);
      back.requests.length = 0;
      const snap = await runOciutil(["snapshot", "--insecure", `${back.host}/prod/${MOVED}`]);
      expect(snap.code, snap.stderr).toBe(0);
      const rows = [`    "${app}": []`, `    "${other}": ["1.0", "old"]`].sort();
      expect(snap.stdout).toBe(`- name: ${MOVED}\n  dmap:\n${rows.join("\n")}\n`);
      expect(back.ruleHits).toEqual([1]);
      expect(back.requests.filter((q) => q.method === "HEAD")).toEqual([]);
    } finally {
      await Promise.all([front.stop(), back.stop()]);
    }
  });
});

describe("a source that will not list its tags (mocked: ECR needs ecr:ListImages for tags/list)", () => {
  it("is read digest by digest, as before: the plan is the same", async () => {
    const front = await startFaultProxy(staging.host, [
      { method: "GET", path: /\/tags\/list$/, action: { kind: "status", status: 403, headers: { "content-type": "application/json" }, body: '{"errors":[{"code":"DENIED","message":"not authorized to list images"}]}' } },
    ]);
    try {
      const file = join(tmp, "no-list.yaml");
      await writeFile(file, `registries:\n- name: ${front.host}/staging\n  src: true\n- name: ${prod.host}/prod\nimages:\n- name: ${THERE}\n  dmap:\n    "${app}": ["1.0"]\n- name: r09\n  dmap:\n    "${app}": ["9.9"]\n`);
      const r = await runOciutil(["promote", "--insecure", "--no-referrers", "--manifest", file, "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).summary).toMatchObject({ present: 1, planned: 1, failed: 0 });
      expect(front.ruleHits[0]).toBeGreaterThan(0);
      expect(front.requests.filter((q) => q.method === "HEAD").length).toBeGreaterThanOrEqual(2);
    } finally {
      await front.stop();
    }
  });
});
