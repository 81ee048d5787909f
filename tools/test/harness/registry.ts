/**
 * A real CNCF distribution registry (`docker-registry serve`, Debian 12: 2.8.2) on 127.0.0.1, one per
 * call, with its own storage directory. Auth: none, htpasswd basic, or token (see token-server.ts).
 * With `tls: true` it speaks HTTPS only, with a self-signed certificate (made with `openssl`) for
 * IP 127.0.0.1 and DNS localhost; clients trust it through `caCertPath`.
 * Its output goes to `<tmp>/registry.log`, never to the test output.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { open, readFile, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { mustRun, peer } from "./peers.js";
import { startTokenServer, type TokenRequestRecord, type TokenServer } from "./token-server.js";
import { freePort, makeTempDir, removeTempDir, sleep } from "./util.js";

export type RegistryAuth = "none" | "basic" | "token";

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  /** Token auth only: issue pull-only tokens to anonymous clients (default false: 401). */
  anonymousPull?: boolean;
  /**
   * Token auth only: the realm the registry's challenges name, instead of the token server's own URL
   * (a registry configured with a realm the client must not use; the token server still runs).
   */
  tokenRealm?: string;
  /** Token auth only: token lifetime in seconds (default 300; distribution adds 60 s leeway). */
  tokenExpiresIn?: number;
  /** Extra top-level YAML appended to the config (e.g. a `validation:` block). */
  extraConfig?: string;
  /**
   * Serve HTTPS only, with a fresh self-signed certificate valid for IP 127.0.0.1 and DNS localhost
   * (`caCertPath`: trust it with NODE_EXTRA_CA_CERTS for Node, SSL_CERT_FILE for Go). Default false.
   */
  tls?: boolean;
}

export interface TestRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT", or "https://127.0.0.1:PORT" with `tls`. */
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
  /**
   * TLS only: PEM path of the registry's self-signed certificate, which is its own CA (the file to give
   * NODE_EXTRA_CA_CERTS or SSL_CERT_FILE). Removed with the temp dir on stop().
   */
  caCertPath?: string;
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
  let tlsYaml = "";
  let caCertPath: string | undefined;
  let caCert: Buffer | undefined;
  try {
    if (opts.tls) {
      caCertPath = join(dir, "tls-cert.pem");
      const keyPath = join(dir, "tls-key.pem");
      await mustRun(peer("openssl"), [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
        "-subj", "/CN=ociutil test registry",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext", "extendedKeyUsage=serverAuth",
        "-keyout", keyPath, "-out", caCertPath,
      ]);
      caCert = await readFile(caCertPath);
      tlsYaml = `  tls:\n    certificate: ${caCertPath}\n    key: ${keyPath}\n`;
    }
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
        `auth:\n  token:\n    realm: ${opts.tokenRealm ?? tokenServer.realm}\n    service: ${tokenServer.service}\n` +
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
      tlsYaml +
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
    const url = `${opts.tls ? "https" : "http"}://${host}`;
    const probe = await waitUp(`${url}/v2/`, caCert, () => exited, 20_000);
    if (probe.ok) {
      const reg: TestRegistry = {
        host,
        url,
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
      if (caCertPath !== undefined) reg.caCertPath = caCertPath;
      if (tokenServer) {
        reg.tokenServer = tokenServer;
        reg.tokenRequests = tokenServer.requests;
      }
      return reg;
    }
    await stopChild();
    const logText = await tail(logPath, 30);
    lastError = new Error(
      `docker-registry did not come up on ${url} (exe ${exe})` +
        (probe.lastError ? `; last probe error: ${probe.lastError}` : "") +
        `; last log lines:\n${logText}\nconfig:\n${config}`,
    );
    // A port taken between freePort() and the registry's listen: try another one.
    if (!/address already in use/i.test(logText)) break;
  }
  await tokenServer?.stop();
  await removeTempDir(dir);
  throw lastError;
}

/**
 * Polls GET url until it answers 200 or 401 (auth on). Not ok if the process died or time ran out
 * (`lastError`: the last probe's failure, for the error message). Plain HTTP uses global fetch; HTTPS
 * uses node:https trusting only `ca`, so a probe also checks the certificate is good for the host.
 */
async function waitUp(url: string, ca: Buffer | undefined, dead: () => boolean, timeoutMs: number): Promise<{ ok: boolean; lastError?: string }> {
  const deadline = Date.now() + timeoutMs;
  let lastError: string | undefined;
  while (Date.now() < deadline) {
    if (dead()) return lastError !== undefined ? { ok: false, lastError } : { ok: false };
    try {
      const status = ca !== undefined ? await httpsStatus(url, ca, 2000) : await fetchStatus(url, 2000);
      if (status === 200 || status === 401) return { ok: true };
      lastError = `GET ${url}: status ${status}`;
    } catch (e) {
      /* not listening yet */
      const cause = (e as { cause?: unknown }).cause;
      lastError = `GET ${url}: ${e instanceof Error ? e.message : String(e)}${cause instanceof Error ? `: ${cause.message}` : ""}`;
    }
    await sleep(50);
  }
  return lastError !== undefined ? { ok: false, lastError } : { ok: false };
}

async function fetchStatus(url: string, timeoutMs: number): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  return res.status;
}

/** GET over HTTPS trusting only `ca` (not the system roots); resolves with the status once the body is read. */
function httpsStatus(url: string, ca: Buffer, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: "GET", ca, agent: false, timeout: timeoutMs }, (res) => {
      res.on("error", reject);
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.resume();
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}
