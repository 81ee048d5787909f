/**
 * `ociutil promote` against real registries (three CNCF distribution instances): the dry-run plan,
 * a confirmed run checked with crane, a second run that does nothing, a refused tag move, a missing
 * image, a thin directory, a multi-platform index, and one failing edge that does not stop the others.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildTestIndex,
  dockerConfigEnv,
  freePort,
  makeTempDir,
  mustRun,
  peer,
  pushWithCrane,
  removeTempDir,
  runOciutil,
  runTool,
  seedImage,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type TestRegistry,
} from "./harness/index.js";

let staging: TestRegistry;
let prod: TestRegistry;
let prod2: TestRegistry;
let tmp: string;
const d: Record<string, string> = {};
const MISSING = `sha256:${"9".repeat(64)}`;

const crane = (...args: string[]) => mustRun(peer("crane"), [...args, "--insecure"]);
const craneDigest = async (ref: string) => (await crane("digest", ref)).stdout.trim();
const promote = (...args: string[]) => runOciutil(["promote", "--insecure", ...args]);

async function write(rel: string, text: string): Promise<string> {
  const p = join(tmp, rel);
  await mkdir(join(p, ".."), { recursive: true });
  await writeFile(p, text);
  return p;
}

/** Manifest PUTs a registry logged: what a run changed there. */
async function manifestPuts(reg: TestRegistry): Promise<number> {
  const log = await readFile(reg.logPath, "utf8");
  return log.split("\n").filter((l) => l.includes("http.request.method=PUT") && /http\.request\.uri="\/v2\/[^"]*\/manifests\//.test(l)).length;
}

beforeAll(async () => {
  [staging, prod, prod2] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  tmp = await makeTempDir("promote");
  d["app1"] = await seedImage(staging, "staging/app:1.0", { layers: [{ files: { "app.txt": "one" } }] });
  d["app2"] = await seedImage(staging, "staging/app:2.0", { layers: [{ files: { "app.txt": "two" } }] });
  d["cli"] = await seedImage(staging, "staging/tools/cli:v1", { layers: [{ files: { "cli.txt": "cli" } }] });
  d["tagless"] = await seedImage(staging, "staging/tagless:build-7", { layers: [{ files: { "t.txt": "t" } }] });
  // What production already has under app:2.0: another image, so promoting app2 there is a tag move.
  d["prodOld"] = await seedImage(prod, "prod/app:2.0", { layers: [{ files: { "app.txt": "old" } }] });
  const built = await buildTestIndex(join(tmp, "index-layout"), [
    { layers: [{ files: { "m.txt": "amd64" } }], platform: { os: "linux", architecture: "amd64" } },
    { layers: [{ files: { "m.txt": "arm64" } }], platform: { os: "linux", architecture: "arm64", variant: "v8" } },
  ]);
  d["multi"] = await pushWithCrane(join(tmp, "index-layout"), `${staging.host}/staging/multi:1.0`);
  expect(d["multi"]).toBe(built.indexDigest);
  d["multiChildren"] = built.images.map((i) => i.manifestDigest).join(",");
}, 120_000);
afterAll(async () => {
  await Promise.all([staging?.stop(), prod?.stop(), prod2?.stop()]);
  await removeTempDir(tmp);
});

function goodManifest(): string {
  return `registries:
- name: ${staging.host}/staging
  src: true
- name: ${prod.host}/prod
- name: ${prod2.host}/prod
images:
- name: app
  dmap:
    "${d["app1"]}": ["1.0"]
- name: tools/cli
  dmap:
    ${d["cli"]}: [v1]
- name: multi
  dmap:
    ${d["multi"]}: ["1.0"]
- name: tagless
  dmap:
    ${d["tagless"]}: []
`;
}

describe("a plain manifest, dry run then --confirm", () => {
  let file: string;
  beforeAll(async () => {
    file = await write("good.yaml", goodManifest());
  });

  it("prints the plan as a table and changes nothing", async () => {
    const puts = await manifestPuts(prod);
    const r = await promote("--manifest", file);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^OUTCOME\s+DESTINATION\s+DIGEST\s+DETAIL$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^copy\\s+${prod.host}/prod/app:1\\.0\\s+${d["app1"]!.slice(0, 19)}\\s+from ${staging.host}/staging/app$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^copy\\s+${prod2.host}/prod/tagless \\(no tag\\)\\s`)));
    expect(lines.at(-1)).toBe("8 edges: 8 to copy (dry run; --confirm to promote)");
    expect(await manifestPuts(prod)).toBe(puts);
    const ls = await runTool(peer("crane"), ["ls", `${prod.host}/prod/app`, "--insecure"]);
    expect(ls.stdout.trim().split("\n")).toEqual(["2.0"]);
  });

  it("gives the same plan as JSON", async () => {
    const r = await promote("--manifest", file, "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.confirmed).toBe(false);
    expect(report.summary).toMatchObject({ planned: 8, copied: 0, present: 0, missing: 0, refused: 0, failed: 0 });
    expect(report.edges).toContainEqual({
      source: `${staging.host}/staging/tools/cli@${d["cli"]}`,
      destination: `${prod2.host}/prod/tools/cli:v1`,
      digest: d["cli"],
      tag: "v1",
      action: "copy",
      outcome: "planned",
      manifest: `${file}:12`,
    });
  });

  it("--confirm copies every edge, digests preserved, an index with all its images", async () => {
    const record = join(tmp, "record.json");
    const r = await promote("--manifest", file, "--confirm", "--record", record, "--jobs", "3");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("8 edges: 8 copied");
    for (const reg of [prod, prod2]) {
      expect(await craneDigest(`${reg.host}/prod/app:1.0`)).toBe(d["app1"]);
      expect(await craneDigest(`${reg.host}/prod/tools/cli:v1`)).toBe(d["cli"]);
      expect(await craneDigest(`${reg.host}/prod/multi:1.0`)).toBe(d["multi"]);
      for (const child of d["multiChildren"]!.split(",")) {
        expect(await craneDigest(`${reg.host}/prod/multi@${child}`)).toBe(child);
      }
      expect(await craneDigest(`${reg.host}/prod/tagless@${d["tagless"]}`)).toBe(d["tagless"]);
      // A tagless promotion puts no tag.
      const tags = await runTool(peer("crane"), ["ls", `${reg.host}/prod/tagless`, "--insecure"]);
      expect(tags.stdout.trim()).toBe("");
    }
    // Content arrived whole: crane validates every blob of the copied index.
    await crane("validate", "--remote", `${prod2.host}/prod/multi:1.0`);
    const rec = JSON.parse(await readFile(record, "utf8"));
    expect(rec.confirmed).toBe(true);
    expect(rec.edges).toHaveLength(8);
    expect(rec.edges.every((e: { outcome: string }) => e.outcome === "copied")).toBe(true);
  });

  it("a second run does nothing and says so", async () => {
    const puts = [await manifestPuts(prod), await manifestPuts(prod2)];
    const r = await promote("--manifest", file, "--confirm");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("nothing to do: all 8 edges are already in place");
    expect([await manifestPuts(prod), await manifestPuts(prod2)]).toEqual(puts);
  });
});

describe("edges that cannot be promoted", () => {
  let file: string;
  beforeAll(async () => {
    file = await write(
      "bad.yaml",
      `registries:
- name: ${staging.host}/staging
  src: true
- name: ${prod.host}/prod
images:
- name: app
  dmap:
    "${d["app2"]}": ["2.0"]       # prod/app:2.0 is another image: a tag move
    "${MISSING}": ["3.0"]         # in neither registry
- name: tools/cli
  dmap:
    "${d["cli"]}": ["v2"]         # fine: promoted despite the others
`,
    );
  });

  it("a dry run with a refused tag move and a missing image is never green", async () => {
    const r = await promote("--manifest", file);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^refused\\s+${prod.host}/prod/app:2\\.0\\s+\\S+\\s+${prod.host}/prod/app:2\\.0 points at ${d["prodOld"]}; tag moves are refused$`, "m"));
    expect(r.stdout).toMatch(new RegExp(`^missing\\s+${prod.host}/prod/app:3\\.0\\s+\\S+\\s+${MISSING} is in neither`, "m"));
    expect(r.stderr.trim()).toBe("ociutil: not every edge can be promoted: 1 missing, 1 tag move refused (see the table for each and why)");
    expect(await craneDigest(`${prod.host}/prod/app:2.0`)).toBe(d["prodOld"]);
  });

  it("--confirm promotes what it can, leaves the tag alone, and exits 1 listing the rest", async () => {
    const r = await promote("--manifest", file, "--confirm", "--json");
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    const byTag = Object.fromEntries(report.edges.map((e: { tag: string; outcome: string }) => [e.tag, e.outcome]));
    expect(byTag).toEqual({ "2.0": "refused", "3.0": "missing", v2: "copied" });
    expect(await craneDigest(`${prod.host}/prod/app:2.0`)).toBe(d["prodOld"]);
    expect(await craneDigest(`${prod.host}/prod/tools/cli:v2`)).toBe(d["cli"]);
  });
});

describe("a thin manifest directory", () => {
  it("promotes from every subproject; an images file with only a comment adds nothing", async () => {
    await write("thin/manifests/apps/promoter-manifest.yaml", `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${prod2.host}/thin\n`);
    await write("thin/images/apps/images.yaml", `- name: app\n  dmap:\n    ${d["app1"]}: [stable]\n- name: app\n  dmap:\n    ${d["app2"]}: ["2.0"]\n`);
    await write("thin/manifests/later/promoter-manifest.yaml", `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${prod2.host}/thin\n`);
    await write("thin/images/later/images.yaml", "# nothing yet\n");
    const r = await promote("--thin-manifest-dir", join(tmp, "thin"), "--confirm");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("2 edges: 2 copied");
    expect(await craneDigest(`${prod2.host}/thin/app:stable`)).toBe(d["app1"]);
    expect(await craneDigest(`${prod2.host}/thin/app:2.0`)).toBe(d["app2"]);
  });
});

describe("one edge failing", () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    // A real registry will not refuse one repository's manifests while taking another's: mocked.
    proxy = await startFaultProxy(prod2.host, [{ method: "PUT", path: /^\/v2\/viaproxy\/app\/manifests\//, action: { kind: "status", status: 403 } }]);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it("does not stop the others; the run exits 1 naming the edge and why", async () => {
    const file = await write(
      "proxy.yaml",
      `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${proxy.host}/viaproxy\nimages:\n- name: app\n  dmap:\n    ${d["app1"]}: ["1.0"]\n- name: tools/cli\n  dmap:\n    ${d["cli"]}: [v1]\n- name: multi\n  dmap:\n    ${d["multi"]}: ["1.0"]\n`,
    );
    const r = await promote("--manifest", file, "--confirm");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^failed\\s+${proxy.host}/viaproxy/app:1\\.0\\s+\\S+\\s+manifest ${proxy.host}/viaproxy/app:1\\.0: denied`, "m"));
    expect(r.stdout.trim().split("\n").at(-1)).toBe("3 edges: 2 copied, 1 failed");
    expect(r.stderr.trim()).toBe("ociutil: not every edge can be promoted: 1 failed (see the table for each and why)");
    expect(await craneDigest(`${prod2.host}/viaproxy/tools/cli:v1`)).toBe(d["cli"]);
    expect(await craneDigest(`${prod2.host}/viaproxy/multi:1.0`)).toBe(d["multi"]);
    // Planning read each destination repository's tag list once.
    const lists = proxy.requests.filter((q) => q.method === "GET" && q.path.endsWith("/tags/list")).map((q) => q.path);
    expect(lists.sort()).toEqual(["/v2/viaproxy/app/tags/list", "/v2/viaproxy/multi/tags/list", "/v2/viaproxy/tools/cli/tags/list"]);
  });
});

describe("credentials and an unreachable destination", () => {
  let secure: TestRegistry;
  beforeAll(async () => {
    secure = await startRegistry({ auth: "token" });
  });
  afterAll(async () => {
    await secure?.stop();
  });

  it("pushes with the docker config's credentials (service-account unused) while a dead destination fails alone", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const file = await write(
      "creds.yaml",
      `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${secure.host}/prod\n  service-account: robot@example.iam.gserviceaccount.com\n- name: ${dead}/prod\nimages:\n- name: app\n  dmap:\n    ${d["app1"]}: ["1.0"]\n`,
    );
    const env = { HOME: join(tmp, "empty-home"), REGISTRY_AUTH_FILE: undefined, XDG_RUNTIME_DIR: undefined, ...(await dockerConfigEnv(join(tmp, "creds"), secure)) };
    const r = await runOciutil(["promote", "--insecure", "--manifest", file, "--confirm", "--json"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ociutil: note: service-account is unused (${file}:5)`);
    const edges = JSON.parse(r.stdout).edges as Array<{ destination: string; outcome: string; detail?: string }>;
    expect(edges.map((e) => [e.destination, e.outcome])).toEqual([
      [`${dead}/prod/app:1.0`, "failed"],
      [`${secure.host}/prod/app:1.0`, "copied"],
    ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)));
    expect(edges.find((e) => e.outcome === "failed")!.detail).toMatch(/refused|ECONNREFUSED|connect/i);
    expect(`${r.stdout}${r.stderr}`).not.toContain(secure.password!);
    const check = await runTool(peer("crane"), ["digest", `${secure.host}/prod/app:1.0`, "--insecure"], { env });
    expect(check.stdout.trim(), check.stderr).toBe(d["app1"]);
  });
});

describe("snapshot", () => {
  const snapshot = (...args: string[]) => runOciutil(["snapshot", "--insecure", ...args]);
  function expectedYaml(): string {
    const [c1, c2] = d["multiChildren"]!.split(",").sort();
    const [app1, app2] = [d["app1"]!, d["app2"]!];
    const appLines = [
      [app1, '["1.0"]'],
      [app2, '["2.0"]'],
    ]
      .sort((a, b) => (a[0]! < b[0]! ? -1 : 1))
      .map(([dg, t]) => `    "${dg}": ${t}\n`)
      .join("");
    const multi = [
      [d["multi"]!, '["1.0"]'],
      [c1!, "[]"],
      [c2!, "[]"],
    ]
      .sort((a, b) => (a[0]! < b[0]! ? -1 : 1))
      .map(([dg, t]) => `    "${dg}": ${t}\n`)
      .join("");
    return (
      `- name: app\n  dmap:\n${appLines}` +
      `- name: multi\n  dmap:\n${multi}` +
      `- name: tagless\n  dmap:\n    "${d["tagless"]}": ["build-7"]\n` +
      `- name: tools/cli\n  dmap:\n    "${d["cli"]}": ["v1"]\n`
    );
  }

  it("prints every repository under a prefix in the images.yaml format, and as CSV", async () => {
    const r = await snapshot(`${staging.host}/staging`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(expectedYaml());
    const csv = await snapshot(`${staging.host}/staging/`, "--output", "CSV");
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toContain(`tools/cli@${d["cli"]},tools/cli:v1\n`);
    for (const child of d["multiChildren"]!.split(",")) expect(csv.stdout).toContain(`multi@${child},-\n`);
    const minimal = await snapshot(`${staging.host}/staging`, "--minimal", "--output", "csv");
    expect(minimal.stdout.trim().split("\n")).toHaveLength(5);
    expect(minimal.stdout).not.toContain(",-");
  });

  it("follows the catalog's pages (distribution sends 100 repositories a page, then a Link header)", async () => {
    // 105 repositories holding one image, made with cross-repository mounts and manifest PUTs.
    const accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    const res = await fetch(`${staging.url}/v2/staging/app/manifests/${d["app1"]}`, { headers: { accept } });
    const bytes = Buffer.from(await res.arrayBuffer());
    const type = res.headers.get("content-type")!;
    const m = JSON.parse(bytes.toString("utf8")) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const names = Array.from({ length: 105 }, (_, i) => `many/r${String(i).padStart(3, "0")}`);
    for (const name of names) {
      for (const blob of [m.config.digest, ...m.layers.map((l) => l.digest)]) {
        const mount = await fetch(`${staging.url}/v2/${name}/blobs/uploads/?mount=${blob}&from=staging/app`, { method: "POST" });
        expect(mount.status).toBe(201);
      }
      const put = await fetch(`${staging.url}/v2/${name}/manifests/v1`, { method: "PUT", headers: { "content-type": type }, body: bytes });
      expect(put.status).toBe(201);
    }
    const page = await fetch(`${staging.url}/v2/_catalog`);
    expect(page.headers.get("link"), "the registry no longer pages its catalog: this test needs more repositories").toMatch(/rel="next"/);
    const r = await snapshot(`${staging.host}/many`, "--output", "csv");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(names.map((n) => `${n.slice("many/".length)}@${d["app1"]},${n.slice("many/".length)}:v1\n`).join(""));
  });

  it("round trip: snapshot, promote it to another registry, snapshot again: equal", async () => {
    const first = await snapshot(`${staging.host}/staging`);
    expect(first.code, first.stderr).toBe(0);
    await write("roundtrip/manifests/all/promoter-manifest.yaml", `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${prod2.host}/copy\n`);
    await write("roundtrip/images/all/images.yaml", first.stdout);
    const dir = join(tmp, "roundtrip");
    const planned = await snapshot("--manifest-based-snapshot-of", `${prod2.host}/copy`, "--thin-manifest-dir", dir);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toBe(first.stdout);
    const p = await promote("--thin-manifest-dir", dir, "--confirm");
    expect(p.code, p.stderr).toBe(0);
    const second = await snapshot(`${prod2.host}/copy`);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
  });
});
