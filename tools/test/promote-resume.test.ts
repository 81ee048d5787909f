/**
 * `ociutil promote --confirm` killed part way (SIGKILL, as a CI timeout would) and run again: the
 * second run finishes the job and uploads no blob the first one had already uploaded.
 */
import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { makeTempDir, mustRun, ociutilBundle, peer, removeTempDir, runOciutil, seedImage, startRegistry, type TestRegistry } from "./harness/index.js";

let staging: TestRegistry;
let prod: TestRegistry;
let tmp: string;
const digests: string[] = [];

beforeAll(async () => {
  [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
  tmp = await makeTempDir("promote-resume");
  for (let i = 0; i < 6; i++) {
    digests.push(await seedImage(staging, `staging/big${i}:v1`, { layers: [{ randomBytes: 3 << 20 }, { files: { [`f${i}`]: String(i) } }] }));
  }
}, 120_000);
afterAll(async () => {
  await Promise.all([staging?.stop(), prod?.stop()]);
  await removeTempDir(tmp);
});

/** Completed blob uploads in the destination's log, by digest. */
async function uploads(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of (await readFile(prod.logPath, "utf8")).split("\n")) {
    if (!line.includes("http.request.method=PUT") || !line.includes("http.response.status=201")) continue;
    const m = /blobs\/uploads\/[^"]*digest=sha256(?:%3A|:)([0-9a-f]{64})/.exec(line);
    if (m) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  }
  return counts;
}

it("a run killed after its first uploads, started again, finishes and uploads nothing twice", async () => {
  const images = digests.map((dg, i) => `- name: big${i}\n  dmap:\n    ${dg}: [v1]\n`).join("");
  const file = join(tmp, "manifest.yaml");
  await mkdir(tmp, { recursive: true });
  await writeFile(file, `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${prod.host}/prod\nimages:\n${images}`);
  const args = [ociutilBundle(), "promote", "--insecure", "--manifest", file, "--confirm", "--jobs", "1"];

  // Kill it as soon as the destination has taken its first blob.
  const child = spawn(process.execPath, args, { stdio: "ignore" });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while ((await uploads()).size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill("SIGKILL");
  const code = await exited;
  expect(code, "the first run finished before it could be killed: make the images bigger").toBeNull();
  const before = await uploads();
  expect(before.size).toBeGreaterThan(0);

  const r = await runOciutil(["promote", "--insecure", "--manifest", file, "--confirm", "--json"]);
  expect(r.code, r.stderr).toBe(0);
  const outcomes = (JSON.parse(r.stdout).edges as Array<{ outcome: string }>).map((e) => e.outcome);
  expect(outcomes).toHaveLength(6);
  expect(outcomes.every((o) => o === "copied" || o === "present")).toBe(true);
  expect(outcomes).toContain("copied");

  const after = await uploads();
  for (const [digest, n] of after) expect(n, `blob ${digest} uploaded ${n} times`).toBe(1);
  for (const [i, dg] of digests.entries()) {
    expect((await mustRun(peer("crane"), ["digest", `${prod.host}/prod/big${i}:v1`, "--insecure"])).stdout.trim()).toBe(dg);
  }
  const again = await runOciutil(["promote", "--insecure", "--manifest", file, "--confirm"]);
  expect(again.stdout.trim()).toBe("nothing to do: all 6 edges are already in place");
}, 120_000);
