/** Options shared by the commands that talk to registries. */
import { Option, type Command } from "commander";
import { parseReference, parseTag, type Reference } from "../name/reference.js";
import { RegistryClient } from "../remote/client.js";
import { DEFAULT_STALL_TIMEOUT_MS, STALL_MIN_BYTES, setStallTimeout } from "../remote/stall.js";
import { defaultJobs } from "../util/pool.js";
import { UsageError } from "../util/errors.js";
import { endProgress, PROGRESS_MODES, startProgress, type ProgressMode } from "../progress/setup.js";
import { enableRequestLog } from "../remote/request-log.js";

export interface RegistryFlags {
  insecure?: boolean;
  plainHttp?: string[];
  jobs: number;
  json?: boolean;
  /** Only on commands that offer --qps. */
  qps?: number;
  /** Seconds; see stall.ts. */
  stallTimeout?: number;
}

/** For Bazel actions, which take no flags from the user: `--action_env=OCIUTIL_STALL_TIMEOUT=120`. */
export const STALL_TIMEOUT_ENV = "OCIUTIL_STALL_TIMEOUT";

export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option("--insecure", "speak plain HTTP (no TLS) to every registry this command uses")
    .option("--plain-http <registry>", "speak plain HTTP to this registry only (repeatable), e.g. localhost:5000", collect, [])
    .addOption(new Option("-j, --jobs <n>", "parallel blob transfers").argParser(positiveInt("--jobs")).default(defaultJobs()))
    .option("--json", "print one JSON object describing the result")
    .addOption(
      new Option("--stall-timeout <seconds>", `end a transfer that moves less than ${STALL_MIN_BYTES} bytes in this many seconds (then retry it)`)
        .argParser(positiveNumber("--stall-timeout"))
        .default(DEFAULT_STALL_TIMEOUT_MS / 1000)
        .env(STALL_TIMEOUT_ENV),
    );
}

/**
 * --progress and --verbose, declared once on the program so that every command takes them (before or
 * after its name); they take effect before the command's action runs.
 */
export function addOutputOptions(program: Command): Command {
  program
    .addOption(
      new Option("--progress <mode>", "progress on stderr: tty redraws it in place, plain writes a line per blob or image done; auto is tty on a terminal, else none")
        .choices(PROGRESS_MODES)
        .default("auto"),
    )
    .option("-v, --verbose", "on stderr: every HTTP request and response, retry and auth step (secrets redacted)")
    .hook("preAction", () => {
      const { progress, verbose } = program.opts<{ progress: ProgressMode; verbose?: boolean }>();
      enableRequestLog(verbose === true);
      startProgress(progress);
    })
    .hook("postAction", () => endProgress());
  return program;
}

export function clientFor(flags: RegistryFlags): RegistryClient {
  // Commands without the flag (snapshot) still honour the environment.
  const envValue = process.env[STALL_TIMEOUT_ENV];
  const stall = flags.stallTimeout ?? (envValue !== undefined && envValue !== "" ? positiveNumber(STALL_TIMEOUT_ENV)(envValue) : undefined);
  if (stall !== undefined) setStallTimeout(stall * 1000);
  const plain = flags.insecure ? true : new Set(flags.plainHttp ?? []);
  return new RegistryClient({ plainHttp: plain, ...(flags.qps !== undefined ? { qps: flags.qps } : {}) });
}

/** --qps N: requests per second to each registry (a positive number; fractions allowed). */
export function addQpsOption(cmd: Command): Command {
  return cmd.addOption(new Option("--qps <n>", "at most N requests a second to each registry (default: no limit)").argParser(positiveNumber("--qps")));
}

function positiveNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got "${value}"`);
    return n;
  };
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `collect` for --tag: each value must be a valid tag. */
export function collectTag(value: string, previous: string[]): string[] {
  return [...previous, parseTag(value)];
}

export function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
    return n;
  };
}

export function reference(value: string): Reference {
  return parseReference(value);
}

export function print(flags: { json?: boolean }, json: object, line: string): void {
  process.stdout.write(flags.json ? `${JSON.stringify(json)}\n` : `${line}\n`);
}
