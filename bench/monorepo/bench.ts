/**
 * ociutil's actions at monorepo scale (issue 18), under the real Bazel 7 of the sid rootfs: a
 * generated workspace (workspace.ts) built cold and after one app file changes, three ways:
 * - worker: the default, ociutil's persistent worker;
 * - one process each: `--@rules_ociutil//oci:persistent_worker=false`, `node ociutil.mjs ARGS` per action;
 * - floor: the same graph and command lines with `node` replaced by a shell script that only creates
 *   the action's declared outputs (the part of a build that is Bazel's own).
 * Each build is preceded by an analysis-only build with the same flags and `bazel clean`, so the
 * timed build executes every action and analyses nothing. The variants take turns in each run.
 * Run it with `node bench/monorepo.mjs [--images N] [--runs N]` (see docs/bench.md).
 */
import { chmod, rm, writeFile } from "node:fs/promises";
import { loadavg, cpus } from "node:os";
import { join } from "node:path";
import {
  BazelWorkspace,
  MountedCheckout,
  OUTPUT_USER_ROOT,
  buildTestImage,
  makeTempDir,
  pushWithCrane,
  removeTempDir,
  startRegistry,
  type TestRegistry,
} from "../../tools/test/harness/index.js";
import { cpuBetween, median, readExecutionLog, sampleCpu, type Spawn } from "./measure.js";
import { appFile, writeWorkspace } from "./workspace.js";

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const IMAGES = Number(flag("--images", "200"));
const RUNS = Number(flag("--runs", "1"));
if (!(Number.isInteger(IMAGES) && IMAGES >= 4) || !(Number.isInteger(RUNS) && RUNS >= 1)) {
  process.stderr.write("usage: node bench/monorepo.mjs [--images N (>= 4)] [--runs N]\n");
  process.exit(2);
}
const out = (line: string): void => void process.stdout.write(`${line}\n`);
const OCIUTIL_MNEMONICS = /^Oci/;

/** A stand-in for node: answers --version, then creates every output path it is given that is missing. */
const FLOOR_NODE = `#!/bin/sh
if [ "$1" = --version ]; then echo v20.18.0; exit 0; fi
shift
for a in "$@"; do
  case "$a" in
    *=*) ;;
    bazel-out/*) [ -e "$a" ] || : > "$a" ;;
  esac
done
exit 0
`;

interface Build {
  wall: number;
  spawns: Spawn[];
  cpu: { bazel: number; actions: number };
  workers: number;
}

interface Variant {
  name: string;
  flags: string;
  cold: Build[];
  incremental: Build[];
}

const checkout = new MountedCheckout();
let registry: TestRegistry | undefined;
let tmp = "";
/** Inside the rootfs: the workspace (ws/), its output base, the floor's node and the execution logs. */
let rootDir = "";
let ws: BazelWorkspace | undefined;

async function timedBuild(ws: BazelWorkspace, flags: string, log: string): Promise<Build> {
  const pid = Number((await ws.mustBazel(`info ${flags} server_pid`)).stdout.trim());
  const before = await sampleCpu(pid);
  const t0 = performance.now();
  // The harness's 15-minute limit is too short for 200 images, one Node process each, on a busy machine.
  const r = await ws.sh(`bazel --output_user_root=${OUTPUT_USER_ROOT} ${ws.startup} build ${flags} --execution_log_json_file=${log} //...`, 5_400_000);
  if (r.code !== 0) throw new Error(`bazel build ${flags} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  const wall = (performance.now() - t0) / 1000;
  const after = await sampleCpu(pid);
  const spawns = (await readExecutionLog(checkout.host(log))).filter((s) => OCIUTIL_MNEMONICS.test(s.mnemonic));
  return { wall, spawns, cpu: cpuBetween(before, after), workers: [...after.workers.keys()].filter((p) => !before.workers.has(p)).length };
}

async function main(): Promise<void> {
  await checkout.mount();
  registry = await startRegistry();
  tmp = await makeTempDir("bench-monorepo");
  await buildTestImage(join(tmp, "base"), { layers: [{ files: { "etc/base.txt": "the base\n" } }] });
  const digest = await pushWithCrane(join(tmp, "base"), `${registry.host}/bench/base:v1`);

  rootDir = `/tmp/ociutil-bench-monorepo-${process.pid}`;
  const wsDir = `${rootDir}/ws`;
  const hostWs = checkout.host(wsDir);
  await writeWorkspace(hostWs, IMAGES, checkout.src, `${registry.host}/bench/base`, digest);
  await writeFile(join(hostWs, "floor-node"), FLOOR_NODE);
  await chmod(join(hostWs, "floor-node"), 0o755);
  ws = new BazelWorkspace(checkout, wsDir, `--output_base=${rootDir}/output_base`);

  const variants: Variant[] = [
    { name: "worker", flags: "", cold: [], incremental: [] },
    { name: "one process each", flags: "--@rules_ociutil//oci:persistent_worker=false", cold: [], incremental: [] },
    {
      name: "floor (trivial process)",
      // A toolchain for the actions only: the pulls' repository rules keep the real Node.
      flags: "--@rules_ociutil//oci:persistent_worker=false --extra_toolchains=//:floor_toolchain",
      cold: [],
      incremental: [],
    },
  ];
  let n = 0;
  for (let run = 0; run < RUNS; run++) {
    for (const v of run % 2 ? [...variants].reverse() : variants) {
      await ws.mustBazel(`build --nobuild ${v.flags} //...`);
      await ws.mustBazel("clean");
      const cold = await timedBuild(ws, v.flags, `${rootDir}/exec-${n++}.json`);
      await writeFile(appFile(hostWs, 0), `app 0, changed in run ${run} for ${v.name}\n`);
      const incremental = await timedBuild(ws, v.flags, `${rootDir}/exec-${n++}.json`);
      v.cold.push(cold);
      v.incremental.push(incremental);
      process.stderr.write(`run ${run + 1}, ${v.name}: cold ${cold.wall.toFixed(1)} s, one file changed ${incremental.wall.toFixed(1)} s\n`);
    }
  }
  report(variants);
}

function report(variants: Variant[]): void {
  const [load1, load5] = loadavg();
  out(`\n## Bazel-scale: ${IMAGES} images, median of ${RUNS} run(s); ${cpus().length} CPUs, load ${load1!.toFixed(1)} / ${load5!.toFixed(1)} (1/5 min)`);
  const floor = median(variants[2]!.cold.map((b) => b.wall));
  out("| build | ociutil actions | wall s | vs floor | summed action wall s | median action ms | action CPU s | Bazel CPU s | workers started |");
  out("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const v of variants) {
    for (const [kind, builds] of [["cold", v.cold], ["one app file changed", v.incremental]] as const) {
      const wall = median(builds.map((b) => b.wall));
      const spawns = builds[Math.floor(builds.length / 2)]!.spawns;
      out(
        `| ${v.name}, ${kind} | ${spawns.length} | ${wall.toFixed(2)} | ${kind === "cold" ? `${(wall / floor).toFixed(2)}×` : ""} | ` +
          `${median(builds.map((b) => b.spawns.reduce((s, x) => s + x.wall, 0))).toFixed(2)} | ` +
          `${(median(builds.flatMap((b) => b.spawns.map((s) => s.wall))) * 1000).toFixed(0)} | ` +
          `${median(builds.map((b) => b.cpu.actions)).toFixed(2)} | ${median(builds.map((b) => b.cpu.bazel)).toFixed(2)} | ` +
          `${median(builds.map((b) => b.workers))} |`,
      );
    }
  }
  out("\nMedian action wall time (ms) by mnemonic, cold builds:");
  const mnemonics = [...new Set(variants.flatMap((v) => v.cold.flatMap((b) => b.spawns.map((s) => s.mnemonic))))].sort();
  out(`| mnemonic | count | ${variants.map((v) => v.name).join(" | ")} |`);
  out(`|---|---:|${variants.map(() => "---:").join("|")}|`);
  for (const m of mnemonics) {
    const count = variants[0]!.cold[0]!.spawns.filter((s) => s.mnemonic === m).length;
    const cells = variants.map((v) => (median(v.cold.flatMap((b) => b.spawns.filter((s) => s.mnemonic === m).map((s) => s.wall))) * 1000).toFixed(0));
    out(`| ${m} | ${count} | ${cells.join(" | ")} |`);
  }
}

async function cleanup(): Promise<void> {
  // After a failure too: a Bazel server left behind would idle for hours.
  await ws?.bazel("clean --expunge").catch(() => undefined);
  await ws?.bazel("shutdown").catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  if (tmp) await removeTempDir(tmp).catch(() => undefined);
  if (rootDir && !args.includes("--keep")) await rm(checkout.host(rootDir), { recursive: true, force: true }).catch(() => undefined);
  checkout.unmount();
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench/monorepo: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
