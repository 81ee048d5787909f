/**
 * Generated bad input for what a registry, a credentials file, a credential helper and a promoter
 * manifest hand ociutil: `WWW-Authenticate` and `Link` headers, docker `config.json` and helper
 * output, promoter YAML. Each input ends in a parsed value that holds its invariants, or one clear
 * OciError (or, for promoter YAML, a list of one-line problems); never another exception or a hang.
 * Secrets in a credentials file never appear in an error. Seed: see harness/property.ts.
 */
import fc from "fast-check";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPlainManifest, readThinManifest, type Problem } from "../ociutil/promote/manifest.js";
import { formatProblem, validateManifests } from "../ociutil/promote/validate.js";
import { parseChallenges } from "../ociutil/remote/challenge.js";
import { defaultCredentialSource, normaliseRegistryKey } from "../ociutil/remote/credentials.js";
import { nextPage } from "../ociutil/remote/link.js";
import { makeTempDir, removeTempDir } from "./harness/index.js";
import { announceSeed, damagedBytes, hostileString, mutatedJson, outcome, outcomeAsync, runs, serialize, sha256Digest } from "./harness/property.js";

announceSeed("property-remote-promote");

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir("property-remote");
});
afterAll(async () => {
  await removeTempDir(tmp);
});

/** Edits of a string: a hostile piece inserted, a run deleted, truncation, repetition. */
function edited(valid: fc.Arbitrary<string>, pieces: fc.Arbitrary<string>, maxRepeat = 200): fc.Arbitrary<string> {
  return fc.oneof(
    valid,
    fc.tuple(valid, fc.nat(), fc.nat({ max: 8 }), fc.oneof(hostileString, pieces)).map(([s, at, del, ins]) => {
      const i = at % (s.length + 1);
      return s.slice(0, i) + ins + s.slice(i + del);
    }),
    fc.tuple(valid, fc.nat()).map(([s, n]) => s.slice(0, n % (s.length + 1))),
    fc.tuple(valid, fc.integer({ min: 2, max: maxRepeat })).map(([s, n]) => s.repeat(n)),
  );
}

// ---- WWW-Authenticate ----

const token = fc.stringMatching(/^[A-Za-z0-9._~+-]{1,12}$/);
const quoted = fc.string({ maxLength: 30 }).map((s) => `"${s.replace(/["\\]/g, "\\$&")}"`);
const challenge = fc
  .tuple(fc.constantFrom("Bearer", "Basic", "bearer", "Negotiate"), fc.array(fc.tuple(fc.constantFrom("realm", "service", "scope", "error", "x"), fc.oneof(quoted, token)), { maxLength: 4 }))
  .map(([scheme, params]) => `${scheme} ${params.map(([k, v]) => `${k}=${v}`).join(",")}`);
const wwwAuthenticate = fc.array(challenge, { minLength: 1, maxLength: 3 }).map((cs) => cs.join(", "));

describe("WWW-Authenticate", () => {
  it("parses any header to challenges with lowercase schemes and string params, never throwing", () => {
    fc.assert(
      fc.property(edited(wwwAuthenticate, fc.constantFrom('"', "\\", ",", "=", " ", "\t", "realm=", '="'), 50), (header) => {
        const challenges = parseChallenges(header);
        expect(challenges.length).toBeLessThanOrEqual(header.length);
        for (const c of challenges) {
          expect(c.scheme).toBe(c.scheme.toLowerCase());
          for (const v of Object.values(c.params)) expect(typeof v).toBe("string");
        }
      }),
      runs(3000),
    );
  });
});

// ---- Link ----

const base = new URL("http://registry.example:5000/v2/app/tags/list");
const linkTarget = fc.oneof(
  fc.constantFrom("/v2/app/tags/list?n=10&last=b", "http://registry.example:5000/v2/app/tags/list?last=x", "https://other.example/v2/x", "//other.example/x", "javascript:alert(1)", "file:///etc/passwd", "http://[::1", "/../../../etc"),
  fc.webUrl(),
  fc.string({ maxLength: 30 }),
);
const link = fc
  .tuple(linkTarget, fc.constantFrom('rel="next"', "rel=next", 'rel="prev"', 'rel="next"; type="x"', ""))
  .map(([u, rel]) => `<${u}>; ${rel}`);

describe("Link", () => {
  it("yields a next page on the registry's own host, nothing, or one clear error", () => {
    fc.assert(
      fc.property(edited(link, fc.constantFrom("<", ">", ";", ",", '"', "rel=next")), (header) => {
        const next = outcome(() => nextPage(header, base, "tag list"), `nextPage(${JSON.stringify(header)})`);
        if (next === undefined) return;
        expect(next.host).toBe(base.host);
        expect(next.protocol).toBe(base.protocol);
      }),
      runs(4000),
    );
  });
});

// ---- docker config.json and credential helpers ----

const PASSWORD = "pw-Kq9Zt7Xv";
const IDENTITY = "idtok-Lm3Np8Rs";
const dockerConfig = fc.record(
  {
    auths: fc.dictionary(
      fc.constantFrom("registry.example", "https://index.docker.io/v1/", "registry.example:5000", "http://registry.example/v2/", "ghcr.io/org", "REGISTRY.EXAMPLE"),
      fc.record(
        {
          auth: fc.constantFrom(Buffer.from(`user:${PASSWORD}`).toString("base64"), Buffer.from(PASSWORD).toString("base64"), `${PASSWORD}==`, ""),
          username: fc.constantFrom("user", ""),
          password: fc.constant(PASSWORD),
          identitytoken: fc.constant(IDENTITY),
        },
        { requiredKeys: [] },
      ),
      { maxKeys: 3 },
    ),
    credHelpers: fc.dictionary(fc.constantFrom("registry.example", "other.example"), fc.constantFrom("prop", "missing", "../evil", "")),
    credsStore: fc.constantFrom("prop", "missing", ""),
  },
  { requiredKeys: [] },
);

describe("docker config.json", () => {
  it("yields a credential, none, or one clear error that never quotes a secret", async () => {
    const dir = join(tmp, "docker-config");
    await mkdir(dir, { recursive: true });
    await fc.assert(
      fc.asyncProperty(damagedBytes(mutatedJson(dockerConfig).map(serialize)), fc.constantFrom("registry.example", "docker.io", "registry.example:5000"), async (bytes, registry) => {
        await writeFile(join(dir, "config.json"), bytes);
        // No helper on PATH: a helper named by the file fails with one line (tested with a real helper below).
        const source = defaultCredentialSource({ DOCKER_CONFIG: dir, HOME: dir, PATH: "" }, dir);
        try {
          const cred = await source.lookup(registry);
          if (cred !== undefined) expect(["basic", "identityToken"]).toContain(cred.kind);
        } catch (err) {
          await outcomeAsync(() => Promise.reject(err), `config.json ${JSON.stringify(bytes.toString())}`);
          expect((err as Error).message).not.toContain(PASSWORD);
          expect((err as Error).message).not.toContain(IDENTITY);
        }
      }),
      runs(800),
    );
  });

  it("normalises any key to a host or to nothing, never throwing", () => {
    fc.assert(
      fc.property(edited(fc.constantFrom("https://index.docker.io/v1/", "registry.example:5000", "ghcr.io/org", "http://h/v2/"), fc.constantFrom("/", ":", "://", " ")), (key) => {
        const host = normaliseRegistryKey(key);
        if (host !== undefined) expect(host).toBe(host.toLowerCase());
      }),
      runs(3000),
    );
  });

  it("reads any credential helper output to a credential, none, or one clear error that never quotes it", async () => {
    const dir = join(tmp, "helper");
    const bin = join(dir, "bin");
    await mkdir(bin, { recursive: true });
    // A real helper: prints the generated output (and exits with the generated status).
    await writeFile(join(bin, "docker-credential-prop"), '#!/bin/sh\ncat "$PROP_OUT"\nexit "$(cat "$PROP_STATUS")"\n');
    await chmod(join(bin, "docker-credential-prop"), 0o755);
    await writeFile(join(dir, "config.json"), JSON.stringify({ credHelpers: { "registry.example": "prop" } }));
    const output = fc.record({ ServerURL: fc.constant("registry.example"), Username: fc.constantFrom("user", "<token>", ""), Secret: fc.constant(PASSWORD) }, { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(damagedBytes(mutatedJson(output).map(serialize)), fc.constantFrom(0, 0, 0, 1), async (bytes, status) => {
        await writeFile(join(dir, "out"), bytes);
        await writeFile(join(dir, "status"), String(status));
        const env = { DOCKER_CONFIG: dir, HOME: dir, PATH: bin, PROP_OUT: join(dir, "out"), PROP_STATUS: join(dir, "status") };
        try {
          await defaultCredentialSource(env, dir).lookup("registry.example");
        } catch (err) {
          await outcomeAsync(() => Promise.reject(err), `helper output ${JSON.stringify(bytes.toString())}`);
          expect((err as Error).message).not.toContain(PASSWORD);
        }
      }),
      runs(60),
    );
  });
});

// ---- promoter YAML ----

const registryName = fc.constantFrom("registry.example/staging", "prod.example", "localhost:5000/p", "127.0.0.1:5000");
const tagYaml = fc.oneof(fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,8}$/), fc.constantFrom("1.10", "0x1F", "true", "~", "null", "1e3", '"quoted"', "'single'"));
const plainManifest = fc
  .tuple(
    fc.array(fc.tuple(registryName, fc.boolean()), { minLength: 1, maxLength: 3 }),
    fc.array(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9/-]{0,10}$/), fc.array(fc.tuple(sha256Digest, fc.array(tagYaml, { maxLength: 3 })), { maxLength: 3 })), { maxLength: 3 }),
  )
  .map(([regs, images]) => {
    const r = regs.map(([n, src]) => `- name: ${n}\n  src: ${src}\n`).join("");
    const i = images
      .map(([name, dmap]) => `- name: ${name}\n  dmap:\n${dmap.map(([d, tags]) => `    "${d}": [${tags.join(", ")}]\n`).join("")}`)
      .join("");
    return `registries:\n${r}images:\n${i}`;
  });
const yamlPieces = fc.constantFrom(": ", "- ", "\n", "\n  ", "&a ", "*a", "!!binary ", "? ", "{", "[", "]", "}", "'", '"', "#", "|", ">", "%YAML 1.2\n", "---\n", "\t", "<<: *a\n", "registries:", "images:", "dmap:", "src: yes");

describe("promoter YAML", () => {
  it("reads any text to a manifest and one-line problems, and validates it without throwing", async () => {
    const file = join(tmp, "promoter-manifest.yaml");
    const imagesFile = join(tmp, "images.yaml");
    await fc.assert(
      fc.asyncProperty(damagedBytes(edited(plainManifest, yamlPieces, 8)), fc.boolean(), async (bytes, thin) => {
        await writeFile(file, bytes);
        await writeFile(imagesFile, bytes);
        const problems: Problem[] = [];
        const m = thin ? await readThinManifest(file, imagesFile, problems) : await readPlainManifest(file, problems);
        const { problems: more, edges } = m !== undefined ? validateManifests([m]) : { problems: [], edges: [] };
        for (const p of [...problems, ...more]) {
          const line = formatProblem(p);
          expect(line, "a problem is one line").not.toMatch(/[\r\n]/);
          expect(line.length).toBeLessThan(2000);
        }
        if (problems.length + more.length === 0) for (const e of edges) expect(e.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      }),
      runs(800),
    );
  });
});
