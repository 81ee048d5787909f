/**
 * `ociutil --persistent_worker`: Bazel's persistent worker, JSON protocol, multiplexed. One Node
 * process serves many actions, so an action no longer pays Node's start-up and the bundle's
 * evaluation (~0.2 s of CPU each). Each request must behave as a fresh process would for its outputs:
 * - a fresh commander program per request (cli/program.ts), so no parsed option carries over;
 * - its stdout and stderr go to its WorkResponse's `output` (cli/exit.ts's request scope follows the
 *   request across awaits), and nothing but WorkResponses reaches the real stdout;
 * - `exit` ends the request with its code, not the process (and `process.exitCode` is cleared after each);
 * - relative paths resolve in its sandbox directory, if Bazel gave one (worker/working-directory.ts);
 * - only the commands Bazel's actions run (local file work: no network, so no shared HTTP agent, no
 *   receive gate and no credentials are held between requests).
 * Remote executors ignore the worker requirements and run the same action as `node ociutil.mjs
 * @paramfile`, which main.ts expands the way Bazel does for the worker.
 */
import { ExitRequest, requestScope, type RequestScope } from "../cli/exit.js";
import { runCommandLine } from "../cli/program.js";
import { JsonObjectSplitter } from "./json-stream.js";
import { WorkingDirectory } from "./working-directory.js";

/** The subcommands of ociutil's Bazel actions (oci/private/*.bzl, through run_ociutil). */
export const WORKER_COMMANDS: ReadonlySet<string> = new Set(["layer", "image", "index", "layout", "save", "stamp", "provenance", "sbom"]);

interface WorkRequest {
  arguments: string[];
  requestId: number;
  sandboxDir: string | undefined;
}

function parseRequest(text: string): WorkRequest {
  const r = JSON.parse(text) as Record<string, unknown>;
  const args = r["arguments"] ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) throw new Error("WorkRequest.arguments is not a list of strings");
  const requestId = r["requestId"] ?? 0;
  if (typeof requestId !== "number" || !Number.isInteger(requestId)) throw new Error("WorkRequest.requestId is not an integer");
  const sandboxDir = r["sandboxDir"];
  if (sandboxDir !== undefined && typeof sandboxDir !== "string") throw new Error("WorkRequest.sandboxDir is not a string");
  return { arguments: args, requestId, sandboxDir: sandboxDir || undefined };
}

/** Routes a stream's writes to the running request's output; outside any request, to `outside`. */
function captureWrites(stream: NodeJS.WriteStream, outside: (s: string) => void): void {
  stream.write = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    const scope = requestScope.getStore();
    if (scope !== undefined) scope.output.push(text);
    else outside(text);
    const cb = typeof encoding === "function" ? encoding : callback;
    if (typeof cb === "function") queueMicrotask(() => (cb as () => void)());
    return true;
  }) as typeof stream.write;
}

async function serve(request: WorkRequest, cwd: WorkingDirectory): Promise<{ exitCode: number; output: string }> {
  const scope: RequestScope = { output: [] };
  const command = request.arguments[0] ?? "";
  if (!WORKER_COMMANDS.has(command)) {
    return { exitCode: 2, output: `ociutil: ${JSON.stringify(command)} does not run in the persistent worker: run it as a command of its own\n` };
  }
  try {
    await cwd.enter(request.sandboxDir);
  } catch (err) {
    return { exitCode: 1, output: `ociutil: cannot enter the sandbox directory ${request.sandboxDir}: ${(err as Error).message}\n` };
  }
  try {
    const exitCode = await requestScope.run(scope, async () => {
      try {
        await runCommandLine(request.arguments);
        return 0;
      } catch (err) {
        if (err instanceof ExitRequest) return err.code;
        scope.output.push(`ociutil: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        return 1;
      }
    });
    return { exitCode, output: scope.output.join("") };
  } finally {
    cwd.leave();
    // Nothing here sets it, but a process's exit code must not carry over to the worker's own end.
    process.exitCode = undefined;
  }
}

export async function runPersistentWorker(): Promise<void> {
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  const stderrWrite = process.stderr.write.bind(process.stderr);
  captureWrites(process.stdout, (s) => stderrWrite(s)); // stdout carries only WorkResponses
  captureWrites(process.stderr, (s) => stderrWrite(s));
  const cwd = new WorkingDirectory();
  const splitter = new JsonObjectSplitter();
  const running = new Set<Promise<void>>();

  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) {
    for (const text of splitter.push(chunk as string)) {
      const request = parseRequest(text);
      const p: Promise<void> = serve(request, cwd).then(({ exitCode, output }) => {
        stdoutWrite(`${JSON.stringify({ exitCode, output, requestId: request.requestId })}\n`);
        running.delete(p);
      });
      running.add(p);
    }
  }
  // Bazel closed stdin: it is done with this worker. Answer what is in flight, then end.
  await Promise.all(running);
  if (splitter.partial) throw new Error("stdin ended inside a WorkRequest");
}
