/**
 * `ociutil promote` under rate limits: `--qps N` paces the requests to each registry, and a 429 with
 * Retry-After holds back every request to that registry until then, with bounded retries.
 * The 429s are MOCKED by the fault proxy (a real docker-registry never rate-limits); the registries
 * behind it are real.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RequestGate } from "../ociutil/remote/ratelimit.js";
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
    // The refused PUT was sent again no sooner than Retry-After says. A lower bound: a busy machine
    // only makes the wait longer. That the pause holds back the other jobs too is shown without the
    // clock by the RequestGate tests below (how many requests were already under way when the 429
    // arrived depends on the machine's speed, so the proxy's log cannot show it reliably).
    const retried = proxy.requests.find((q) => q.method === "PUT" && q.path === refused.path && q.at! > refused.at!)!;
    expect(retried.status).toBe(201);
    expect(retried.at! - refused.at!).toBeGreaterThanOrEqual(1000);
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
    const started = Date.now();
    const r = await runOciutil(["promote", "--insecure", "--manifest", file, "--confirm", "--jobs", "3", "--qps", "10", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).summary).toMatchObject({ copied: 3 });
    const times = proxy.requests.map((q) => q.at!).sort((a, b) => a - b);
    expect(times.length).toBeGreaterThan(20);
    // The k-th request (0-based) was sent no sooner than k/10 s after the run started, so the k-th
    // to arrive arrived no sooner either: lower bounds only, which a busy machine cannot break.
    // (Without --qps, the first 20 arrive within some tens of ms.)
    // (A timer may fire up to a millisecond before Date.now() reaches its slot: hence the - 1.)
    for (const [k, t] of times.entries()) expect(t - started, `request ${k}`).toBeGreaterThanOrEqual(k * 100 - 1);
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

describe("RequestGate", () => {
  /** Resolves with the order in which `n` callers got through the gate. */
  async function through(gate: RequestGate, n: number, log: string[], who: string): Promise<void> {
    await Promise.all(Array.from({ length: n }, (_, i) => gate.acquire().then(() => void log.push(`${who}${i}`))));
  }

  it("holds back every caller while paused, including those that arrive during the pause", async () => {
    const gate = new RequestGate();
    const log: string[] = [];
    const started = Date.now();
    gate.pause(300);
    const early = through(gate, 3, log, "early");
    // A caller that was not waiting when the pause began is held back just the same.
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual([]);
    const late = through(gate, 2, log, "late");
    await Promise.all([early, late]);
    expect(log.sort()).toEqual(["early0", "early1", "early2", "late0", "late1"]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it("a pause extended while callers wait holds them to the later end", async () => {
    const gate = new RequestGate();
    const started = Date.now();
    gate.pause(100);
    const waiting = gate.acquire();
    gate.pause(400); // another request got a 429 meanwhile
    await waiting;
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it("with a rate, the k-th caller goes no sooner than k intervals after the first", async () => {
    const gate = new RequestGate(20); // 50 ms apart
    const started = Date.now();
    const at: number[] = [];
    await Promise.all(Array.from({ length: 6 }, () => gate.acquire().then(() => void at.push(Date.now() - started))));
    at.sort((a, b) => a - b);
    for (const [k, t] of at.entries()) expect(t).toBeGreaterThanOrEqual(k * 50 - 1);
  });
});
