/**
 * `npm run example` (tools/example/), run as a user runs it: README.md's five-minute example end to
 * end, against a registry it starts on loopback, under the real Bazel 7 in the Debian unstable rootfs.
 * Checks the lines a user should notice, the exit code, and that nothing is left behind: the registry
 * stopped (its port closed, its storage gone), Bazel's server shut down (no process names the temp
 * dir), the checkout unmounted and the temp dirs removed, after a success, a failing step and ^C.
 *
 * Needs root and the rootfs of `.ci/setup-sid-rootfs`, as e2e.test.ts does.
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { README, REPO_ROOT, makeTempDir, pidsNaming, removeTempDir, runTool, sidRootfs, type RunResult } from "./harness/index.js";

const RUN = join(REPO_ROOT, "tools", "example", "run.mjs");
const MOUNT = join(sidRootfs(), "src", createHash("sha256").update(REPO_ROOT).digest("hex").slice(0, 12));

function isMountpoint(p: string): boolean {
  try {
    execFileSync("mountpoint", ["-q", p]);
    return true;
  } catch {
    return false;
  }
}

/** What the run printed that it started: the registry (address, storage) and the temp dir. */
function started(out: string): { registry?: string; registryDir?: string; tmp?: string } {
  const reg = /docker-registry on (127\.0\.0\.1:\d+), storage in (\S+)/.exec(out);
  const tmp = /^\s+(\/\S+\/rules_ociutil-example-\w+)\/workspace /m.exec(out);
  return { registry: reg?.[1], registryDir: reg?.[2], tmp: tmp?.[1] };
}

let mountedBefore = false;

async function expectNothingLeft(out: string, { workspace = true } = {}): Promise<void> {
  const s = started(out);
  expect(s.registry, `the run names its registry:\n${out}`).toBeDefined();
  await expect(fetch(`http://${s.registry}/v2/`, { signal: AbortSignal.timeout(5000) }), "registry stopped").rejects.toThrow();
  expect(existsSync(s.registryDir!), "registry storage removed").toBe(false);
  expect(pidsNaming(basename(s.registryDir!)), "no registry process").toEqual([]);
  if (workspace) {
    expect(s.tmp, `the run names its workspace:\n${out}`).toBeDefined();
    expect(existsSync(s.tmp!), "temp dir (workspace, output base) removed").toBe(false);
    expect(pidsNaming(basename(s.tmp!)), "no Bazel server for the example's output base").toEqual([]);
  }
  expect(isMountpoint(MOUNT), "the checkout's mount is as it was before").toBe(mountedBefore);
}

function example(args: string[] = [], env: Record<string, string> = {}): Promise<RunResult> {
  return runTool(process.execPath, [RUN, ...args], { cwd: REPO_ROOT, env, timeoutMs: 900_000 });
}

let tmp: string;
beforeAll(async () => {
  mountedBefore = isMountpoint(MOUNT);
  tmp = await makeTempDir("example");
});
afterAll(async () => {
  if (tmp) await removeTempDir(tmp);
});

describe("npm run example", () => {
  it("runs README.md's example end to end, printing what a user should notice", async () => {
    const r = await runTool("npm", ["run", "-s", "example"], { cwd: REPO_ROOT, timeoutMs: 900_000 });
    expect(r.stderr).toBe("");
    expect(r.code, r.stdout).toBe(0);
    const out = r.stdout;
    // bazel build: the shallow pull fetched the base's three manifests (index, amd64, arm64) and two configs, no layer.
    expect(out).toMatch(/^ {6}fetched 3 manifests and 2 configs \(\d+ bytes\); no layer of the base's 6 \(\d+ KiB\)$/m);
    expect(out).toMatch(/^ {6}\/\/:app_unpacks PASSED in [\d.]+s$/m);
    expect(out).toMatch(/^ {6}umoci_check: 2 path\(s\) found in the unpacked image/m);
    // bazel test: the full pull fetched every layer of both platforms (the 1 MiB ones included), once.
    expect(out).toMatch(/^ {6}the full pull \(@base_all\) fetched 6 layers of the base's 6 \(20\d\d KiB\)$/m);
    expect(out).toMatch(/^ {6}layout: \/\S+\/bin\/app_layout /m);
    const stats = /^ {6}(\d+) blobs \(\d+ KiB\): (\d+) hard-linked .*, (\d+) copied$/m.exec(out);
    expect(stats, out).not.toBeNull();
    expect(Number(stats![2]) + Number(stats![3])).toBe(Number(stats![1]));
    expect(out).toMatch(/^ {6}pushed 127\.0\.0\.1:\d+\/e2e\/app@sha256:[0-9a-f]{64}$/m);
    expect(out).toMatch(/^ {6}3 base blob\(s\) mounted from e2e\/base, not uploaded$/m);
    expect(out).toMatch(/^ {6}\$ ociutil verify \.\/base\n {6}\.\/base: ok /m);
    expect(out).toMatch(/^ {6}\$ ociutil push \.\/shallow "\$REGISTRY\/app:v1"\n {6}127\.0\.0\.1:\d+\/app@sha256:/m);
    for (const doc of ["docs/rules.md", "docs/cli/README.md"]) {
      expect(out).toContain(doc);
      expect(existsSync(join(REPO_ROOT, doc)), `${doc} exists`).toBe(true);
    }
    await expectNothingLeft(out);
  });

  it("a failing step: one line on stderr, exit 1, nothing left running", async () => {
    // A README being edited whose BUILD example names a file the workspace does not have.
    const readme = (await readFile(README, "utf8")).replace('"app/hello.sh",\n    ],', '"app/hello.sh",\n        "app/missing.txt",\n    ],');
    expect(readme).toContain("app/missing.txt");
    await writeFile(join(tmp, "README.md"), readme);
    const r = await example(["--readme", join(tmp, "README.md")]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^example: bazel build \/\/:app failed: ERROR: .*missing input file '\/\/:app\/missing\.txt'\n$/);
    await expectNothingLeft(r.stdout);
  });

  // ^C while Bazel's server is starting (its client stopped, it comes up anyway) and while it builds.
  for (const [when, delayMs] of [["while Bazel's server starts", 500], ["while Bazel builds", 5000]] as const) {
    it(`^C ${when}: interrupted, then everything stopped and removed`, async () => {
      const child = spawn(process.execPath, [RUN], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stderr.on("data", (b: Buffer) => (err += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (b: Buffer) => {
          out += b.toString();
          if (out.includes("[4/7] bazel build")) resolve();
        });
        void exited.then(() => reject(new Error(`exited before bazel build:\n${out}\n${err}`)));
      });
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill("SIGINT");
      expect(await exited, err).toBe(130);
      expect(err).toBe("example: interrupted; registry stopped, Bazel shut down, temp files removed (SIGINT)\n");
      await expectNothingLeft(out);
    });
  }

  it("not set up yet: says to run .ci/setup", async () => {
    const r = await example([], { OCIUTIL_SID_ROOTFS: join(tmp, "no-rootfs") });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`example: not set up yet (no Bazel in ${join(tmp, "no-rootfs")}): run \`bash .ci/setup\` as root\n`);
    expect(r.stdout).toBe("");
  });

  it("not root: says so, before starting anything", async () => {
    const r = await runTool("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, RUN], { cwd: REPO_ROOT });
    expect(r.stderr).toMatch(/^example: needs root: Bazel runs in the Debian unstable rootfs through chroot .*; run it as root\n$/);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
  });
});
