import { chmod, mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CredentialError, defaultCredentialSource, type Credential } from "../ociutil/remote/credentials.js";

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** A real credential helper: answers by the server URL it reads on stdin, and logs each call. */
const HELPER_SCRIPT = `#!/bin/sh
if [ "$1" != "get" ]; then echo "unexpected arguments: $*" >&2; exit 3; fi
server=$(cat)
printf '%s\\n' "$server" >> "$CALLS_FILE"
case "$server" in
  found.example|https://index.docker.io/v1/|localhost:5000)
    printf '{"ServerURL":"%s","Username":"alice","Secret":"helper-secret-123"}' "$server" ;;
  token.example)
    printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-token-456"}' "$server" ;;
  broken.example)
    printf '{"ServerURL":"%s","Username":"alice","Secret":"LEAKED-SECRET-789"}\\n' "$server"
    echo "keychain is locked" >&2
    echo "second line of stderr" >&2
    exit 1 ;;
  garbage.example)
    echo "Username=alice Secret=LEAKED-SECRET-789"
    exit 0 ;;
  slow.example)
    exec sleep 20 ;;
  *)
    echo "credentials not found in native keychain"
    exit 1 ;;
esac
`;

let root: string;
let home: string;
let bin: string;
let callsFile: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "ociutil-credentials-"));
  home = path.join(root, "home");
  bin = path.join(root, "bin");
  callsFile = path.join(root, "calls.log");
  await mkdir(path.join(home, ".docker"), { recursive: true });
  await mkdir(bin);
  await writeFile(path.join(bin, "docker-credential-test"), HELPER_SCRIPT);
  await chmod(path.join(bin, "docker-credential-test"), 0o755);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The environment of a lookup: nothing from this process's but a PATH with the test helper first. */
function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: `${bin}${path.delimiter}${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: home, CALLS_FILE: callsFile, ...extra };
}

async function writeJson(file: string, value: unknown): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(value));
  return file;
}

const dockerConfig = (value: unknown): Promise<string> => writeJson(path.join(home, ".docker", "config.json"), value);

async function helperCalls(): Promise<string[]> {
  try {
    return (await readFile(callsFile, "utf8")).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

async function lookupError(promise: Promise<unknown>): Promise<CredentialError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CredentialError);
  return err as CredentialError;
}

const basic = (username: string, password: string): Credential => ({ kind: "basic", username, password });

describe("auth files", () => {
  it("has no credentials when no file exists", async () => {
    const source = defaultCredentialSource(testEnv(), home);
    await expect(source.lookup("ghcr.io")).resolves.toBeUndefined();
  });

  it("decodes auth, username/password and identitytoken entries", async () => {
    await dockerConfig({
      auths: {
        "a.example": { auth: b64("user:pa:ss") },
        "b.example": { username: "bob", password: "hunter2" },
        "c.example": { auth: b64("x:y"), identitytoken: "refresh-abc" },
        "d.example": {},
      },
    });
    const source = defaultCredentialSource(testEnv(), home);
    await expect(source.lookup("a.example")).resolves.toEqual(basic("user", "pa:ss"));
    await expect(source.lookup("b.example")).resolves.toEqual(basic("bob", "hunter2"));
    await expect(source.lookup("c.example")).resolves.toEqual({ kind: "identityToken", token: "refresh-abc" });
    await expect(source.lookup("d.example")).resolves.toBeUndefined();
    await expect(source.lookup("e.example")).resolves.toBeUndefined();
  });

  it.each([
    ["https://index.docker.io/v1/", "docker.io"],
    ["https://index.docker.io/v1/", "index.docker.io"],
    ["index.docker.io", "docker.io"],
    ["registry-1.docker.io", "docker.io"],
    ["docker.io", "registry-1.docker.io"],
    ["localhost:5000", "localhost:5000"],
    ["http://localhost:5000/v2/", "localhost:5000"],
    ["https://ghcr.io/", "ghcr.io"],
    ["https://ghcr.io", "ghcr.io"],
    ["ghcr.io/v2/", "ghcr.io"],
    ["GHCR.io", "ghcr.io"],
    ["http://[::1]:5000/v2/", "[::1]:5000"],
    ["[::1]:5000", "[::1]:5000"],
  ])("finds the auths key %s for registry %s", async (key, registry) => {
    await dockerConfig({ auths: { [key]: { auth: b64("u:p") } } });
    await expect(defaultCredentialSource(testEnv(), home).lookup(registry)).resolves.toEqual(basic("u", "p"));
  });

  it.each([
    ["localhost:5000", "localhost"],
    ["localhost", "localhost:5000"],
    ["ghcr.io", "docker.io"],
    ["https://index.docker.io/v1/", "ghcr.io"],
    ["ghcr.io/some-org", "ghcr.io"],
    ["[::1]:5000", "[::1]:5001"],
  ])("does not use the auths key %s for registry %s", async (key, registry) => {
    await dockerConfig({ auths: { [key]: { auth: b64("u:p") } } });
    await expect(defaultCredentialSource(testEnv(), home).lookup(registry)).resolves.toBeUndefined();
  });

  it("reads $DOCKER_CONFIG/config.json instead of ~/.docker/config.json", async () => {
    await dockerConfig({ auths: { "ghcr.io": { auth: b64("home:p") } } });
    const dir = path.join(root, "docker-config");
    await writeJson(path.join(dir, "config.json"), { auths: { "ghcr.io": { auth: b64("dockerconfig:p") } } });
    await expect(defaultCredentialSource(testEnv({ DOCKER_CONFIG: dir }), home).lookup("ghcr.io")).resolves.toEqual(
      basic("dockerconfig", "p"),
    );
    await expect(defaultCredentialSource(testEnv(), home).lookup("ghcr.io")).resolves.toEqual(basic("home", "p"));
  });

  it("takes the home directory from env.HOME when none is given", async () => {
    await dockerConfig({ auths: { "ghcr.io": { auth: b64("home:p") } } });
    await expect(defaultCredentialSource(testEnv()).lookup("ghcr.io")).resolves.toEqual(basic("home", "p"));
  });

  it("prefers $REGISTRY_AUTH_FILE, then $XDG_RUNTIME_DIR/containers/auth.json, then the docker config", async () => {
    const runtime = path.join(root, "run");
    const authFile = await writeJson(path.join(root, "auth.json"), {
      auths: { "ghcr.io": { auth: b64("registry-auth-file:p") } },
    });
    await writeJson(path.join(runtime, "containers", "auth.json"), {
      auths: { "ghcr.io": { auth: b64("xdg:p") }, "quay.io": { auth: b64("xdg:p") } },
    });
    await dockerConfig({
      auths: { "ghcr.io": { auth: b64("docker:p") }, "quay.io": { auth: b64("docker:p") }, "gcr.io": { auth: b64("docker:p") } },
    });
    const all = defaultCredentialSource(testEnv({ REGISTRY_AUTH_FILE: authFile, XDG_RUNTIME_DIR: runtime }), home);
    await expect(all.lookup("ghcr.io")).resolves.toEqual(basic("registry-auth-file", "p"));
    // A file without an entry for the registry passes the lookup on to the next.
    await expect(all.lookup("quay.io")).resolves.toEqual(basic("xdg", "p"));
    await expect(all.lookup("gcr.io")).resolves.toEqual(basic("docker", "p"));
    await expect(all.lookup("docker.io")).resolves.toBeUndefined();

    const xdgOnly = defaultCredentialSource(testEnv({ XDG_RUNTIME_DIR: runtime }), home);
    await expect(xdgOnly.lookup("ghcr.io")).resolves.toEqual(basic("xdg", "p"));

    const missingAuthFile = defaultCredentialSource(testEnv({ REGISTRY_AUTH_FILE: path.join(root, "absent.json") }), home);
    await expect(missingAuthFile.lookup("ghcr.io")).resolves.toEqual(basic("docker", "p"));
  });

  it("rejects a file that is not JSON with one line naming the file and none of its contents", async () => {
    const file = path.join(home, ".docker", "config.json");
    await writeFile(file, `{"auths": {"ghcr.io": {"auth": "${b64("me:FILE-SECRET-1")}"}}, oops FILE-SECRET-2 }`);
    const err = await lookupError(defaultCredentialSource(testEnv(), home).lookup("ghcr.io"));
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.message).not.toMatch(/\n/);
    expect(err.message).not.toContain("FILE-SECRET");
    expect(err.message).not.toContain(b64("me:FILE-SECRET-1"));
    expect(err.cause).toBeUndefined();
  });

  it.each([
    ["auths is a list", { auths: ["FILE-SECRET"] }],
    ["auth is a number", { auths: { "ghcr.io": { auth: 12345 } } }],
    ["password is a number", { auths: { "ghcr.io": { username: "FILE-SECRET", password: 42 } } }],
    ["credHelpers maps to objects", { credHelpers: { "ghcr.io": { helper: "FILE-SECRET" } } }],
    ["the document is an array", ["FILE-SECRET"]],
  ])("rejects a file of the wrong shape (%s), naming the file", async (_what, value) => {
    const file = await dockerConfig(value);
    const err = await lookupError(defaultCredentialSource(testEnv(), home).lookup("ghcr.io"));
    expect(err.message).toContain(file);
    expect(err.message).not.toMatch(/\n/);
    expect(err.message).not.toContain("FILE-SECRET");
  });

  it.each([
    ["not base64", "!!not*base64 FILE-SECRET"],
    ["no colon", b64("userFILE-SECRET")],
    ["not UTF-8", Buffer.from([0xff, 0xfe, 0x3a, 0x41]).toString("base64")],
  ])("rejects an auth that is %s, naming the file and key but not the value", async (_what, auth) => {
    const file = await dockerConfig({ auths: { "https://ghcr.io/": { auth } } });
    const err = await lookupError(defaultCredentialSource(testEnv(), home).lookup("ghcr.io"));
    expect(err.message).toContain(file);
    expect(err.message).toContain("https://ghcr.io/");
    expect(err.message).not.toContain(auth);
    expect(err.message).not.toContain("FILE-SECRET");
  });

  it("only decodes the entry of the registry looked up", async () => {
    await dockerConfig({ auths: { "bad.example": { auth: "%%%" }, "ghcr.io": { auth: b64("u:p") } } });
    await expect(defaultCredentialSource(testEnv(), home).lookup("ghcr.io")).resolves.toEqual(basic("u", "p"));
  });

  it("treats an empty file as one without credentials", async () => {
    await writeFile(path.join(home, ".docker", "config.json"), "\n");
    await expect(defaultCredentialSource(testEnv(), home).lookup("ghcr.io")).resolves.toBeUndefined();
  });
});

describe("credential helpers", () => {
  it("asks a credHelpers helper, with the registry on stdin", async () => {
    await dockerConfig({ credHelpers: { "found.example": "test" } });
    const source = defaultCredentialSource(testEnv(), home);
    await expect(source.lookup("found.example")).resolves.toEqual(basic("alice", "helper-secret-123"));
    expect(await helperCalls()).toEqual(["found.example"]);
  });

  it("passes Docker Hub as https://index.docker.io/v1/ and other registries as written", async () => {
    await dockerConfig({ credHelpers: { "https://index.docker.io/v1/": "test", "localhost:5000": "test" } });
    const source = defaultCredentialSource(testEnv(), home);
    await expect(source.lookup("docker.io")).resolves.toEqual(basic("alice", "helper-secret-123"));
    await expect(source.lookup("localhost:5000")).resolves.toEqual(basic("alice", "helper-secret-123"));
    expect(await helperCalls()).toEqual(["https://index.docker.io/v1/", "localhost:5000"]);
  });

  it('turns Username "<token>" into an identity token', async () => {
    await dockerConfig({ credsStore: "test" });
    await expect(defaultCredentialSource(testEnv(), home).lookup("token.example")).resolves.toEqual({
      kind: "identityToken",
      token: "refresh-token-456",
    });
  });

  it('has no credentials when the helper answers "credentials not found"', async () => {
    await dockerConfig({ credsStore: "test" });
    await expect(defaultCredentialSource(testEnv(), home).lookup("missing.example")).resolves.toBeUndefined();
    expect(await helperCalls()).toEqual(["missing.example"]);
  });

  it("uses credsStore for every registry, and credHelpers before it", async () => {
    await dockerConfig({ credsStore: "absent", credHelpers: { "found.example": "test" } });
    const source = defaultCredentialSource(testEnv(), home);
    await expect(source.lookup("found.example")).resolves.toEqual(basic("alice", "helper-secret-123"));
    const err = await lookupError(source.lookup("other.example"));
    expect(err.message).toContain("docker-credential-absent");
  });

  it("lets the helper decide over the auths entry of the same file, as docker does", async () => {
    await dockerConfig({
      credsStore: "test",
      auths: { "found.example": { auth: b64("stale:p") }, "missing.example": { auth: b64("stale:p") } },
    });
    const source = defaultCredentialSource(testEnv(), home);
    await expect(source.lookup("found.example")).resolves.toEqual(basic("alice", "helper-secret-123"));
    await expect(source.lookup("missing.example")).resolves.toBeUndefined();
  });

  it("moves on to the next file when a helper has no credentials", async () => {
    const authFile = await writeJson(path.join(root, "auth.json"), { credHelpers: { "missing.example": "test" } });
    await dockerConfig({ auths: { "missing.example": { auth: b64("docker:p") } } });
    await expect(
      defaultCredentialSource(testEnv({ REGISTRY_AUTH_FILE: authFile }), home).lookup("missing.example"),
    ).resolves.toEqual(basic("docker", "p"));
  });

  it("reports a failing helper with the first line of its stderr and never its stdout", async () => {
    await dockerConfig({ credHelpers: { "broken.example": "test" } });
    const err = await lookupError(defaultCredentialSource(testEnv(), home).lookup("broken.example"));
    expect(err.message).toBe("credential helper docker-credential-test failed for broken.example: keychain is locked");
    expect(err.message).not.toContain("LEAKED-SECRET");
  });

  it("reports a helper whose output is not credentials without quoting it", async () => {
    await dockerConfig({ credHelpers: { "garbage.example": "test" } });
    const err = await lookupError(defaultCredentialSource(testEnv(), home).lookup("garbage.example"));
    expect(err.message).toContain("docker-credential-test");
    expect(err.message).toContain("garbage.example");
    expect(err.message).not.toContain("LEAKED-SECRET");
  });

  it("names the helper executable that is not on PATH", async () => {
    await dockerConfig({ credHelpers: { "ghcr.io": "nosuchhelper" } });
    const err = await lookupError(defaultCredentialSource(testEnv(), home).lookup("ghcr.io"));
    expect(err.message).toContain("docker-credential-nosuchhelper");
    expect(err.message).toMatch(/PATH/);
  });

  it("looks the helper up on the PATH of the env given, not this process's", async () => {
    await dockerConfig({ credHelpers: { "found.example": "test" } });
    const err = await lookupError(
      defaultCredentialSource({ ...testEnv(), PATH: path.join(root, "empty") }, home).lookup("found.example"),
    );
    expect(err.message).toContain("docker-credential-test");
  });

  it("refuses a helper name that is a path", async () => {
    await dockerConfig({ credsStore: "../bin/docker-credential-test" });
    await lookupError(defaultCredentialSource(testEnv(), home).lookup("found.example"));
    expect(await helperCalls()).toEqual([]);
  });

  it("kills a helper that runs too long", async () => {
    await dockerConfig({ credHelpers: { "slow.example": "test" } });
    // The message shows the kill: left alone, the helper would exit after 20 s with no output ("not
    // JSON"). No bound on how long the lookup took: a busy machine makes any such bound flaky.
    const err = await lookupError(defaultCredentialSource(testEnv(), home, { helperTimeoutMs: 300 }).lookup("slow.example"));
    expect(err.message).toContain("docker-credential-test failed for slow.example: it did not finish within 0.3 s");
  });

  it("asks the helper once per registry, however often and however concurrently it is looked up", async () => {
    await dockerConfig({ credsStore: "test" });
    const source = defaultCredentialSource(testEnv(), home);
    const results = await Promise.all([source.lookup("found.example"), source.lookup("found.example"), source.lookup("missing.example")]);
    expect(results).toEqual([basic("alice", "helper-secret-123"), basic("alice", "helper-secret-123"), undefined]);
    await source.lookup("found.example");
    await source.lookup("missing.example");
    await source.lookup("docker.io");
    await source.lookup("index.docker.io");
    expect((await helperCalls()).sort()).toEqual(["found.example", "https://index.docker.io/v1/", "missing.example"]);
  });

  it("never puts a secret in an error message", async () => {
    const secrets = ["helper-secret-123", "refresh-token-456", "LEAKED-SECRET-789", "FILE-SECRET"];
    await dockerConfig({
      credsStore: "test",
      credHelpers: { "ghcr.io": "nosuchhelper" },
      auths: { "found.example": { auth: b64("x:FILE-SECRET") } },
    });
    const source = defaultCredentialSource(testEnv(), home, { helperTimeoutMs: 300 });
    const messages: string[] = [];
    for (const registry of ["found.example", "token.example", "broken.example", "garbage.example", "slow.example", "ghcr.io"]) {
      await source.lookup(registry).catch((err: unknown) => messages.push(String(err instanceof Error ? err.stack : err)));
    }
    expect(messages.length).toBe(4);
    for (const message of messages) for (const secret of secrets) expect(message).not.toContain(secret);
  });
});
