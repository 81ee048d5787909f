/**
 * Registry credentials, found as docker, podman and crane find them.
 *
 * Files are consulted in this order; the first that yields credentials for the registry wins:
 *   1. $REGISTRY_AUTH_FILE                          (containers-auth.json, the same `auths` format)
 *   2. $XDG_RUNTIME_DIR/containers/auth.json        (podman's default)
 *   3. $DOCKER_CONFIG/config.json, else ~/.docker/config.json
 * A missing file yields nothing; a file that exists but cannot be read, is not JSON or has the wrong
 * shape is a CredentialError naming the file (never quoting its contents).
 *
 * Within one file, as the docker CLI does: `credHelpers[registry]`, else `credsStore`, else `auths`.
 * When a helper is configured for the registry it is authoritative for that file (its `auths` entry is
 * not used); a helper answering "credentials not found" moves on to the next file.
 *
 * Keys are normalised as containers/image does: a key with a scheme ("https://host/v1/") stands for
 * its host; a key without one is a host ("host", "host:port"), optionally followed by "/v1" or "/v2".
 * Keys naming a namespace inside a registry ("ghcr.io/org", podman's per-repository credentials) are
 * not used, as lookups are per registry. The Docker Hub names index.docker.io, registry-1.docker.io
 * and docker.io are one registry.
 *
 * Secrets (passwords, tokens, the helper's stdout) never appear in error messages.
 */
import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as z from "zod";
import { OciError } from "../util/errors.js";

export type Credential =
  | { kind: "basic"; username: string; password: string }
  /** docker config "identitytoken", or a helper answering Username "<token>": an OAuth2 refresh token. */
  | { kind: "identityToken"; token: string };

export interface CredentialSource {
  lookup(registry: string): Promise<Credential | undefined>;
}

export class CredentialError extends OciError {
  override readonly name: string = "CredentialError";
}

export interface CredentialSourceOptions {
  /** How long a credential helper may run before it is killed (default 30 s). */
  helperTimeoutMs?: number;
}

const DOCKER_HUB = "docker.io";
const DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/";
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
const DEFAULT_HELPER_TIMEOUT_MS = 30_000;
const MAX_HELPER_OUTPUT = 1 << 20;
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

const AuthEntrySchema = z.looseObject({
  auth: z.string().nullish(),
  username: z.string().nullish(),
  password: z.string().nullish(),
  identitytoken: z.string().nullish(),
});
type AuthEntry = z.infer<typeof AuthEntrySchema>;

const AuthFileSchema = z.looseObject({
  auths: z.record(z.string(), AuthEntrySchema).nullish(),
  credHelpers: z.record(z.string(), z.string()).nullish(),
  credsStore: z.string().nullish(),
});

const HelperOutputSchema = z.looseObject({
  ServerURL: z.string().nullish(),
  Username: z.string(),
  Secret: z.string(),
});

interface AuthFile {
  readonly file: string;
  /** [key as written, normalised registry] in file order; namespaced keys are left out. */
  readonly auths: ReadonlyArray<readonly [string, string, AuthEntry]>;
  readonly credHelpers: ReadonlyArray<readonly [string, string]>;
  readonly credsStore: string | undefined;
}

/**
 * The host (with port) a registry name or an auth-file key stands for, lowercased, Docker Hub's names
 * folded to "docker.io"; undefined for a key naming a namespace within a registry.
 */
export function normaliseRegistryKey(key: string): string | undefined {
  let rest = key.trim();
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(rest);
  let host: string;
  if (scheme !== null) {
    rest = rest.slice(scheme[0].length);
    host = rest.split("/", 1)[0] ?? "";
  } else {
    const slash = rest.indexOf("/");
    if (slash >= 0) {
      const suffix = rest.slice(slash + 1).replace(/\/+$/, "");
      if (suffix !== "" && suffix !== "v1" && suffix !== "v2") return undefined;
      host = rest.slice(0, slash);
    } else {
      host = rest;
    }
  }
  host = host.toLowerCase();
  if (host === "") return undefined;
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** The default credential lookup: auth files and credential helpers, as docker/podman/crane do it. */
export function defaultCredentialSource(
  env: NodeJS.ProcessEnv = process.env,
  homeDir?: string,
  options: CredentialSourceOptions = {},
): CredentialSource {
  const home = homeDir ?? nonEmpty(env.HOME) ?? nonEmpty(env.USERPROFILE) ?? os.homedir();
  const files: string[] = [];
  const registryAuthFile = nonEmpty(env.REGISTRY_AUTH_FILE);
  if (registryAuthFile !== undefined) files.push(registryAuthFile);
  const xdgRuntimeDir = nonEmpty(env.XDG_RUNTIME_DIR);
  if (xdgRuntimeDir !== undefined) files.push(path.join(xdgRuntimeDir, "containers", "auth.json"));
  const dockerConfig = nonEmpty(env.DOCKER_CONFIG);
  files.push(dockerConfig !== undefined ? path.join(dockerConfig, "config.json") : path.join(home, ".docker", "config.json"));
  return new FileCredentialSource(files, env, options.helperTimeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS);
}

class FileCredentialSource implements CredentialSource {
  private readonly loaded = new Map<string, Promise<AuthFile | undefined>>();
  private readonly cache = new Map<string, Promise<Credential | undefined>>();

  constructor(
    private readonly files: readonly string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly helperTimeoutMs: number,
  ) {}

  lookup(registry: string): Promise<Credential | undefined> {
    const host = normaliseRegistryKey(registry);
    if (host === undefined) return Promise.reject(new CredentialError(`cannot look up credentials for ${JSON.stringify(registry)}: not a registry name`));
    let result = this.cache.get(host);
    if (result === undefined) {
      result = this.resolve(registry.trim(), host);
      this.cache.set(host, result);
    }
    return result;
  }

  private async resolve(registry: string, host: string): Promise<Credential | undefined> {
    for (const file of this.files) {
      const authFile = await this.load(file);
      if (authFile === undefined) continue;
      const found = await this.lookupInFile(authFile, registry, host);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  private load(file: string): Promise<AuthFile | undefined> {
    let loaded = this.loaded.get(file);
    if (loaded === undefined) {
      loaded = loadAuthFile(file);
      this.loaded.set(file, loaded);
    }
    return loaded;
  }

  private async lookupInFile(authFile: AuthFile, registry: string, host: string): Promise<Credential | undefined> {
    const helper = authFile.credHelpers.find(([, h]) => h === host)?.[0] ?? authFile.credsStore;
    if (helper !== undefined) {
      const serverUrl = host === DOCKER_HUB ? DOCKER_HUB_SERVER_URL : registry;
      return runCredentialHelper(helper, serverUrl, registry, this.env, this.helperTimeoutMs);
    }
    for (const [key, h, entry] of authFile.auths) {
      if (h !== host) continue;
      const credential = decodeEntry(authFile.file, key, entry);
      if (credential !== undefined) return credential;
    }
    return undefined;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

async function loadAuthFile(file: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new CredentialError(`cannot read credentials file ${file}: ${code ?? "read failed"}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === "") return { file, auths: [], credHelpers: [], credsStore: undefined };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error, which may be a secret: say only where.
    throw new CredentialError(`credentials file ${file} is not valid JSON`);
  }
  const parsed = AuthFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? "the document" : JSON.stringify(issue.path.map(String).join("."));
    const what = issue?.code === "invalid_type" ? `expected ${issue.expected}` : "has the wrong shape";
    throw new CredentialError(`credentials file ${file} is malformed: ${where}: ${what}`);
  }
  const auths: Array<readonly [string, string, AuthEntry]> = [];
  for (const [key, entry] of Object.entries(parsed.data.auths ?? {})) {
    const host = normaliseRegistryKey(key);
    if (host !== undefined) auths.push([key, host, entry]);
  }
  const credHelpers: Array<readonly [string, string]> = [];
  for (const [key, helper] of Object.entries(parsed.data.credHelpers ?? {})) {
    const host = normaliseRegistryKey(key);
    if (host !== undefined && helper !== "") credHelpers.push([helper, host]);
  }
  return { file, auths, credHelpers, credsStore: nonEmpty(parsed.data.credsStore ?? undefined) };
}

function decodeEntry(file: string, key: string, entry: AuthEntry): Credential | undefined {
  if (entry.identitytoken) return { kind: "identityToken", token: entry.identitytoken };
  if (entry.auth) {
    const bad = (why: string): CredentialError =>
      new CredentialError(`credentials file ${file}: the "auth" of ${JSON.stringify(key)} ${why}`);
    const encoded = entry.auth.trim();
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 === 1) throw bad("is not valid base64");
    let decoded: string;
    try {
      decoded = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(encoded, "base64"));
    } catch {
      throw bad("is not base64 of UTF-8 text");
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) throw bad('is not base64 of "username:password"');
    return { kind: "basic", username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username) return { kind: "basic", username: entry.username, password: entry.password ?? "" };
  return undefined;
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  if (process.platform !== "win32") return env[name];
  const key = Object.keys(env).find((k) => k.toUpperCase() === name);
  return key === undefined ? undefined : env[key];
}

/** The helper executable on env's PATH (not this process's), or undefined. */
async function findExecutable(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const exts = process.platform === "win32" ? (envValue(env, "PATHEXT") ?? ".COM;.EXE;.BAT;.CMD").split(";").filter((e) => e !== "") : [""];
  for (const dir of (envValue(env, "PATH") ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    for (const ext of exts) {
      const candidate = path.resolve(dir, name + ext);
      try {
        if (!(await stat(candidate)).isFile()) continue;
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

interface HelperRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `docker-credential-<helper> get` with serverUrl on stdin; "credentials not found" is undefined. */
async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  registry: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<Credential | undefined> {
  const program = `docker-credential-${helper}`;
  if (!HELPER_NAME.test(helper)) {
    throw new CredentialError(`credential helper name ${JSON.stringify(helper)} for ${registry} is not valid`);
  }
  const executable = await findExecutable(program, env);
  if (executable === undefined) {
    throw new CredentialError(`credential helper ${program} for ${registry} is not installed: no executable ${program} on PATH`);
  }
  const failed = (why: string): CredentialError => new CredentialError(`credential helper ${program} failed for ${registry}: ${why}`);
  const run = await spawnHelper(executable, serverUrl, env, timeoutMs).catch((err: unknown) => {
    if (err instanceof CredentialError) throw failed(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new CredentialError(`credential helper ${program} for ${registry} is not installed: no executable ${program} on PATH`);
    }
    throw failed(`cannot run ${executable}: ${code ?? "spawn failed"}`);
  });
  if (run.code !== 0) {
    // docker-credential-helpers report a missing entry on stdout, "credentials not found in native keychain".
    if (/credentials not found/i.test(run.stdout) || /credentials not found/i.test(run.stderr)) return undefined;
    const line = run.stderr.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== "");
    const status = run.signal !== null ? `killed by ${run.signal}` : `exit status ${run.code}`;
    throw failed(line !== undefined ? sanitiseLine(line) : status);
  }
  let json: unknown;
  try {
    json = JSON.parse(run.stdout);
  } catch {
    throw failed("its output is not JSON");
  }
  const parsed = HelperOutputSchema.safeParse(json);
  if (!parsed.success) throw failed('its output is not {"Username", "Secret"}');
  const { Username: username, Secret: secret } = parsed.data;
  if (username === "" && secret === "") return undefined;
  if (username === "<token>") return { kind: "identityToken", token: secret };
  return { kind: "basic", username, password: secret };
}

function sanitiseLine(line: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = line.replace(/[\u0000-\u001f\u007f]/g, " ");
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}

function spawnHelper(executable: string, input: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<HelperRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(executable, ["get"], { env, shell: false, stdio: ["pipe", "pipe", "pipe"], windowsHide: true });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const abort = (why: string): void => {
      finish(() => {
        child.kill("SIGKILL");
        // A grandchild may hold the pipes open after the kill: stop reading rather than wait for it.
        child.stdout.destroy();
        child.stderr.destroy();
        reject(new CredentialError(why));
      });
    };
    const timer = setTimeout(() => abort(`it did not finish within ${timeoutMs / 1000} s`), timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_HELPER_OUTPUT) abort(`it wrote more than ${MAX_HELPER_OUTPUT} bytes`);
      else into.push(chunk);
    };
    child.stdout.on("data", collect(stdout));
    child.stderr.on("data", collect(stderr));
    child.on("error", (err) => finish(() => reject(err)));
    child.on("close", (code, signal) =>
      finish(() =>
        resolve({ code, signal, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") }),
      ),
    );
    // The helper may exit without reading stdin (EPIPE): its exit status tells what happened.
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}
