/**
 * A real CNCF distribution registry (`docker-registry serve`, Debian 12: 2.8.2) on 127.0.0.1, one per
 * call, with its own storage directory. Auth: none, htpasswd basic, or token (see token-server.ts).
 * Its output goes to `<tmp>/registry.log`, never to the test output.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { mustRun, peer } from "./peers.js";
import { startTokenServer, type TokenRequestRecord, type TokenServer } from "./token-server.js";
import { freePort, makeTempDir, removeTempDir, sleep } from "./util.js";

export type RegistryAuth = "none" | "basic" | "token";

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  /** Token auth only: issue pull-only tokens to anonymous clients (default false: 401). */
  anonymousPull?: boolean;
  /** Token auth only: token lifetime in seconds (default 300; distribution adds 60 s leeway). */
  tokenExpiresIn?: number;
  /** Extra top-level YAML appended to the config (e.g. a `validation:` block). */
  extraConfig?: string;
}

export interface TestRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  storageDir: string;
  /** The temp dir holding config, storage, logs, auth files. Removed on stop(). */
  dir: string;
  logPath: string;
  auth: RegistryAuth;
  /** Set for basic and token auth. */
  username?: string;
  password?: string;
  /** Token auth: the token server, and every token request it received (alias of tokenServer.requests). */
  tokenServer?: TokenServer;
  tokenRequests?: TokenRequestRecord[];
  /** Last lines of the registry log (for failure messages). */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

const TEST_USER = "ociutil-test";

/** Children to kill if the test process exits without stop(). */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const c of live) killGroup(c, "SIGKILL");
  });
}

function killGroup(c: ChildProcess, sig: NodeJS.Signals) {
  try {
    if (c.pid !== undefined) process.kill(-c.pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * `sh -c WATCHDOG_SCRIPT name CMD ARGS...` runs CMD with stdin /dev/null; fd 3 (the shell's stdin, our
 * pipe) is read by a background subshell that kills CMD at EOF. The shell exits with CMD's status.
 */
export const WATCHDOG_SCRIPT = [
  "exec 3<&0",
  '"$@" </dev/null & pid=$!',
  '( while read -r _ <&3; do :; done; kill "$pid" 2>/dev/null ) &',
  'wait "$pid"',
].join("\n");

async function tail(path: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(path, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const auth = opts.auth ?? "none";
  const exe = peer("docker-registry");
  const dir = await makeTempDir("registry");
  const storageDir = join(dir, "storage");
  const logPath = join(dir, "registry.log");
  const configPath = join(dir, "config.yml");
  let username: string | undefined;
  let password: string | undefined;
  let tokenServer: TokenServer | undefined;
  let authYaml = "";
  try {
    if (auth !== "none") {
      username = TEST_USER;
      password = `pw-${Math.random().toString(36).slice(2, 12)}`;
    }
    if (auth === "basic") {
      const { stdout } = await mustRun(peer("htpasswd"), ["-Bbn", username!, password!]);
      const htpasswdPath = join(dir, "htpasswd");
      await writeFile(htpasswdPath, stdout.trim() + "\n");
      authYaml = `auth:\n  htpasswd:\n    realm: ociutil-test-basic\n    path: ${htpasswdPath}\n`;
    } else if (auth === "token") {
      tokenServer = await startTokenServer({
        dir,
        username: username!,
        password: password!,
        ...(opts.tokenExpiresIn !== undefined ? { expiresIn: opts.tokenExpiresIn } : {}),
        ...(opts.anonymousPull !== undefined ? { anonymousPull: opts.anonymousPull } : {}),
      });
      authYaml =
        `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: ${tokenServer.service}\n` +
        `    issuer: ${tokenServer.issuer}\n    rootcertbundle: ${tokenServer.certPath}\n`;
    }
  } catch (e) {
    await tokenServer?.stop();
    await removeTempDir(dir);
    throw e;
  }

  installExitHook();
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config =
      `version: 0.1\n` +
      `log:\n  level: info\n  formatter: text\n` +
      `storage:\n  filesystem:\n    rootdirectory: ${storageDir}\n  delete:\n    enabled: true\n` +
      `  maintenance:\n    uploadpurging:\n      enabled: false\n` +
      `http:\n  addr: ${host}\n  secret: ociutil-test-secret\n` +
      authYaml +
      (opts.extraConfig ? opts.extraConfig.trimEnd() + "\n" : "");
    await writeFile(configPath, config);
    const log = await open(logPath, "a");
    // Watchdog: /bin/sh runs the registry and kills it when our end of its stdin closes, which also
    // happens when this process dies without running stop() (a killed vitest worker, ^C): no
    // registry outlives the tests. It runs in its own process group, so SIGKILL can reach both.
    const child = spawn("/bin/sh", ["-c", WATCHDOG_SCRIPT, "registry-watchdog", exe, "serve", configPath], {
      stdio: ["pipe", log.fd, log.fd],
      detached: true,
    });
    await log.close();
    child.stdin!.on("error", () => {});
    live.add(child);
    let exited = false;
    child.on("exit", () => {
      exited = true;
      live.delete(child);
      child.stdin!.destroy(); // lets the watchdog's reader finish
    });
    const stopChild = async () => {
      if (exited) return;
      const gone = once(child, "exit");
      child.stdin!.end(); // the watchdog sends SIGTERM to the registry
      const t = setTimeout(() => killGroup(child, "SIGKILL"), 5000);
      await gone;
      clearTimeout(t);
    };
    const ok = await waitUp(`http://${host}/v2/`, () => exited, 20_000);
    if (ok) {
      const reg: TestRegistry = {
        host,
        url: `http://${host}`,
        storageDir,
        dir,
        logPath,
        auth,
        logTail: (n?: number) => tail(logPath, n),
        async stop() {
          await stopChild();
          await tokenServer?.stop();
          await removeTempDir(dir);
        },
      };
      if (username !== undefined) reg.username = username;
      if (password !== undefined) reg.password = password;
      if (tokenServer) {
        reg.tokenServer = tokenServer;
        reg.tokenRequests = tokenServer.requests;
      }
      return reg;
    }
    await stopChild();
    const logText = await tail(logPath, 30);
    lastError = new Error(`docker-registry did not come up on ${host} (exe ${exe}); last log lines:\n${logText}\nconfig:\n${config}`);
    // A port taken between freePort() and the registry's listen: try another one.
    if (!/address already in use/i.test(logText)) break;
  }
  await tokenServer?.stop();
  await removeTempDir(dir);
  throw lastError;
}

/** Polls GET url until it answers 200 or 401 (auth on). False if the process died or time ran out. */
async function waitUp(url: string, dead: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead()) return false;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return true;
    } catch {
      /* not listening yet */
    }
    await sleep(50);
  }
  return false;
}
