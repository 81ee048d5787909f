/**
 * `ociutil promote` under rate limits: `--qps N` paces the requests to each registry, and a 429 with
 * Retry-After holds back every request to that registry until then, with bounded retries.
 * The 429s are MOCKED by the fault proxy (a real docker-registry never rate-limits); the registries
 * behind it are real.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { retryAfterMs } from "../ociutil/remote/transport.js";
import { makeTempDir, removeTempDir, runOciutil, seedImage, startFaultProxy, startRegistry, type FaultProxy, type TestRegistry } from "./harness/index.js";

let staging: TestRegistry;
let prod: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
const digests: string[] = [];

async function manifestFor(dest: string): Promise<string> {
  const file = join(tmp, `${dest.replace(/[^a-z0-9]/gi, "_")}.yaml`);
  const images = digests.map((d, i) => `- name: app${i}\n  dmap:\n    "${d}": ["1.0"]\n`).join("");
  await writeFile(file, `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${proxy.host}/${dest}\nimages:\n${images}`);
  return file;
}

beforeAll(async () => {
  [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
  proxy = await startFaultProxy(prod.host, []);
  tmp = await makeTempDir("promote-ratelimit");
  for (let i = 0; i < 3; i++) digests.push(await seedImage(staging, `staging/app${i}:1.0`, { layers: [{ files: { "f.txt": `image ${i}` } }] }));
}, 120_000);
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([staging?.stop(), prod?.stop()]);
  await removeTempDir(tmp);
});

describe("429 Too Many Requests (mocked by the fault proxy)", () => {
  it("a 429 with Retry-After: 1 holds back every request to that registry for a second, then the run completes", async () => {
    const file = await manifestFor("waited");
    // The first manifest PUT is refused with Retry-After: 1 second.
    proxy.setRules([{ method: "PUT", path: /\/manifests\//, times: 1, action: { kind: "status", status: 429, headers: { "retry-after": "1" } } }]);
    proxy.requests.length = 0;
    const r = await runOciutil(["promote", "--insecure", "--manifest", file, "--confirm", "--jobs", "3", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).summary).toMatchObject({ copied: 3, failed: 0 });
    expect(proxy.ruleHits).toEqual([1]);
    const refused = proxy.requests.find((q) => q.status === 429)!;
    // In the second after the 429, only what the other two jobs had already sent (one request each
    // at most) reached the registry: the other jobs waited too. Then the run went on.
    const within = proxy.requests.filter((q) => q.at! > refused.at! && q.at! < refused.at! + 950);
    expect(within.length).toBeLessThanOrEqual(2);
    expect(proxy.requests.filter((q) => q.at! >= refused.at! + 950).length).toBeGreaterThan(0);
  });

  it("a registry that keeps answering 429 fails its edges after bounded retries (10 attempts), naming the 429", async () => {
    const file = await manifestFor("refused");
    proxy.setRules([{ method: "PUT", path: /\/manifests\//, action: { kind: "status", status: 429, headers: { "retry-after": "0" } } }]);
    proxy.requests.length = 0;
    const r = await runOciutil(["promote", "--insecure", "--manifest", file, "--confirm", "--jobs", "3", "--json"]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.summary).toMatchObject({ copied: 0, failed: 3 });
    for (const e of report.edges) expect(e.detail).toMatch(/429/);
    // 10 attempts per refused manifest PUT (a quota window outlasts a dropped connection's 5), then
    // the edge fails: 3 images, 30 PUTs in all.
    expect(proxy.requests.filter((q) => q.method === "PUT" && q.path.includes("/manifests/"))).toHaveLength(30);
    expect(r.stderr).toMatch(/3 failed/);
    proxy.setRules([]);
  });
});

describe("--qps", () => {
  it("--qps 10 sends no more than 10 requests a second to a registry", async () => {
    const file = await manifestFor("paced");
    proxy.setRules([]);
    proxy.requests.length = 0;
    const r = await runOciutil(["promote", "--insecure", "--manifest", file, "--confirm", "--jobs", "3", "--qps", "10", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).summary).toMatchObject({ copied: 3 });
    const times = proxy.requests.map((q) => q.at!).sort((a, b) => a - b);
    expect(times.length).toBeGreaterThan(20);
    // Any 11 requests in a row were sent a second or more apart; they arrive within 200 ms of that
    // on a loaded machine (without --qps the same 11 arrive within some tens of ms).
    const spans = times.slice(10).map((t, i) => t - times[i]!);
    expect(Math.min(...spans)).toBeGreaterThanOrEqual(800);
  });

  it("refuses a --qps that is not a positive number", async () => {
    const r = await runOciutil(["promote", "--insecure", "--manifest", "x.yaml", "--qps", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('ociutil: --qps must be a positive number, got "0"');
  });
});

describe("Retry-After", () => {
  it("reads delay-seconds and HTTP-dates, and ignores what is neither", () => {
    const now = Date.parse("Mon, 30 Nov 2026 12:00:00 GMT");
    expect(retryAfterMs("3", now)).toBe(3000);
    expect(retryAfterMs("Mon, 30 Nov 2026 12:00:07 GMT", now)).toBe(7000);
    expect(retryAfterMs("Mon, 30 Nov 2026 11:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs("-1", now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
