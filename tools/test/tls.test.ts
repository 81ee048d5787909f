/**
 * ociutil against a real registry that speaks HTTPS only (distribution with `http.tls`, a self-signed
 * certificate for 127.0.0.1), the way every production registry does. Blob downloads go through
 * sockets made with Node's `onread` option (tools/ociutil/remote/reused-read-buffers.ts), for TLS
 * sockets too: a ~24 MB layer makes sure many TLS records pass through the reused buffer.
 *
 * ociutil trusts the certificate only through NODE_EXTRA_CA_CERTS (never --insecure, which would mean
 * plain HTTP); crane through SSL_CERT_FILE (Go's variable) where it checks what ociutil pushed.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  blobSize,
  buildTestImage,
  makeTempDir,
  mustRun,
  peer,
  removeTempDir,
  runOciutil,
  mustRunOciutil,
  seedImage,
  startRegistry,
  type OciutilOptions,
  type RunResult,
  type TestRegistry,
} from "./harness/index.js";

const BIG_LAYER_BYTES = 24 * 1024 * 1024;

let registry: TestRegistry;
let tmp: string;
/** The seeded image: one ~24 MB random layer and a small one. */
let bigDigest: string;

beforeAll(async () => {
  registry = await startRegistry({ tls: true });
  tmp = await makeTempDir("tls");
  // crane pushes with --insecure, which for crane means "do not check the certificate" (it still tries
  // HTTPS first); seedImage checks that the pushed digest is the fixture's.
  bigDigest = await seedImage(registry, "tls/big:v1", {
    layers: [{ randomBytes: BIG_LAYER_BYTES }, { files: { "etc/tls-release": "tls 1\n" } }],
  });
});
afterAll(async () => {
  await registry?.stop();
  await removeTempDir(tmp);
});

function caPath(reg: TestRegistry): string {
  if (reg.caCertPath === undefined) throw new Error(`registry ${reg.url} has no caCertPath: was it started with tls: true?`);
  return reg.caCertPath;
}

/** ociutil trusting the test registry's certificate the way a user would: NODE_EXTRA_CA_CERTS. */
const trusting = (reg: TestRegistry): OciutilOptions => ({ env: { NODE_EXTRA_CA_CERTS: caPath(reg) } });

async function ociutil(args: string[], opts: OciutilOptions): Promise<RunResult> {
  return await mustRunOciutil(args, opts);
}

/** crane checking the certificate (no --insecure): Go reads its roots from SSL_CERT_FILE. */
async function craneDigest(reg: TestRegistry, ref: string): Promise<string> {
  return (await mustRun(peer("crane"), ["digest", ref], { env: { SSL_CERT_FILE: caPath(reg) } })).stdout.trim();
}

async function blobNames(dir: string): Promise<string[]> {
  return await readdir(join(dir, "blobs", "sha256")).catch(() => []);
}

/** Every file in blobs/sha256 is named by the sha256 of its content; returns the names checked. */
async function expectBlobsMatchNames(dir: string): Promise<string[]> {
  const names = await blobNames(dir);
  for (const name of names) {
    expect(name).toMatch(/^[0-9a-f]{64}$/);
    const hash = createHash("sha256");
    await pipeline(createReadStream(join(dir, "blobs", "sha256", name)), hash);
    expect(hash.digest("hex"), `blob ${name}`).toBe(name);
  }
  return names;
}

async function expectVerifies(dir: string): Promise<void> {
  const r = await runOciutil(["verify", dir]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/: ok \(1 manifests, /);
}

async function manifestOf(dir: string, digest: string): Promise<{ config: { digest: string }; layers: Array<{ digest: string; size: number }> }> {
  return JSON.parse(await readFile(join(dir, "blobs", "sha256", digest.slice("sha256:".length)), "utf8"));
}

describe("pull over TLS", () => {
  it("pulls a 24 MB layer image trusting the certificate via NODE_EXTRA_CA_CERTS, no --insecure", async () => {
    const out = join(tmp, "pulled-big");
    const r = await ociutil(["pull", `${registry.host}/tls/big:v1`, "-o", out], trusting(registry));
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`${registry.host}/tls/big@${bigDigest}`);

    const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0].digest).toBe(bigDigest);
    await expectVerifies(out);

    // Every blob arrived whole: manifest, config and both layers, each hashing to its name.
    const manifest = await manifestOf(out, bigDigest);
    const expected = [bigDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)].map((d) => d.slice("sha256:".length));
    const names = await expectBlobsMatchNames(out);
    expect(names.sort()).toEqual([...new Set(expected)].sort());
    for (const layer of manifest.layers) expect(await blobSize(out, layer.digest)).toBe(layer.size);
    expect(Math.max(...manifest.layers.map((l) => l.size))).toBeGreaterThan(BIG_LAYER_BYTES);
  });

  it("without the certificate trusted: exit 1, one line naming the certificate problem, no blobs written", async () => {
    const out = join(tmp, "pulled-untrusted");
    const r = await runOciutil(["pull", `${registry.host}/tls/big:v1`, "-o", out], { env: { NODE_EXTRA_CA_CERTS: undefined } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ociutil: /);
    expect(lines[0]).toMatch(/certificate/);
    expect(lines[0]).toContain(registry.host);
    expect(lines[0]).toContain("to trust a private CA, set NODE_EXTRA_CA_CERTS to its PEM file");
    expect(lines[0]).not.toMatch(/internal error/);
    expect(await blobNames(out)).toEqual([]);
  });
});

describe("push over TLS", () => {
  it("pushes a layout, and pulls it back into another layout with the same digest", async () => {
    const src = join(tmp, "push-src");
    const built = await buildTestImage(src, {
      layers: [{ files: { "etc/pushed": "pushed over TLS\n" } }, { randomBytes: 3 * 1024 * 1024 }],
      refName: "v1",
    });
    const push = await ociutil(["push", src, `${registry.host}/tls/pushed:v1`], trusting(registry));
    expect(push.stderr).toBe("");
    expect(push.stdout.trim()).toBe(`${registry.host}/tls/pushed@${built.manifestDigest}`);
    // crane, checking the certificate itself, sees the tag at that digest.
    expect(await craneDigest(registry, `${registry.host}/tls/pushed:v1`)).toBe(built.manifestDigest);

    const back = join(tmp, "push-back");
    const pull = await ociutil(["pull", `${registry.host}/tls/pushed:v1`, "-o", back], trusting(registry));
    expect(pull.stdout.trim()).toBe(`${registry.host}/tls/pushed@${built.manifestDigest}`);
    await expectVerifies(back);
    const names = await expectBlobsMatchNames(back);
    expect(names.sort()).toEqual((await blobNames(src)).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort());
  });
});

describe("copy over TLS", () => {
  it("copies between two repositories of the TLS registry, digest preserved", async () => {
    const r = await ociutil(["copy", `${registry.host}/tls/big:v1`, `${registry.host}/tls/copied:v2`, "--json"], trusting(registry));
    expect(r.stderr).toBe("");
    const result = JSON.parse(r.stdout) as { reference: string; digest: string; blobs: { mounted: number; uploaded: number; existing: number } };
    expect(result.reference).toBe(`${registry.host}/tls/copied@${bigDigest}`);
    expect(result.digest).toBe(bigDigest);
    // Same registry: config and both layers are mounted from the source repository, none streamed.
    expect(result.blobs).toMatchObject({ mounted: 3, existing: 0, uploaded: 0 });
    expect(await craneDigest(registry, `${registry.host}/tls/copied:v2`)).toBe(bigDigest);

    const out = join(tmp, "copied");
    const pull = await ociutil(["pull", `${registry.host}/tls/copied:v2`, "-o", out], trusting(registry));
    expect(pull.stdout.trim()).toBe(`${registry.host}/tls/copied@${bigDigest}`);
    await expectVerifies(out);
    await expectBlobsMatchNames(out);
  });

  it("copies to a second TLS registry (its own certificate), streaming every blob", async () => {
    const other = await startRegistry({ tls: true });
    try {
      // NODE_EXTRA_CA_CERTS names one file: a bundle of both registries' certificates.
      const bundle = join(tmp, "ca-bundle.pem");
      await writeFile(bundle, (await readFile(caPath(registry), "utf8")) + (await readFile(caPath(other), "utf8")));
      const r = await ociutil(["copy", `${registry.host}/tls/big:v1`, `${other.host}/tls/big:v1`, "--json"], {
        env: { NODE_EXTRA_CA_CERTS: bundle },
      });
      expect(r.stderr).toBe("");
      const result = JSON.parse(r.stdout) as { reference: string; blobs: { mounted: number; uploaded: number; uploadedBytes: number } };
      expect(result.reference).toBe(`${other.host}/tls/big@${bigDigest}`);
      expect(result.blobs).toMatchObject({ mounted: 0, uploaded: 3 });
      expect(result.blobs.uploadedBytes).toBeGreaterThan(BIG_LAYER_BYTES);
      expect(await craneDigest(other, `${other.host}/tls/big:v1`)).toBe(bigDigest);
    } finally {
      await other.stop();
    }
  });
});
