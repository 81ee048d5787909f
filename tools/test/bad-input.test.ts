/** Bad input gets one line naming the problem and exit code 1 (2 for a malformed command line), and no partial file. */
import { mkdir, readdir, rm, writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestImage, makeTempDir, removeTempDir, runOciutil, type BuiltImage } from "./harness/index.js";

let tmp: string;
let image: BuiltImage;
let layout: string;
beforeAll(async () => {
  tmp = await makeTempDir("bad-input");
  layout = join(tmp, "layout");
  image = await buildTestImage(layout, { layers: [{ files: { a: "1" } }, { files: { b: "2" } }] });
});
afterAll(async () => removeTempDir(tmp));

async function fails(args: string[], code: 1 | 2, pattern: RegExp): Promise<string> {
  const r = await runOciutil(args);
  expect(r.stdout).toBe("");
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^ociutil: /);
  expect(lines[0]).toMatch(pattern);
  return lines[0]!;
}

async function copyLayout(name: string): Promise<string> {
  const dir = join(tmp, name);
  await rm(dir, { recursive: true, force: true });
  await buildTestImage(dir, { layers: [{ files: { a: "1" } }, { files: { b: "2" } }] });
  return dir;
}

describe("bad references", () => {
  it.each([
    ["registry.example/Repo:tag", /invalid image reference "registry\.example\/Repo:tag": bad repository component "Repo"/],
    ["127.0.0.1:5000/app:bad!tag", /bad tag "bad!tag"/],
    ["127.0.0.1:5000/app@sha256:../../etc/passwd", /bad digest "sha256:\.\.\/\.\.\/etc\/passwd"/],
    ["127.0.0.1:99999/app", /bad registry port "99999"/],
  ])("pull %s", async (ref, pattern) => {
    await fails(["pull", ref, "-o", join(tmp, "never")], 1, pattern);
  });
});

describe("bad --tag values", () => {
  it.each([["push", "%s"], ["push", ".hidden"], ["copy", "a b"]])("%s --tag %s is a usage error before any registry is asked", async (cmd, tag) => {
    // 127.0.0.1:1 refuses connections: a usage error must come first.
    const args = cmd === "push" ? ["push", tmp, "127.0.0.1:1/app:v1"] : ["copy", "127.0.0.1:1/a:v1", "127.0.0.1:1/b:v1"];
    await fails([...args, "--tag", tag], 2, new RegExp(`^ociutil: bad tag "${tag.replace(".", "\\.")}"`));
  });
});

describe("registries that can't be used", () => {
  it("names an unreachable registry", async () => {
    const out = join(tmp, "unreachable");
    await fails(["pull", "--insecure", "127.0.0.1:1/app:v1", "-o", out], 1, /GET http:\/\/127\.0\.0\.1:1\/v2\/app\/manifests\/v1: .*ECONNREFUSED/);
    await expect(readdir(out)).rejects.toThrow(); // nothing created
  });
});

describe("bad layouts", () => {
  it("verify and push name a missing blob", async () => {
    const dir = await copyLayout("missing-blob");
    await rm(join(dir, "blobs", "sha256", image.layerDigests[1]!.slice(7)));
    const r = await runOciutil(["verify", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`layers[1] ${image.layerDigests[1]}: blob missing`);
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/is not a complete, valid OCI image layout \(1 problem\)/);
    await fails(["push", "--insecure", dir, "127.0.0.1:1/app:v1"], 1, new RegExp(`blob ${image.layerDigests[1]} is missing and index.json records no source repository`));
  });

  it("verify names a blob whose content doesn't match", async () => {
    const dir = await copyLayout("corrupt-blob");
    const file = join(dir, "blobs", "sha256", image.layerDigests[0]!.slice(7));
    const bytes = await readFile(file);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    const r = await runOciutil(["verify", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${image.layerDigests[0]}: content has digest sha256:`);
  });

  it("refuses a digest with ../ in index.json without touching files outside", async () => {
    const dir = await copyLayout("traversal");
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    index.manifests[0].digest = "sha256:../../../../etc/passwd";
    await writeFile(join(dir, "index.json"), JSON.stringify(index));
    await fails(["verify", dir], 1, /index\.json: manifests\.0\.digest: not a valid sha256\/sha512 digest/);
    await fails(["push", "--insecure", dir, "127.0.0.1:1/app:v1"], 1, /index\.json: manifests\.0\.digest: not a valid/);
  });

  it("refuses a directory that is not a layout", async () => {
    const dir = join(tmp, "not-a-layout");
    await mkdir(dir, { recursive: true });
    await fails(["verify", dir], 1, /is not an OCI image layout: it has no oci-layout file/);
  });

  it("refuses a layout whose index.json names no manifest to push", async () => {
    const dir = await copyLayout("two-entries");
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    index.manifests.push({ ...index.manifests[0], annotations: { "org.opencontainers.image.ref.name": "other" } });
    await writeFile(join(dir, "index.json"), JSON.stringify(index));
    await fails(["push", "--insecure", dir, "127.0.0.1:1/app:v1"], 1, /lists 2 manifests \(latest, other\): choose one with --ref-name/);
  });

  it("refuses a destination digest that differs from the layout's", async () => {
    await fails(["push", "--insecure", layout, `127.0.0.1:1/app@sha256:${"0".repeat(64)}`], 1, new RegExp(`holds ${image.manifestDigest}, but the destination names sha256:0{64}`));
  });
});

describe("usage errors exit 2", () => {
  it.each([
    [["pull", "127.0.0.1:5000/app"], /required option '-o, --output <dir>' not specified/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["push", "--jobs", "0", "dir", "127.0.0.1:5000/app"], /--jobs must be a positive integer, got "0"/],
    [["pull", "127.0.0.1:5000/app", "-o", "x", "--platform", "linux"], /invalid platform "linux"/],
  ])("%j", async (args, pattern) => {
    const r = await runOciutil(args);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.code).toBe(pattern.source.includes("platform") ? 1 : 2);
  });

  it("prints help for each command with exit 0", async () => {
    for (const cmd of ["pull", "push", "copy", "verify"]) {
      const r = await runOciutil([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: ociutil ${cmd}`);
    }
  });
});
