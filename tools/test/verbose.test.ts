/**
 * --verbose: every request and response, retry and auth step on stderr, and no secret anywhere. Each
 * command that talks to registries runs against the harness's htpasswd (Basic) and token registries,
 * whose password is known; neither it, nor the Basic header made of it, nor any token the token
 * server issued, may appear in stdout or stderr.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildTestImage,
  dockerConfigEnv,
  makeTempDir,
  removeTempDir,
  runOciutil,
  startFaultProxy,
  startRegistry,
  type BuiltImage,
  type RegistryAuth,
  type TestRegistry,
} from "./harness/index.js";
import { redactUrl } from "../ociutil/remote/request-log.js";

let tmp: string;
let fixture: string;
let image: BuiltImage;
beforeAll(async () => {
  tmp = await makeTempDir("verbose");
  fixture = join(tmp, "fixture");
  image = await buildTestImage(fixture, { layers: [{ files: { a: "1" } }, { randomBytes: 40_000 }] });
}, 60_000);
afterAll(async () => removeTempDir(tmp));

/** Every form a secret of `registry` could leak in: the password and the Basic header made of it. */
function secrets(registry: TestRegistry): string[] {
  return [registry.password!, Buffer.from(`${registry.username}:${registry.password}`).toString("base64")];
}

/** The token server's tokens are JWTs: base64url of a JSON header, `eyJ`, then a dot. */
const JWT = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;

for (const auth of ["basic", "token"] as RegistryAuth[]) {
  describe(`every registry command with --verbose, ${auth} auth`, () => {
    let registry: TestRegistry;
    let env: Record<string, string | undefined>;
    const outputs: Array<{ args: string[]; stdout: string; stderr: string }> = [];

    beforeAll(async () => {
      registry = await startRegistry({ auth });
      env = { HOME: join(tmp, `home-${auth}`), REGISTRY_AUTH_FILE: undefined, ...(await dockerConfigEnv(join(tmp, `docker-${auth}`), registry)) };
    }, 60_000);
    afterAll(async () => registry?.stop());

    async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      const r = await runOciutil([...args, "--verbose"], { env });
      outputs.push({ args, stdout: r.stdout, stderr: r.stderr });
      expect(r.stderr.trim().split("\n").at(-1), `${args.join(" ")}: ${r.stderr}`).not.toMatch(/^ociutil: /);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      return r;
    }

    it("pull, push, copy, attest, promote and snapshot show each request, response and auth step", async () => {
      const repo = `${registry.host}/app`;
      const push = await run(["push", "--insecure", fixture, `${repo}:v1`]);
      expect(push.stderr).toMatch(new RegExp(`^> HEAD http://${registry.host}/v2/app/blobs/sha256:[0-9a-f]{64}$`, "m"));
      expect(push.stderr).toMatch(/^< 401 HEAD http:\/\/\S+ \(\d+ bytes, \d+ ms\)$/m);
      expect(push.stderr).toMatch(/^< 201 PUT http:\/\/\S+\/v2\/app\/manifests\/v1 \(\d+ bytes, \d+ ms\)$/m);
      // An upload session's state is opaque: its value is redacted, the digest is kept.
      expect(push.stderr).toMatch(/^> PUT http:\/\/\S+\/v2\/app\/blobs\/uploads\/[^?\s]+\?_state=REDACTED&digest=sha256%3A[0-9a-f]{64} \(\d+ bytes\)$/m);
      if (auth === "basic") {
        expect(push.stderr).toMatch(/^auth 127\.0\.0\.1:\d+: 401 for repository:app:pull,push; challenge: basic realm="[^"]*"$/m);
        expect(push.stderr).toMatch(/^auth 127\.0\.0\.1:\d+: answering the Basic challenge with the stored username and password$/m);
      } else {
        expect(push.stderr).toMatch(/^auth 127\.0\.0\.1:\d+: 401 for repository:app:pull,push; challenge: bearer realm="http:\/\/127\.0\.0\.1:\d+\/token" service="[^"]+" scope="repository:app:[a-z,]+"$/m);
        expect(push.stderr).toMatch(/^auth 127\.0\.0\.1:\d+: token request for repository:app:pull,push with the stored username and password$/m);
        expect(push.stderr).toMatch(/^> GET http:\/\/127\.0\.0\.1:\d+\/token\?service=[^&]+&scope=repository%3Aapp%3Apull%2Cpush$/m);
        expect(push.stderr).toMatch(/^< 200 GET http:\/\/127\.0\.0\.1:\d+\/token\?\S+ \(\d+ bytes, \d+ ms\)$/m);
      }
      await run(["pull", "--insecure", `${repo}:v1`, "-o", join(tmp, `pull-${auth}`)]);
      await run(["pull", "--insecure", "--shallow", "--json", `${repo}:v1`, "-o", join(tmp, `shallow-${auth}`)]);
      await run(["copy", "--insecure", `${repo}:v1`, `${registry.host}/copied:v1`]);
      const statement = join(tmp, `statement-${auth}.json`);
      await writeFile(
        statement,
        JSON.stringify({
          _type: "https://in-toto.io/Statement/v1",
          subject: [{ name: repo, digest: { sha256: image.manifestDigest.slice(7) } }],
          predicateType: "https://slsa.dev/provenance/v1",
          predicate: { buildDefinition: { buildType: "https://example.com/t", externalParameters: {} }, runDetails: { builder: { id: "https://example.com/b" } } },
        }),
      );
      await run(["attest", "--insecure", `${repo}:v1`, "--statement", statement]);
      const manifest = join(tmp, `promoter-${auth}.yaml`);
      await writeFile(
        manifest,
        `registries:\n- name: ${registry.host}\n  src: true\n- name: ${registry.host}/prod\nimages:\n- name: app\n  dmap:\n    "${image.manifestDigest}": ["1.0"]\n`,
      );
      await run(["promote", "--insecure", "--manifest", manifest, "--confirm"]);
      await run(["snapshot", "--insecure", `${registry.host}/prod`]);
    }, 180_000);

    it("never shows the password, the Basic header or a token", () => {
      expect(outputs.length).toBe(7);
      for (const o of outputs) {
        for (const secret of secrets(registry)) {
          expect(o.stdout.includes(secret), `${o.args.join(" ")} stdout`).toBe(false);
          expect(o.stderr.includes(secret), `${o.args.join(" ")} stderr`).toBe(false);
        }
        expect(o.stdout, o.args.join(" ")).not.toMatch(JWT);
        expect(o.stderr, o.args.join(" ")).not.toMatch(JWT);
      }
    });
  });
}

describe("--verbose shows retries with their back-off", () => {
  it("one line per retry, then the response that ended it", async () => {
    const registry = await startRegistry();
    try {
      await runOciutil(["push", "--insecure", fixture, `${registry.host}/app:v1`]);
      // MOCK: docker-registry never answers 503; a registry behind a busy load balancer does.
      const proxy = await startFaultProxy(registry.host, [{ method: "GET", path: /\/manifests\/v1$/, times: 2, action: { kind: "status", status: 503 } }]);
      try {
        const r = await runOciutil(["pull", "--insecure", "--verbose", `${proxy.host}/app:v1`, "-o", join(tmp, "retry-pull")]);
        expect(r.code).toBe(0);
        const manifestLines = r.stderr.split("\n").filter((l) => l.includes("/manifests/v1"));
        expect(manifestLines).toEqual([
          `> GET http://${proxy.host}/v2/app/manifests/v1`,
          expect.stringMatching(/^< 503 GET \S+ \(\d+ bytes, \d+ ms\)$/),
          expect.stringMatching(new RegExp(`^retry GET http://${proxy.host}/v2/app/manifests/v1 after status 503: waiting \\d+ ms \\(attempt 2 of 5\\)$`)),
          `> GET http://${proxy.host}/v2/app/manifests/v1`,
          expect.stringMatching(/^< 503 GET /),
          expect.stringMatching(/^retry GET .* \(attempt 3 of 5\)$/),
          `> GET http://${proxy.host}/v2/app/manifests/v1`,
          expect.stringMatching(/^< 200 GET /),
        ]);
      } finally {
        await proxy.stop();
      }
    } finally {
      await registry.stop();
    }
  }, 60_000);
});

describe("every command", () => {
  it("takes --verbose and --progress, and a local one runs with them as without", async () => {
    const help = await runOciutil(["--help"]);
    const names = [...help.stdout.matchAll(/^ {2}([a-z][a-z-]+) /gm)].map((m) => m[1]!).filter((n) => n !== "help");
    expect(names).toEqual(expect.arrayContaining(["pull", "push", "copy", "attest", "promote", "snapshot", "save", "export", "verify"]));
    for (const name of names) {
      const r = await runOciutil([name, "--help"]);
      expect(r.stdout, name).toMatch(/^ {2}--progress <mode> /m);
      expect(r.stdout, name).toMatch(/^ {2}-v, --verbose /m);
    }
    const verify = await runOciutil(["verify", "--verbose", "--progress", "tty", fixture]);
    expect(verify.code).toBe(0);
    expect(verify.stderr).toBe("");
  }, 120_000);
});

describe("redactUrl", () => {
  it("keeps the distribution API's parameters and hides everything else, user info included", () => {
    const signed = new URL("https://user:pw@bucket.example/blob?X-Amz-Signature=abc123&X-Amz-Credential=AKIA&digest=sha256:00");
    expect(redactUrl(signed)).toBe("https://bucket.example/blob?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&digest=sha256%3A00");
    expect(redactUrl(new URL("http://r:5000/v2/a/tags/list?n=100&last=v1"))).toBe("http://r:5000/v2/a/tags/list?n=100&last=v1");
    expect(redactUrl(new URL("http://r/v2/a/blobs/uploads/?mount=sha256:1&from=b"))).toBe("http://r/v2/a/blobs/uploads/?mount=sha256%3A1&from=b");
  });
});
