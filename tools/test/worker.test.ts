/**
 * `ociutil --persistent_worker` spoken to as Bazel does (JSON WorkRequests on stdin, WorkResponses on
 * stdout), and `@paramfile` arguments (issue 18). Each request must behave as a fresh process would:
 * a failed request leaves nothing behind for the next, output goes to its own response only,
 * concurrent requests with sandbox directories resolve paths in their own, and a worker's outputs are
 * the bytes a one-shot run writes. tools/test/e2e-worker.test.ts does the same under real Bazel.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, mustRun, mustRunOciutil, ociutilBundle, removeTempDir, runOciutil } from "./harness/index.js";

interface WorkResponse {
  exitCode: number;
  output: string;
  requestId: number;
}

/** A worker process, as Bazel starts one: `node ociutil.mjs --persistent_worker` in the execroot. */
class Worker {
  private readonly proc: ChildProcessWithoutNullStreams;
  private stdout = "";
  private readonly waiting = new Map<number, { resolve: (r: WorkResponse) => void; reject: (e: Error) => void }>();
  stderr = "";
  /** Every line the worker wrote to stdout, parsed or not. */
  readonly lines: string[] = [];

  constructor(cwd: string) {
    this.proc = spawn(process.execPath, [ociutilBundle(), "--persistent_worker"], { cwd });
    this.proc.stdout.setEncoding("utf8").on("data", (s: string) => {
      this.stdout += s;
      let nl: number;
      while ((nl = this.stdout.indexOf("\n")) >= 0) {
        const line = this.stdout.slice(0, nl);
        this.stdout = this.stdout.slice(nl + 1);
        this.lines.push(line);
        const r = JSON.parse(line) as WorkResponse;
        this.waiting.get(r.requestId)?.resolve(r);
      }
    });
    this.proc.stderr.setEncoding("utf8").on("data", (s: string) => (this.stderr += s));
    this.proc.on("exit", (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the worker exited (${code}) before answering: ${this.stderr}`));
    });
  }

  /** Sends raw text (one or more requests, or part of one). */
  send(text: string): void {
    this.proc.stdin.write(text);
  }

  response(requestId: number): Promise<WorkResponse> {
    return new Promise((resolve, reject) => this.waiting.set(requestId, { resolve, reject }));
  }

  async request(requestId: number, args: string[], sandboxDir?: string): Promise<WorkResponse> {
    const r = this.response(requestId);
    this.send(`${JSON.stringify({ arguments: args, inputs: [], requestId, ...(sandboxDir ? { sandboxDir } : {}) })}\n`);
    return await r;
  }

  /** Closes stdin, as Bazel does at shutdown; the exit code. */
  async close(): Promise<number | null> {
    this.proc.stdin.end();
    return await new Promise((resolve) => this.proc.on("exit", (code) => resolve(code)));
  }
}

let tmp: string;
let tar: string;

beforeAll(async () => {
  tmp = await makeTempDir("worker");
  await mkdir(join(tmp, "files"));
  await writeFile(join(tmp, "files", "a.txt"), "a\n");
  tar = join(tmp, "a.tar");
  await mustRun("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", tmp, "-cf", tar, "files"]);
});

afterAll(async () => {
  if (tmp) await removeTempDir(tmp);
});

describe("ociutil --persistent_worker", () => {
  it("serves a request after a failed one as a fresh process would, and writes what a one-shot run writes", async () => {
    const dir = await makeTempDir("worker-exec");
    const w = new Worker(dir);
    try {
      const bad = await w.request(1, ["layer", "--describe", "missing.tar", "--info", "bad.json"]);
      expect(bad.exitCode).toBe(1);
      expect(bad.output).toMatch(/^ociutil: .*missing\.tar.*\n$/);
      const usage = await w.request(2, ["stamp", "--no-such-flag"]);
      expect(usage.exitCode).toBe(2);
      expect(usage.output).toMatch(/^ociutil: error: /);

      const good = await w.request(3, ["layer", "--describe", tar, "--info", "info.json"]);
      expect(good).toEqual({ exitCode: 0, output: "", requestId: 3 });
      await mustRunOciutil(["layer", "--describe", tar, "--info", join(tmp, "one-shot.json")]);
      expect(await readFile(join(dir, "info.json"), "utf8")).toBe(await readFile(join(tmp, "one-shot.json"), "utf8"));

      // What a command prints goes to its response, never to the protocol's stdout.
      const help = await w.request(4, ["layer", "--help"]);
      expect(help.exitCode).toBe(0);
      expect(help.output).toMatch(/^Usage: ociutil layer/);
      expect(w.lines.every((l) => typeof (JSON.parse(l) as WorkResponse).exitCode === "number")).toBe(true);
      expect(await w.close()).toBe(0);
    } finally {
      await removeTempDir(dir);
    }
  });

  it("refuses commands that Bazel's actions do not run (no network state is kept between requests)", async () => {
    const w = new Worker(tmp);
    const r = await w.request(7, ["pull", "127.0.0.1:1/x:y", "-o", "out"]);
    expect(r.exitCode).toBe(2);
    expect(r.output).toBe('ociutil: "pull" does not run in the persistent worker: run it as a command of its own\n');
    expect(await w.close()).toBe(0);
  });

  it("runs concurrent requests, each in its own sandbox directory, from requests split and joined on stdin", async () => {
    const dir = await makeTempDir("worker-sandboxes");
    const w = new Worker(dir);
    try {
      const ids = [10, 11, 12, 13, 14, 15];
      for (const id of ids) await mkdir(join(dir, `sandbox/${id}`), { recursive: true });
      const responses = Promise.all(ids.map((id) => w.response(id)));
      const text = ids
        .map((id) => JSON.stringify({ arguments: ["stamp", "-o", "values.txt", `--value=${id}`], requestId: id, sandboxDir: `sandbox/${id}` }))
        .join(""); // the protocol promises no separator between requests
      // Bazel's writes can split a request anywhere; two can arrive in one read.
      const cut = Math.floor(text.length / 3);
      w.send(text.slice(0, cut));
      await new Promise((r) => setTimeout(r, 20));
      w.send(text.slice(cut));
      for (const r of await responses) expect(r).toMatchObject({ exitCode: 0, output: "" });
      for (const id of ids) expect(await readFile(join(dir, `sandbox/${id}/values.txt`), "utf8")).toBe(`${id}\n`);
      const missing = await w.request(16, ["stamp", "-o", "x"], "sandbox/none");
      expect(missing.exitCode).toBe(1);
      expect(missing.output).toMatch(/^ociutil: cannot enter the sandbox directory sandbox\/none: /);
      // A request without a sandbox runs in the directory the worker started in again.
      expect((await w.request(17, ["stamp", "-o", "root.txt", "--value=r"])).exitCode).toBe(0);
      expect(await readFile(join(dir, "root.txt"), "utf8")).toBe("r\n");
      expect(await w.close()).toBe(0);
    } finally {
      await removeTempDir(dir);
    }
  });
});

describe("@paramfile arguments (a remote executor's command line)", () => {
  it("expands a param file one argument a line, nested files too, and leaves labels alone", async () => {
    const dir = await makeTempDir("paramfile");
    try {
      await writeFile(join(dir, "inner.params"), "--value\n@@//pkg:label\n--value\n@repo//pkg:x\r\n");
      await writeFile(join(dir, "outer.params"), `stamp\n-o\n${join(dir, "out.txt")}\n@${join(dir, "inner.params")}\n--value=with space`);
      await mustRunOciutil([`@${join(dir, "outer.params")}`]);
      expect(await readFile(join(dir, "out.txt"), "utf8")).toBe("@@//pkg:label\n@repo//pkg:x\nwith space\n");

      const r = await runOciutil([`@${join(dir, "none.params")}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^ociutil: cannot read the param file .*none\.params: ENOENT[^\n]*\n$/);
    } finally {
      await removeTempDir(dir);
    }
  });
});
