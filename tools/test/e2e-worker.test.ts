/**
 * ociutil's persistent worker under the real Bazel 7 (issue 18): e2e/worker has every kind of
 * ociutil action, and each way Bazel can run them must write the same bytes:
 * - the default: Bazel's multiplex worker, in the execroot;
 * - the worker with a sandbox directory per request (--experimental_worker_multiplex_sandboxing);
 * - `--spawn_strategy=sandboxed`: each action its own `node ociutil.mjs @paramfile` process, which is
 *   the command line a remote executor runs (it ignores the worker requirements);
 * - `--@rules_ociutil//oci:persistent_worker=false`, the documented way off: the command line of old.
 * Each build starts from `bazel clean`, so every action runs again, and the summary line says which
 * strategy ran them.
 */
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BazelWorkspace, MountedCheckout } from "./harness/index.js";

const checkout = new MountedCheckout();
const ws = new BazelWorkspace(checkout, `${checkout.src}/e2e/worker`);
const TARGETS = "//:app //:app_plus //:app_index //:index_layout //:load //:push";

/** sha256 of every regular file under bazel-bin, by path; param files are the command line, not output. */
async function outputs(): Promise<Map<string, string>> {
  const root = checkout.host(ws.bazelBin);
  const out = new Map<string, string>();
  async function walk(rel: string): Promise<void> {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && !p.endsWith(".params")) out.set(p, createHash("sha256").update(await readFile(join(root, p))).digest("hex"));
    }
  }
  await walk("");
  return out;
}

/** The logs of the worker processes Bazel started: multiplex-worker-N-Mnemonic.log, or worker-N-... for singleplex. */
async function workerLogs(): Promise<string[]> {
  return (await readdir(checkout.host(join(ws.outputBase, "bazel-workers"))).catch(() => [] as string[])).filter((n) => n.endsWith(".log"));
}

/** Builds from clean with `flags`; the outputs and Bazel's "N processes: ..." summary. */
async function build(flags: string): Promise<{ files: Map<string, string>; processes: string }> {
  await ws.mustBazel("clean");
  const r = await ws.mustBazel(`build ${flags} ${TARGETS}`);
  const processes = /^INFO: \d+ process(?:es)?: (.*)\.$/m.exec(r.stderr)?.[1] ?? "";
  return { files: await outputs(), processes };
}

beforeAll(async () => {
  await checkout.mount();
  await ws.info();
}, 600_000);

afterAll(async () => {
  await ws.bazel("shutdown").catch(() => undefined);
  checkout.unmount();
});

describe("the persistent worker (e2e/worker)", () => {
  it("writes the same outputs as one process per action, sandboxed or not, and as the way off", async () => {
    const worker = await build("");
    expect(worker.processes).toMatch(/\d+ worker/);
    expect(worker.files.size).toBeGreaterThan(20);
    const multiplexOnly = async (): Promise<void> => {
      const logs = await workerLogs();
      expect(logs.some((n) => /^multiplex-worker-\d+-OciImage\.log$/.test(n)), logs.join(" ")).toBe(true);
      expect(logs.filter((n) => /^worker-\d+-Oci/.test(n))).toEqual([]); // no singleplex fallback
    };
    await multiplexOnly();

    const sandboxedWorker = await build("--worker_sandboxing --experimental_worker_multiplex_sandboxing");
    expect(sandboxedWorker.processes).toMatch(/\d+ worker/);
    await multiplexOnly();
    expect(Object.fromEntries(sandboxedWorker.files)).toEqual(Object.fromEntries(worker.files));

    const oneShot = await build("--spawn_strategy=sandboxed");
    expect(oneShot.processes).not.toMatch(/worker/);
    expect(oneShot.processes).toMatch(/sandbox/);
    expect(Object.fromEntries(oneShot.files)).toEqual(Object.fromEntries(worker.files));

    const off = await build("--@rules_ociutil//oci:persistent_worker=false");
    expect(off.processes).not.toMatch(/worker/);
    expect(Object.fromEntries(off.files)).toEqual(Object.fromEntries(worker.files));
  }, 900_000);
});
