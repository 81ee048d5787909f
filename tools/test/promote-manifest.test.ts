/**
 * `ociutil promote` reading and validating promoter manifests: the shapes real manifests have, strict
 * YAML, and every validation problem reported at once before any registry is contacted.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPlainManifest, type Problem } from "../ociutil/promote/manifest.js";
import { formatProblem } from "../ociutil/promote/validate.js";
import { freePort, makeTempDir, removeTempDir, runOciutil, startRegistry, type TestRegistry } from "./harness/index.js";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const D3 = `sha256:${"3".repeat(64)}`;

let tmp: string;
let registry: TestRegistry;

beforeAll(async () => {
  tmp = await makeTempDir("promote-manifest");
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await removeTempDir(tmp);
});

async function write(rel: string, text: string): Promise<string> {
  const p = join(tmp, rel);
  await mkdir(join(p, ".."), { recursive: true });
  await writeFile(p, text);
  return p;
}

/** Requests the registry logged (distribution logs each with http.request.uri). */
async function registryRequests(): Promise<number> {
  const log = await readFile(registry.logPath, "utf8");
  return (log.match(/http\.request\.uri=/g) ?? []).length;
}

describe("manifests as they are found in the wild", () => {
  it("reads comments, unquoted digests, block-style tag lists, null dmaps, names with / and one image in many blocks", async () => {
    const file = await write(
      "wild/promoter-manifest.yaml",
      `# Promotion for the wild subproject.
registries:
- name: ${registry.host}/staging # the source
  src: true
- name: ${registry.host}/prod
  service-account: promoter@example.iam.gserviceaccount.com
images:
- name: node-perf/npb-ep   # a name with a slash
  dmap:
    ${D1}: ["1.0", latest]
    "${D2}":
    - "1.1"
    - 1.10
- name: empty
  dmap:
- name: tagless
  dmap:
    ${D3}: []
- name: node-perf/npb-ep   # the same image again, one block per release
  dmap:
    ${D3}: [v2]
`,
    );
    const r = await runOciutil(["promote", "--manifest", file, "--validate-only", "--json"]);
    expect(r.stderr).toContain("note: service-account is unused");
    expect(r.code, r.stderr).toBe(0);
    // 1.0, latest, 1.1, 1.10 (a string, not the number 1.1), the tagless digest, and v2: six edges.
    expect(JSON.parse(r.stdout)).toEqual({ valid: true, edges: 6, destinations: 2 });
  });

  it("reads a thin directory: imagesPath ignored, an images file that is only a comment, other files left alone", async () => {
    const dir = join(tmp, "thin-wild");
    await write(
      "thin-wild/manifests/a/promoter-manifest.yaml",
      `imagesPath: images/a/images.yaml\nregistries:\n- name: ${registry.host}/staging\n  src: true\n- name: ${registry.host}/prod\n`,
    );
    await write("thin-wild/images/a/images.yaml", `- name: a\n  dmap:\n    ${D1}: [v1]\n`);
    await write("thin-wild/manifests/b/promoter-manifest.yaml", `registries:\n- name: ${registry.host}/staging\n  src: true\n- name: ${registry.host}/prod\n`);
    await write("thin-wild/images/b/images.yaml", "# nothing promoted from b yet\n");
    await write("thin-wild/manifests/README.md", "not a manifest\n");
    await write("thin-wild/manifests/c/OWNERS", "approvers: []\n");
    await write("thin-wild/images/orphan/images.yaml", "not: read\n");
    const r = await runOciutil(["promote", "--thin-manifest-dir", `${dir}/`, "--validate-only"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("manifests are valid: 1 edge to 1 destination repository");
    expect(r.stderr).toContain("note: imagesPath is unused");
  });

  it("refuses a thin manifest whose images file is missing, naming both", async () => {
    await write("thin-missing/manifests/x/promoter-manifest.yaml", `registries:\n- name: ${registry.host}/s\n  src: true\n`);
    await mkdir(join(tmp, "thin-missing/images"), { recursive: true });
    const r = await runOciutil(["promote", "--thin-manifest-dir", join(tmp, "thin-missing"), "--validate-only"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("thin-missing/manifests/x/promoter-manifest.yaml: (file): its images file");
    expect(r.stderr).toContain("thin-missing/images/x/images.yaml does not exist");
  });

  it("needs exactly one of --manifest and --thin-manifest-dir", async () => {
    const r = await runOciutil(["promote"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("ociutil: give exactly one of --manifest FILE and --thin-manifest-dir DIR");
  });
});

describe("validation before any network call", () => {
  it("reports every problem at once, with file, line and field, exits 2, and touches no registry", async () => {
    const dead = `127.0.0.1:${await freePort()}`; // nothing listens here: a connection attempt would fail differently
    const plain = await write(
      "errors/plain.yaml",
      `registries:
- name: ${registry.host}/staging
  src: true
- name: ${dead}/staging2
  src: true
- name: ""
- name: ${registry.host}/prod
  region: us
images:
- name: ""
  dmap:
    "sha256:abc": [ok]
- name: app
  dmap:
    ${D1}: ["-bad", "1.0"]
    ${D2}: ["1.0"]
    ${D2}: []
extra: true
`,
    );
    // A thin directory is validated just as strictly (kpromo skips validation there).
    await write("errors/thin/manifests/p/promoter-manifest.yaml", `registries:\n- name: ${registry.host}/staging\n  src: true\n- name: ${registry.host}/prod\nimages: []\n`);
    await write("errors/thin/images/p/images.yaml", `- name: app\n  dmap:\n    sha256:${"a".repeat(63)}: [v1]\n- name: Bad_Name\n  dmap:\n    ${D3}: [v1]\n`);
    await write("errors/thin/manifests/q/promoter-manifest.yaml", `registries:\n- name: ${registry.host}/prod\n`);
    await write("errors/thin/images/q/images.yaml", `- name: app\n  dmap:\n    ${D3}: [v1]\n`);

    const before = await registryRequests();
    const r = await runOciutil(["promote", "--manifest", plain, "--confirm"]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines.at(-1)).toBe("ociutil: 9 problems in the manifests; no registry was contacted");
    const expected = [
      `${plain}:5: registries[1].src: a second source registry`,
      `${plain}:6: registries[2].name: must not be empty`,
      `${plain}:8: registries[3]: unknown key "region"`,
      `${plain}:10: images[0].name: must not be empty`,
      `${plain}:12: images[0].dmap["sha256:abc"]: invalid digest "sha256:abc"`,
      `${plain}:15: images[1].dmap["${D1}"][0]: invalid tag "-bad"`,
      `${plain}:16: images[1].dmap["${D2}"][0]: ${registry.host}/prod/app:1.0 is claimed by two digests: ${D2} here and ${D1} at ${plain}:15`,
      `${plain}:17: (yaml): duplicate key "${D2}"`,
      `${plain}:18: (root): unknown key "extra"`,
    ];
    for (const e of expected) expect(lines.some((l) => l.startsWith(e)), `${e}\nin:\n${r.stderr}`).toBe(true);

    const thin = join(tmp, "errors/thin");
    const t = await runOciutil(["promote", "--thin-manifest-dir", thin, "--json"]);
    expect(t.code).toBe(2);
    const problems = JSON.parse(t.stdout).problems as Array<{ file: string; line: number; field: string; message: string }>;
    const short = problems.map((p) => `${p.file.slice(thin.length + 1)}:${p.line}: ${p.field}`);
    expect(short).toEqual([
      "images/p/images.yaml:3: images[0].dmap[\"sha256:" + "a".repeat(63) + "\"]",
      "images/p/images.yaml:4: images[1].name",
      // across manifests: p and q both claim prod/app:v1, for different digests
      `images/q/images.yaml:3: images[0].dmap["${D3}"][0]`,
      "manifests/p/promoter-manifest.yaml:5: (root)",
      "manifests/q/promoter-manifest.yaml:2: registries",
    ]);
    expect(problems[2]!.message).toBe(`${registry.host}/prod/app:v1 is claimed by two digests: ${D3} here and sha256:${"a".repeat(63)} at ${thin}/images/p/images.yaml:3`);
    expect(problems[3]!.message).toContain('unknown key "images"');
    expect(problems[4]!.message).toContain("no source registry");

    expect(await registryRequests()).toBe(before);
    // The counter does see requests: one GET /v2/ shows up in the log.
    await fetch(`${registry.url}/v2/`);
    await expect.poll(registryRequests, { timeout: 5000 }).toBeGreaterThan(before);
  });
});

describe("problem lines (found by property-remote-promote.test.ts)", () => {
  it("stay one line when the file puts a carriage return, a newline or an escape in what they quote", async () => {
    const file = await write("oneline/cr.yaml", '\rregistries:\n- name: registry.example/staging\n  src: true\nimages:\n- name: app\n  "k\\n-rwsr-xr-x \\e[31m": 1\n');
    const problems: Problem[] = [];
    await readPlainManifest(file, problems);
    const lines = problems.map(formatProblem);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).not.toMatch(/[\u0000-\u001f]/);
    expect(lines.some((l) => l.includes('unknown key "k\\u000a-rwsr-xr-x \\u001b[31m"'))).toBe(true);
  });
});

describe("snapshot --manifest-based-snapshot-of", () => {
  it("prints what a plain manifest promotes under a destination prefix, with no network", async () => {
    const dead = `127.0.0.1:${await freePort()}`; // nothing listens: a read would fail
    const file = await write(
      "msnap/promoter-manifest.yaml",
      `registries:
- name: ${dead}/staging
  src: true
- name: ${dead}/prod/eu
- name: ${dead}/mirror
images:
- name: web
  dmap:
    ${D2}: [b, a]
    ${D1}: []
- name: base/os
  dmap:
    ${D3}: ["1.10"]
- name: web
  dmap:
    ${D2}: [c]
`,
    );
    const r = await runOciutil(["snapshot", "--manifest-based-snapshot-of", `${dead}/prod`, "--manifest", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `- name: eu/base/os\n  dmap:\n    "${D3}": ["1.10"]\n` + `- name: eu/web\n  dmap:\n    "${D1}": []\n    "${D2}": ["a", "b", "c"]\n`,
    );
    const csv = await runOciutil(["snapshot", "--manifest-based-snapshot-of", `${dead}/mirror`, "--manifest", file, "--output", "csv"]);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toBe(`base/os@${D3},base/os:1.10\nweb@${D1},-\nweb@${D2},web:a\nweb@${D2},web:b\nweb@${D2},web:c\n`);
  });
});
