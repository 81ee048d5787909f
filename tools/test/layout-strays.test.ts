/**
 * Nothing left behind (issue 16 row 9): a pull killed with SIGKILL mid-blob leaves its temp file;
 * `verify` reports it and the next write into the layout removes it, but never a temp file a live
 * writer still uses. The stalled blob is a MOCK (the fault proxy's `stall`): a real registry on
 * loopback sends a few MB faster than the test can kill the pull.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readdir, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ociutilBundle } from "./harness/cli.js";
import {
  buildTestImage,
  makeTempDir,
  pushWithCrane,
  removeTempDir,
  runOciutil,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type TestRegistry,
} from "./harness/index.js";
import { sleep } from "./harness/util.js";
import { tempNameFor } from "../ociutil/util/temp-files.js";

let registry: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let bigLayer: string;
let smallDigest: string;
const running = new Set<ChildProcess>();

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host, []);
  tmp = await makeTempDir("layout-strays");
  await buildTestImage(join(tmp, "small"), { layers: [{ files: { "a.txt": "a" } }] });
  smallDigest = await pushWithCrane(join(tmp, "small"), `${registry.host}/strays/small:v1`);
  const big = await buildTestImage(join(tmp, "big"), { layers: [{ randomBytes: 4_000_000 }] });
  bigLayer = big.layerDigests[0]!;
  await pushWithCrane(join(tmp, "big"), `${registry.host}/strays/big:v1`);
}, 120_000);
afterAll(async () => {
  for (const child of running) child.kill("SIGKILL");
  await proxy?.stop();
  await registry?.stop();
  await removeTempDir(tmp);
});
beforeEach(() => proxy.setRules([]));

const pull = (name: string, out: string) => runOciutil(["pull", "--insecure", `${proxy.host}/strays/${name}:v1`, "-o", out]);
const verify = async (out: string) => {
  const r = await runOciutil(["verify", "--json", out]);
  return { code: r.code, ...(JSON.parse(r.stdout) as { strays: string[]; problems: string[] }) };
};
const tempFiles = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".tmp"));

/** Starts a pull of the big image whose layer stalls after 3 MB; resolves once its temp file holds 2 MiB. */
async function stalledPull(out: string): Promise<{ child: ChildProcess; temp: string }> {
  proxy.setRules([{ method: "GET", path: new RegExp(`/blobs/${bigLayer}$`), action: { kind: "stall", afterBytes: 3_000_000 } }]);
  const child = spawn(process.execPath, [ociutilBundle(), "pull", "--insecure", `${proxy.host}/strays/big:v1`, "-o", out], { stdio: "ignore" });
  running.add(child);
  child.on("exit", () => running.delete(child));
  const blobs = join(out, "blobs", "sha256");
  // Wait for the bytes to land, however busy the machine is (the test's own timeout bounds it).
  for (;;) {
    for (const f of await tempFiles(blobs)) {
      if (((await stat(join(blobs, f)).catch(() => undefined))?.size ?? 0) >= 2 << 20) return { child, temp: f };
    }
    if (child.exitCode !== null) throw new Error(`the stalled pull exited ${child.exitCode} before its temp file filled`);
    await sleep(50);
  }
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

describe("temp files of interrupted writes", () => {
  it("a pull killed mid-blob: verify reports its temp file, the same pull again removes it", async () => {
    const out = join(tmp, "killed");
    expect((await pull("small", out)).code).toBe(0);
    const { child, temp } = await stalledPull(out);
    await kill9(child);
    expect(await tempFiles(join(out, "blobs", "sha256"))).toEqual([temp]);

    const v = await verify(out);
    expect(v.code).toBe(1);
    expect(v.strays).toEqual([`blobs/sha256/${temp}`]);
    expect(v.problems).toEqual([expect.stringMatching(new RegExp(`^blobs/sha256/${temp.replace(/\./g, "\\.")}: a temp file an interrupted write left \\(its writer, pid ${child.pid}, is not running\\)`))]);
    const text = await runOciutil(["verify", out]);
    expect(text.stderr).toContain(`${out}: blobs/sha256/${temp}: a temp file an interrupted write left`);

    proxy.setRules([]);
    const again = await pull("big", out);
    expect(again.code, again.stderr).toBe(0);
    expect(await tempFiles(join(out, "blobs", "sha256"))).toEqual([]);
    expect(await verify(out)).toMatchObject({ code: 0, strays: [], problems: [] });
  });

  it("a live writer's temp file stays while another pull writes into the same layout", async () => {
    const out = join(tmp, "concurrent");
    const { child, temp } = await stalledPull(out);
    const other = await pull("small", out);
    expect(other.code, other.stderr).toBe(0);
    expect(await tempFiles(join(out, "blobs", "sha256"))).toEqual([temp]);
    const v = await verify(out);
    expect(v.strays).toEqual([`blobs/sha256/${temp}`]);
    expect(v.problems).toContainEqual(`blobs/sha256/${temp}: a temp file of a write still under way`);

    await kill9(child);
    proxy.setRules([]);
    expect((await pull("small", out)).code).toBe(0);
    expect(await tempFiles(join(out, "blobs", "sha256"))).toEqual([]);
  });

  it("temp files of writers on other hosts go after a day unmodified, not before", async () => {
    const out = join(tmp, "foreign");
    expect((await pull("small", out)).code).toBe(0);
    const blobs = join(out, "blobs", "sha256");
    const hex = bigLayer.slice("sha256:".length);
    const names = {
      recent: `.${hex}.0badf00d-4242.aaaaaaaaaaaa.tmp`,
      old: `.${hex}.0badf00d-4243.bbbbbbbbbbbb.tmp`,
      unhosted: `.index.json.4244.cccccccccccc.tmp`, // the name before writers carried a host
    };
    for (const name of [names.recent, names.old]) await writeFile(join(blobs, name), "partial");
    await writeFile(join(out, names.unhosted), "{");
    const twoDaysAgo = new Date(Date.now() - 48 * 3600 * 1000);
    await utimes(join(blobs, names.old), twoDaysAgo, twoDaysAgo);
    await utimes(join(out, names.unhosted), twoDaysAgo, twoDaysAgo);
    const v = await verify(out);
    expect(v.strays.sort()).toEqual([names.unhosted, `blobs/sha256/${names.old}`, `blobs/sha256/${names.recent}`].sort());

    expect((await pull("small", out)).code).toBe(0);
    expect(await tempFiles(blobs)).toEqual([names.recent]);
    expect(await tempFiles(out)).toEqual([]);
  });

  it("verify names a file in blobs/sha256 that is not a blob", async () => {
    const out = join(tmp, "junk");
    expect((await pull("small", out)).code).toBe(0);
    await writeFile(join(out, "blobs", "sha256", "notes.txt"), "x");
    const v = await verify(out);
    expect(v.code).toBe(1);
    expect(v.problems).toEqual(["blobs/sha256/notes.txt: not a blob (a blob's name is the sha256 digest of its content)"]);
  });

  it("promote --record removes the temp file of a record a killed run was writing, not a live one's", async () => {
    const dir = join(tmp, "promote");
    const manifest = join(tmp, "promote.yaml");
    await writeFile(
      manifest,
      `registries:\n- name: ${registry.host}/strays\n  src: true\n- name: ${registry.host}/prod\nimages:\n- name: small\n  dmap:\n    "${smallDigest}": ["v1"]\n`,
    );
    await mkdir(dir, { recursive: true });
    const exited = spawn(process.execPath, ["-e", "0"]);
    await new Promise((resolve) => exited.once("exit", resolve));
    const dead = tempNameFor("record.json").replace(`-${process.pid}.`, `-${exited.pid}.`);
    const live = tempNameFor("record.json"); // this test process: alive
    await writeFile(join(dir, dead), "{");
    await writeFile(join(dir, live), "{");
    const r = await runOciutil(["promote", "--insecure", "--manifest", manifest, "--record", join(dir, "record.json")]);
    expect(r.code, r.stderr).toBe(0);
    expect((await tempFiles(dir)).sort()).toEqual([live]);
  });
});
