/**
 * README.md's five-minute example, end to end, on the machine `.ci/setup` prepared: a registry on
 * loopback with a two-platform base image, the README's workspace under the real Bazel 7 (in the
 * Debian unstable rootfs), then the README's ociutil commands. Everything it starts is stopped and
 * every temp file removed, whether it succeeds, fails or is interrupted.
 *
 * The registry, Bazel and README modules are the test harness's (tools/test/harness/): the e2e tests
 * and this example run the same code, and tools/test/example.test.ts runs this example.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BazelWorkspace, MountedCheckout } from "../test/harness/bazel.js";
import { REPO_ROOT } from "../test/harness/cli.js";
import { buildTestIndex, type BuiltIndex } from "../test/harness/images.js";
import { runTool, type RunResult } from "../test/harness/peers.js";
import { README, readmeBlock, readmeModule } from "../test/harness/readme.js";
import { logMark } from "../test/harness/registry-log.js";
import { startRegistry, type TestRegistry } from "../test/harness/registry.js";
import { pidsNaming, sleep } from "../test/harness/util.js";
import { baseLayers } from "./base.js";
import { bytes, describeServed, mountedBlobs } from "./served.js";

export interface ExampleOptions {
  /** Prints one line of progress (stdout). */
  say: (line: string) => void;
  /** Aborted on ^C or SIGTERM: the running step is interrupted, then everything is cleaned up. */
  signal: AbortSignal;
  /** The README whose example blocks run (default: this checkout's README.md). */
  readme?: string;
}

/** A step failed: its message is the one line to print. */
export class StepError extends Error {}

/** The example was interrupted (SIGINT/SIGTERM): cleanup ran. */
export class Interrupted extends Error {}

const BUNDLE = join(REPO_ROOT, "oci", "private", "ociutil.mjs");
/** The files of e2e/smoke that README.md's BUILD.bazel example uses, and its .bazelrc. */
const WORKSPACE_FILES = [".bazelrc", "app/config.txt", "app/hello.sh", "umoci_check.sh"];
const STEPS = 7;

export function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim().split("\n")[0] ?? "";
}

/** The first line of Bazel's output that says what went wrong. */
function bazelError(r: RunResult): string {
  const lines = `${r.stderr}\n${r.stdout}`.split("\n").map((l) => l.trim());
  return (
    lines.find((l) => /^ERROR: /.test(l) && !/^ERROR: Build did NOT complete/.test(l)) ??
    lines.find((l) => / FAILED in /.test(l)) ??
    lines.filter((l) => l !== "").pop() ??
    `exit ${r.code}`
  );
}

/**
 * `bazel shutdown`, until no process names the output base. A server that was still starting when ^C
 * stopped its client comes up after the first shutdown (which found none): shut that one down too,
 * and kill what is left after 30 s.
 */
async function shutDown(ws: BazelWorkspace, outputBase: string): Promise<void> {
  ws.signal = undefined;
  const r = await ws.bazel("shutdown");
  if (r.code !== 0) throw new Error(bazelError(r));
  for (let i = 0; i < 30 && pidsNaming(outputBase).length > 0; i++) {
    await sleep(1000);
    await ws.bazel("shutdown");
  }
  for (const { pid } of pidsNaming(outputBase)) process.kill(pid, "SIGKILL");
}

export async function runExample(opts: ExampleOptions): Promise<void> {
  const { say, signal } = opts;
  const readme = opts.readme ?? README;
  const checkIn = () => {
    if (signal.aborted) throw new Interrupted("interrupted");
  };
  const step = (n: number, what: string) => say(`[${n}/${STEPS}] ${what}`);
  /** Undone in reverse order, whatever happens. */
  const undo: Array<[string, () => Promise<unknown> | unknown]> = [];
  const checkout = new MountedCheckout();
  let failed: unknown;
  try {
    step(1, "a registry on loopback, with its own storage");
    const registry: TestRegistry = await startRegistry();
    undo.push(["stop the registry", () => registry.stop()]);
    const reg = registry.host;
    say(`      docker-registry on ${reg}, storage in ${registry.dir} (removed at the end)`);
    checkIn();

    // The temp dir is inside the rootfs: Bazel (in the chroot) needs the workspace and its output base there.
    const tmp = await mkdtemp(join(checkout.host("/tmp"), "rules_ociutil-example-"));
    undo.push(["remove the temp files", () => rm(tmp, { recursive: true, force: true })]);
    const inRootfs = (p: string) => p.slice(checkout.rootfs.length);

    step(2, "a two-platform, multi-layer base image, pushed with ociutil");
    const built: BuiltIndex = await buildTestIndex(join(tmp, "base"), [
      { platform: { os: "linux", architecture: "amd64" }, layers: baseLayers("amd64") },
      { platform: { os: "linux", architecture: "arm64" }, layers: baseLayers("arm64") },
    ]);
    const digest = built.indexDigest;
    for (const ref of [`${reg}/e2e/base:v1`, `${reg}/base:v1`]) {
      const r = await runTool(process.execPath, [BUNDLE, "push", join(tmp, "base"), ref], { signal });
      checkIn();
      if (r.code !== 0) throw new StepError(`ociutil push of the base to ${ref} failed: ${oneLine(r.stderr) || `exit ${r.code}`}`);
    }
    const counts = [...new Set(built.images.map((i) => i.layerDigests.length))];
    const layerCount = counts.length === 1 ? `${counts[0]} layers each` : `${counts.join(", ")} layers`;
    say(`      ${reg}/e2e/base@${digest}: linux/amd64 and linux/arm64, ${layerCount} (also ${reg}/base:v1, for the ociutil example)`);

    step(3, "README.md's MODULE.bazel and BUILD.bazel, in a new workspace");
    const wsDir = join(tmp, "workspace");
    await mkdir(wsDir);
    for (const f of WORKSPACE_FILES) await cp(join(REPO_ROOT, "e2e", "smoke", f), join(wsDir, f), { recursive: true });
    await checkout.mount();
    undo.push(["unmount the checkout", () => checkout.unmount()]);
    const module = [
      "# README.md's example with this run's registry and base digest; rules_ociutil from this checkout.",
      await readmeModule(reg, digest, readme),
      `local_path_override(module_name = "rules_ociutil", path = "${checkout.src}")`,
      "",
    ].join("\n");
    await writeFile(join(wsDir, "MODULE.bazel"), module);
    await writeFile(join(wsDir, "BUILD.bazel"), await readmeBlock("build", "starlark", readme));
    // Its own output base, repository cache and server temp dir (where the server unpacks its JNI
    // library, and leaves it), removed with the temp dir: a new user's first build, nothing cached
    // from an earlier run, nothing left behind.
    const rc = join(tmp, "example.bazelrc");
    await writeFile(rc, `common --repository_cache=${inRootfs(join(tmp, "repository_cache"))}\n`);
    await mkdir(join(tmp, "server_tmp"));
    const startup = [
      `--output_base=${inRootfs(join(tmp, "output_base"))}`,
      `--bazelrc=${inRootfs(rc)}`,
      `--host_jvm_args=-Djava.io.tmpdir=${inRootfs(join(tmp, "server_tmp"))}`,
    ];
    const ws = new BazelWorkspace(checkout, inRootfs(wsDir), startup.join(" "));
    ws.signal = signal;
    undo.push(["shut down Bazel", () => shutDown(ws, inRootfs(join(tmp, "output_base")))]);
    say(`      ${wsDir} (registry ${reg} and digest put in; removed at the end)`);

    const bazel = async (args: string, env = "", timed = true): Promise<RunResult> => {
      const t0 = Date.now();
      const r = await ws.bazel(args, env);
      checkIn();
      if (r.code !== 0) throw new StepError(`bazel ${args} failed: ${bazelError(r)}`);
      if (timed) say(`      done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return r;
    };

    step(4, "bazel build //:app   (the base stays shallow: manifests and configs only)");
    let mark = await logMark(registry);
    await bazel("build //:app");
    say(`      fetched ${await describeServed(registry, mark, built, "build")}`);
    await ws.info();

    step(5, "bazel test //...   (the scan test gets the complete image)");
    mark = await logMark(registry);
    const test = await bazel("test //...");
    const passed = `${test.stdout}\n${test.stderr}`.split("\n").find((l) => /^\/\/:app_unpacks\s.*PASSED/.test(l));
    if (passed === undefined) throw new StepError("bazel test //... passed but did not run //:app_unpacks");
    say(`      ${passed.replace(/\s+/g, " ").trim()}`);
    const testlog = await readFile(ws.bin("app_unpacks/test.log").replace(/\/bin\/app_unpacks\//, "/testlogs/app_unpacks/"), "utf8").catch(() => "");
    const scanned = testlog.split("\n").find((l) => l.startsWith("umoci_check:"));
    if (scanned !== undefined) say(`      ${scanned}   (etc/base-only.txt comes from a base layer)`);
    say(`      the full pull (@base_all) fetched ${await describeServed(registry, mark, built, "test")}`);
    await bazel("build --output_groups=+stats //:app_layout", "", false);
    const stats = await ws.json<{ blobs: number; linked: number; copied: number; bytes: number }>("app_layout_/stats.json");
    say(`      layout: ${ws.bin("app_layout")}   (bazel-bin/app_layout in the workspace)`);
    say(`      ${stats.blobs} blobs (${bytes(stats.bytes)}): ${stats.linked} hard-linked from the pulled base and the image's outputs, ${stats.copied} copied`);

    step(6, "bazel run //:app_push   (OCI_PUSH_REPOSITORY set to this registry)");
    mark = await logMark(registry);
    const push = await bazel("run //:app_push", `OCI_PUSH_REPOSITORY=${reg}/e2e/app`);
    const pushed = push.stdout.trim().split("\n").pop() ?? "";
    if (!/^\S+\/e2e\/app@sha256:[0-9a-f]{64}$/.test(pushed)) throw new StepError(`bazel run //:app_push printed no registry/repo@digest: ${pushed}`);
    say(`      pushed ${pushed}`);
    say(`      ${await mountedBlobs(registry, mark)} base blob(s) mounted from e2e/base, not uploaded`);

    step(7, "README.md's ociutil example (REGISTRY=" + reg + ")");
    const cliDir = join(tmp, "cli");
    await mkdir(cliDir);
    // The DEBUG trap echoes each of the block's commands as written, before its output.
    const echo = `trap 'printf "$ %s\\n" "$BASH_COMMAND"' DEBUG\n`;
    const cli = await runTool("/bin/bash", ["-euo", "pipefail", "-c", echo + (await readmeBlock("cli", "sh", readme))], {
      cwd: cliDir,
      env: { REGISTRY: reg, OCIUTIL: BUNDLE },
      signal,
    });
    checkIn();
    if (cli.code !== 0) throw new StepError(`README.md's ociutil example failed: ${oneLine(cli.stderr) || `exit ${cli.code}`}`);
    for (const line of cli.stdout.trimEnd().split("\n")) say(`      ${line.length > 160 ? `${line.slice(0, 157)}...` : line}`);
  } catch (e) {
    failed = e;
  } finally {
    const failures: string[] = [];
    for (const [what, fn] of undo.reverse()) {
      try {
        await fn();
      } catch (e) {
        failures.push(`could not ${what}: ${oneLine(e)}`);
      }
    }
    if (failures.length > 0) {
      // The step's failure comes first: it is why the user is reading.
      const also = failures.join("; ");
      if (failed instanceof Interrupted) throw new Interrupted(`interrupted; ${also}`);
      throw new StepError(failed === undefined ? also : `${oneLine(failed)}; and ${also}`);
    }
  }
  if (failed !== undefined) throw failed;
  say("done: registry stopped, Bazel shut down, temp files removed.");
}

