/**
 * Running the ociutil CLI under test: the esbuild bundle that global-setup.ts builds from
 * tools/ociutil/main.ts, run by this Node (process.execPath).
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runTool, type RunOptions, type RunResult } from "./peers.js";

/** The repository root (this file is tools/test/harness/cli.ts). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Where global-setup.ts writes the bundle. */
export const BUNDLE_PATH = join(REPO_ROOT, "node_modules", ".cache", "ociutil-test", "ociutil.mjs");

export function ociutilBundle(): string {
  if (!existsSync(BUNDLE_PATH)) {
    throw new Error(
      `ociutil test bundle ${BUNDLE_PATH} is missing: it is built by tools/test/harness/global-setup.ts ` +
        `(run the tests with \`npx vitest run\` from the repo root, without OCIUTIL_TEST_NO_BUNDLE)`,
    );
  }
  return BUNDLE_PATH;
}

export interface OciutilOptions {
  /** Merged over process.env; an undefined value removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string | Buffer;
  timeoutMs?: number;
}

function runOpts(opts: OciutilOptions): RunOptions {
  const o: RunOptions = {};
  if (opts.env) o.env = opts.env;
  if (opts.cwd) o.cwd = opts.cwd;
  if (opts.input !== undefined) o.input = opts.input;
  if (opts.timeoutMs !== undefined) o.timeoutMs = opts.timeoutMs;
  return o;
}

/** Node flags for running the bundle: source-mapped stack traces when OCIUTIL_TEST_SOURCE_MAPS is set. */
function nodeFlags(): string[] {
  return process.env["OCIUTIL_TEST_SOURCE_MAPS"] ? ["--enable-source-maps"] : [];
}

/** Runs `node ociutil.mjs ...args`. Never throws for a non-zero exit: check `code`. */
export function runOciutil(args: string[], opts: OciutilOptions = {}): Promise<RunResult> {
  return runTool(process.execPath, [...nodeFlags(), ociutilBundle(), ...args], runOpts(opts));
}

/** runOciutil for a step that must succeed: a failure throws with the command and its stderr. */
export async function mustRunOciutil(args: string[], opts: OciutilOptions = {}): Promise<RunResult> {
  const r = await runOciutil(args, opts);
  if (r.code !== 0) throw new Error(`ociutil ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}

const TIME = "/usr/bin/time";

/**
 * Runs a Node script and measures the peak resident set size of the process (and of any children
 * it waited for), in MiB.
 * - With GNU time (Debian package `time`, /usr/bin/time): `time -f %M -o FILE` = the kernel's
 *   ru_maxrss of the waited child, in KiB; written to a file so it does not mix with stderr.
 * - Without it: a preload module reads the kernel's own high-water mark (VmHWM in /proc/self/status)
 *   at process exit.
 * Both are the kernel's peak RSS, not a sample, so short spikes are counted.
 */
export async function runNodeWithPeakRss(
  script: string,
  args: string[],
  opts: OciutilOptions & { method?: "time" | "vmhwm" } = {},
): Promise<RunResult & { peakRssMB: number }> {
  const method = opts.method ?? (existsSync(TIME) ? "time" : "vmhwm");
  const dir = await mkdtemp(join(tmpdir(), "ociutil-rss-"));
  try {
    const out = join(dir, "rss");
    let r: RunResult;
    if (method === "time") {
      r = await runTool(TIME, ["-f", "%M", "-o", out, process.execPath, ...nodeFlags(), script, ...args], runOpts(opts));
      const kb = Number((await readFile(out, "utf8")).trim().split("\n").pop());
      if (!Number.isFinite(kb) || kb <= 0) throw new Error(`could not read peak RSS from ${TIME}: ${await readFile(out, "utf8")}`);
      return { ...r, peakRssMB: kb / 1024 };
    }
    const preload = join(dir, "hwm.cjs");
    await writeFile(
      preload,
      `const fs = require("node:fs");\n` +
        `process.on("exit", () => {\n` +
        `  const m = /VmHWM:\\s+(\\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));\n` +
        `  fs.writeFileSync(${JSON.stringify(out)}, m ? m[1] : "0");\n` +
        `});\n`,
    );
    r = await runTool(process.execPath, [...nodeFlags(), "--require", preload, script, ...args], runOpts(opts));
    const kb = Number(await readFile(out, "utf8"));
    return { ...r, peakRssMB: kb / 1024 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the ociutil bundle and returns its peak RSS in MiB along with the usual result. */
export function runOciutilWithPeakRss(args: string[], opts: OciutilOptions = {}): Promise<RunResult & { peakRssMB: number }> {
  return runNodeWithPeakRss(ociutilBundle(), args, opts);
}
