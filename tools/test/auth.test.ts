/** Registry authentication against a real registry: htpasswd Basic auth and distribution token auth. */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestImage, dockerConfigEnv, makeTempDir, removeTempDir, runOciutil, startRegistry, type TestRegistry } from "./harness/index.js";

let tmp: string;
let fixture: string;
let fixtureDigest: string;
beforeAll(async () => {
  tmp = await makeTempDir("auth");
  fixture = join(tmp, "fixture");
  fixtureDigest = (await buildTestImage(fixture, { layers: [{ files: { a: "1" } }, { files: { b: "2" } }, { randomBytes: 50_000 }] })).manifestDigest;
});
afterAll(async () => removeTempDir(tmp));

/** An environment with no credentials at all (no home config, no auth file). */
function noCredentials(): Record<string, string | undefined> {
  return { HOME: join(tmp, "empty-home"), DOCKER_CONFIG: join(tmp, "empty-docker"), REGISTRY_AUTH_FILE: undefined, XDG_RUNTIME_DIR: undefined };
}

function expectOneLineFailure(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

describe("Basic auth (htpasswd)", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: "basic" });
  });
  afterAll(async () => registry?.stop());

  it("fails with one line naming the registry when there are no credentials", async () => {
    const r = await runOciutil(["push", "--insecure", fixture, `${registry.host}/app:v1`], { env: noCredentials() });
    expectOneLineFailure(r, new RegExp(`^ociutil: ${registry.host.replace(/\./g, "\\.")}: 401 Unauthorized and no credentials for it`));
  });

  it("pushes and pulls with credentials from DOCKER_CONFIG", async () => {
    const env = { ...noCredentials(), ...(await dockerConfigEnv(join(tmp, "docker-basic"), registry)), REGISTRY_AUTH_FILE: undefined };
    const push = await runOciutil(["push", "--insecure", fixture, `${registry.host}/app:v1`], { env });
    expect(push.stderr).toBe("");
    expect(push.stdout.trim()).toBe(`${registry.host}/app@${fixtureDigest}`);
    const pull = await runOciutil(["pull", "--insecure", `${registry.host}/app:v1`, "-o", join(tmp, "basic-pull")], { env });
    expect(pull.code).toBe(0);
  });

  it("uses REGISTRY_AUTH_FILE before the docker config", async () => {
    const good = await dockerConfigEnv(join(tmp, "authfile-good"), registry);
    const bad = await dockerConfigEnv(join(tmp, "authfile-bad"), { host: registry.host, username: "nobody", password: "wrong" });
    const r = await runOciutil(["pull", "--insecure", `${registry.host}/app:v1`, "-o", join(tmp, "authfile-pull")], {
      env: { ...noCredentials(), DOCKER_CONFIG: bad.DOCKER_CONFIG, REGISTRY_AUTH_FILE: good.REGISTRY_AUTH_FILE },
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("runs a docker-credential helper named by credHelpers", async () => {
    const bin = join(tmp, "helper-bin");
    await mkdir(bin, { recursive: true });
    const helper = join(bin, "docker-credential-ocitest");
    await writeFile(
      helper,
      `#!/bin/sh\nread server\n[ "$1" = get ] || exit 1\n[ "$server" = "${registry.host}" ] || { echo "credentials not found in native keychain"; exit 1; }\n` +
        `printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$server" "${registry.username}" "${registry.password}"\n`,
    );
    await chmod(helper, 0o755);
    const cfg = join(tmp, "helper-docker");
    await mkdir(cfg, { recursive: true });
    await writeFile(join(cfg, "config.json"), JSON.stringify({ credHelpers: { [registry.host]: "ocitest" } }));
    const r = await runOciutil(["pull", "--insecure", `${registry.host}/app:v1`, "-o", join(tmp, "helper-pull")], {
      env: { ...noCredentials(), DOCKER_CONFIG: cfg, PATH: `${bin}:${process.env["PATH"]}` },
    });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`${registry.host}/app@${fixtureDigest}`);
  });

  it("rejects wrong credentials with one line that does not contain the password", async () => {
    const password = "s3cret-Wrong-Passw0rd";
    const env = { ...noCredentials(), ...(await dockerConfigEnv(join(tmp, "docker-wrong"), { host: registry.host, username: "u", password })) };
    const r = await runOciutil(["pull", "--insecure", `${registry.host}/app:v1`, "-o", join(tmp, "wrong-pull")], { env });
    expectOneLineFailure(r, /unauthorized/);
    expect(r.stderr + r.stdout).not.toContain(password);
    expect(r.stderr + r.stdout).not.toContain(Buffer.from(`u:${password}`).toString("base64"));
  });
});

describe("token auth", () => {
  let registry: TestRegistry;
  let env: Record<string, string | undefined>;
  beforeAll(async () => {
    registry = await startRegistry({ auth: "token", anonymousPull: true });
    env = { ...noCredentials(), ...(await dockerConfigEnv(join(tmp, "docker-token"), registry)) };
  });
  afterAll(async () => registry?.stop());

  it("gets a push token with the credentials and reuses one token per scope", async () => {
    registry.tokenRequests!.length = 0;
    const push = await runOciutil(["push", "--insecure", fixture, `${registry.host}/team/app:v1`], { env });
    expect(push.stderr).toBe("");
    const pushScopes = registry.tokenRequests!.map((t) => t.scopes.join(" "));
    // 4 blobs and a manifest, all under one scope: the token server is asked once for it.
    expect(pushScopes).toEqual(["repository:team/app:pull,push"]);
    expect(registry.tokenRequests!.every((t) => t.authorization)).toBe(true);

    registry.tokenRequests!.length = 0;
    const pull = await runOciutil(["pull", "--insecure", `${registry.host}/team/app:v1`, "-o", join(tmp, "token-pull")], { env });
    expect(pull.code).toBe(0);
    expect(registry.tokenRequests!.map((t) => t.scopes.join(" "))).toEqual(["repository:team/app:pull"]);
  });

  it("asks for both repositories' scopes to mount across them", async () => {
    registry.tokenRequests!.length = 0;
    const r = await runOciutil(["copy", "--insecure", "--json", `${registry.host}/team/app:v1`, `${registry.host}/team/copy:v1`], { env });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).blobs.mounted).toBe(4);
    const scopes = registry.tokenRequests!.map((t) => [...t.scopes].sort().join(" "));
    expect(scopes).toContain("repository:team/app:pull repository:team/copy:pull,push");
  });

  it("pulls anonymously where the token server allows it, and refuses an anonymous push in one line", async () => {
    const pull = await runOciutil(["pull", "--insecure", `${registry.host}/team/app:v1`, "-o", join(tmp, "anon-pull")], { env: noCredentials() });
    expect(pull.stderr).toBe("");
    expect(pull.code).toBe(0);
    const push = await runOciutil(["push", "--insecure", fixture, `${registry.host}/team/anon:v1`], { env: noCredentials() });
    expectOneLineFailure(push, /token server refused anonymous access for repository:team\/anon:pull,push/);
  });
});
