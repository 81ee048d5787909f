/** Small helpers shared by the harness modules. */
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A port that was free a moment ago (listen on 0, read it, close). Callers retry on EADDRINUSE. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        srv.close();
        reject(new Error("no port"));
        return;
      }
      const port = addr.port;
      srv.close(() => resolve(port));
    });
  });
}

export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(process.env["OCIUTIL_TEST_TMPDIR"] || tmpdir(), `ociutil-test-${prefix}-`));
}

/** Removes a temp dir unless OCIUTIL_TEST_KEEP_TMP is set (for post-mortems). */
export async function removeTempDir(dir: string): Promise<void> {
  if (process.env["OCIUTIL_TEST_KEEP_TMP"]) return;
  await rm(dir, { recursive: true, force: true });
}

/** Listens a node server on host:0 and returns the port. */
export function listen(server: Server | import("node:http").Server, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      const addr = server.address();
      if (addr === null || typeof addr === "string") reject(new Error("server has no port"));
      else resolve(addr.port);
    });
  });
}

export function closeServer(server: import("node:http").Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Processes whose command line contains `needle` (e.g. a unique temp dir a Bazel server names in its --output_base). */
export function pidsNaming(needle: string): Array<{ pid: number; cmdline: string }> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      if (cmdline.includes(needle)) found.push({ pid: Number(entry), cmdline });
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}
