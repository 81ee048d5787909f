/**
 * ociutil against a real registry (CNCF distribution), checked by peers we did not write:
 * crane, skopeo, umoci and oras must read what ociutil writes, and ociutil must read what they push.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildTestImage,
  buildTestIndex,
  makeTempDir,
  mustRun,
  peer,
  pushWithCrane,
  removeTempDir,
  runOciutil,
  mustRunOciutil,
  seedImage,
  startRegistry,
  type TestRegistry,
  readmeBlock,
} from "./harness/index.js";

let registry: TestRegistry;
let other: TestRegistry;
let tmp: string;

beforeAll(async () => {
  registry = await startRegistry();
  other = await startRegistry();
  tmp = await makeTempDir("pull-push");
});
afterAll(async () => {
  await registry?.stop();
  await other?.stop();
  await removeTempDir(tmp);
});

async function ociutil(...args: string[]): Promise<string> {
  return (await mustRunOciutil(args)).stdout.trim();
}
async function ociutilJson(...args: string[]): Promise<Record<string, any>> {
  return JSON.parse(await ociutil(...args, "--json")) as Record<string, any>;
}
const crane = (...args: string[]) => mustRun(peer("crane"), [...args, "--insecure"]);
async function craneDigest(ref: string): Promise<string> {
  return (await crane("digest", ref)).stdout.trim();
}
async function indexJson(dir: string): Promise<any> {
  return JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
}
/** Files in a layout that are not blobs named by their digest: temp files left behind by a failure. */
async function strayFiles(dir: string): Promise<string[]> {
  const names = await readdir(join(dir, "blobs", "sha256")).catch(() => []);
  return names.filter((n) => !/^[0-9a-f]{64}$/.test(n));
}

describe("pull", () => {
  let digest: string;
  let layout: string;
  beforeAll(async () => {
    digest = await seedImage(registry, "peers/base:v1", {
      layers: [{ files: { "etc/base-release": "base 1\n", "bin/tool": "#!/bin/sh\n" } }, { files: { "usr/share/doc/a": "a" } }, { randomBytes: 100_000 }],
    });
    layout = join(tmp, "pulled");
  });

  it("writes a layout with the registry's digest that ociutil verify and peers accept", async () => {
    const out = await ociutil("pull", "--insecure", `${registry.host}/peers/base:v1`, "-o", layout);
    expect(out).toBe(`${registry.host}/peers/base@${digest}`);
    const index = await indexJson(layout);
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0].digest).toBe(digest);
    expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("v1");
    expect(await strayFiles(layout)).toEqual([]);
    expect(await ociutil("verify", layout)).toMatch(/: ok \(1 manifests, 5 blobs/);

    // skopeo reads it and verifies every digest while copying.
    const inspect = JSON.parse((await mustRun(peer("skopeo"), ["inspect", `oci:${layout}:v1`])).stdout);
    expect(inspect.Digest).toBe(digest);
    await mustRun(peer("skopeo"), ["copy", `oci:${layout}:v1`, `dir:${join(tmp, "skopeo-dir")}`]);
    // umoci unpacks it (it checks blobs) and sees the base's files.
    const bundle = join(tmp, "umoci-bundle");
    await mustRun(peer("umoci"), ["unpack", "--rootless", "--image", `${layout}:v1`, bundle]);
    expect(await readFile(join(bundle, "rootfs/etc/base-release"), "utf8")).toBe("base 1\n");
    await mustRun(peer("umoci"), ["stat", "--image", `${layout}:v1`]);
    // oras reads the layout's manifest by its ref name.
    const orasManifest = (await mustRun(peer("oras"), ["manifest", "fetch", "--oci-layout", `${layout}:v1`, "--descriptor"])).stdout;
    expect(JSON.parse(orasManifest).digest).toBe(digest);
    // crane pushes it elsewhere with the same digest.
    expect(await pushWithCrane(layout, `${other.host}/from-ociutil/base:v1`)).toBe(digest);
  });

  it("is idempotent: pulling again into the same layout downloads nothing and keeps one entry", async () => {
    // Also: the write/hash workers a pull starts up front must not keep it from exiting when unused.
    const r = await runOciutil(["pull", "--insecure", `${registry.host}/peers/base:v1`, "-o", layout, "--json"], { timeoutMs: 120_000 });
    expect(r.signal ?? null, "ociutil pull did not exit by itself within 2 minutes").toBeNull();
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, any>;
    expect(result.blobs.written).toBe(0);
    expect(result.blobs.present).toBe(4);
    expect((await indexJson(layout)).manifests).toHaveLength(1);
  });

  it("pulls by digest an image that skopeo pushed, with the same digest", async () => {
    const src = join(tmp, "skopeo-src");
    const built = await buildTestImage(src, { layers: [{ files: { "hello.txt": "from skopeo" } }], refName: "s1" });
    await mustRun(peer("skopeo"), ["copy", "--dest-tls-verify=false", `oci:${src}:s1`, `docker://${registry.host}/peers/skopeo:s1`]);
    const skopeoDigest = JSON.parse((await mustRun(peer("skopeo"), ["inspect", "--tls-verify=false", `docker://${registry.host}/peers/skopeo:s1`])).stdout).Digest;
    const out = await ociutil("pull", "--insecure", `${registry.host}/peers/skopeo@${skopeoDigest}`, "-o", join(tmp, "by-digest"));
    expect(out).toBe(`${registry.host}/peers/skopeo@${skopeoDigest}`);
    await ociutil("verify", join(tmp, "by-digest"));
    expect(skopeoDigest).toBe(built.manifestDigest); // skopeo kept the fixture's bytes too
  });

  it("keeps Docker schema2 images as Docker schema2, digest unchanged", async () => {
    const d = await seedImage(registry, "peers/docker:v1", { docker: true, layers: [{ files: { a: "1" } }, { files: { b: "2" } }] });
    const result = await ociutilJson("pull", "--insecure", `${registry.host}/peers/docker:v1`, "-o", join(tmp, "docker"));
    expect(result.digest).toBe(d);
    expect(result.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect((await indexJson(join(tmp, "docker"))).manifests[0].mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    await ociutil("verify", join(tmp, "docker"));
    expect(await craneDigest(`${registry.host}/peers/docker:v1`)).toBe(d);
  });

  describe("a two-platform index", () => {
    let indexDigest: string;
    let amd64: string;
    let arm64: string;
    beforeAll(async () => {
      const dir = join(tmp, "index-src");
      const built = await buildTestIndex(dir, [
        { platform: { os: "linux", architecture: "amd64" }, layers: [{ files: { arch: "amd64" } }] },
        { platform: { os: "linux", architecture: "arm64", variant: "v8" }, layers: [{ files: { arch: "arm64" } }] },
      ], "multi");
      indexDigest = await pushWithCrane(dir, `${registry.host}/peers/multi:v1`);
      expect(indexDigest).toBe(built.indexDigest);
      amd64 = built.images[0]!.manifestDigest;
      arm64 = built.images[1]!.manifestDigest;
    });

    it("pulls every platform by default", async () => {
      const dir = join(tmp, "multi-all");
      const result = await ociutilJson("pull", "--insecure", `${registry.host}/peers/multi:v1`, "-o", dir);
      expect(result.digest).toBe(indexDigest);
      expect(result.mediaType).toBe("application/vnd.oci.image.index.v1+json");
      const v = await ociutil("verify", dir);
      expect(v).toMatch(/ok \(3 manifests, 7 blobs/);
      const inspect = JSON.parse((await mustRun(peer("skopeo"), ["inspect", "--raw", `oci:${dir}:v1`])).stdout);
      expect(inspect.manifests.map((m: any) => m.digest)).toEqual([amd64, arm64]);
    });

    it("narrows to one platform with --platform, and names what exists when asked for another", async () => {
      const dir = join(tmp, "multi-arm");
      const result = await ociutilJson("pull", "--insecure", `${registry.host}/peers/multi:v1`, "-o", dir, "--platform", "linux/arm64");
      expect(result.reference).toBe(`${registry.host}/peers/multi@${indexDigest}`);
      expect(result.manifests).toEqual([{ digest: arm64, mediaType: "application/vnd.oci.image.manifest.v1+json", platform: "linux/arm64/v8" }]);
      const index = await indexJson(dir);
      expect(index.manifests.map((m: any) => m.digest)).toEqual([arm64]);
      await ociutil("verify", dir);
      const bundle = join(tmp, "arm-bundle");
      await mustRun(peer("umoci"), ["unpack", "--rootless", "--image", `${dir}:v1`, bundle]);
      expect(await readFile(join(bundle, "rootfs/arch"), "utf8")).toBe("arm64");

      const bad = await runOciutil(["pull", "--insecure", `${registry.host}/peers/multi:v1`, "-o", join(tmp, "multi-s390x"), "--platform", "linux/s390x"]);
      expect(bad.code).toBe(1);
      expect(bad.stderr.trim().split("\n")).toHaveLength(1);
      expect(bad.stderr).toContain("no image for platform linux/s390x (it has: linux/amd64, linux/arm64/v8)");
    });

    it("copies every platform to another registry with the same digest", async () => {
      const result = await ociutilJson("copy", "--insecure", `${registry.host}/peers/multi:v1`, `${other.host}/copied/multi:v1`);
      expect(result.digest).toBe(indexDigest);
      expect(result.source).toBe(`${registry.host}/peers/multi@${indexDigest}`);
      expect(await craneDigest(`${other.host}/copied/multi:v1`)).toBe(indexDigest);
      await crane("validate", "--remote", `${other.host}/copied/multi@${amd64}`);
      await crane("validate", "--remote", `${other.host}/copied/multi@${arm64}`);
    });

    it("copies within one registry by mounting, not uploading", async () => {
      const result = await ociutilJson("copy", "--insecure", `${registry.host}/peers/multi@${indexDigest}`, `${registry.host}/promoted/multi:v1`);
      expect(result.blobs.uploaded).toBe(0);
      expect(result.blobs.mounted).toBe(4);
      expect(await craneDigest(`${registry.host}/promoted/multi:v1`)).toBe(indexDigest);
    });
  });
});

describe("push", () => {
  it("pushes a layout with its digest; crane and skopeo read it back the same", async () => {
    const dir = join(tmp, "push-src");
    const built = await buildTestImage(dir, { layers: [{ files: { app: "1" } }, { randomBytes: 300_000 }], refName: "latest" });
    const result = await ociutilJson("push", "--insecure", dir, `${registry.host}/pushed/app:v1`, "--tag", "stable");
    expect(result.reference).toBe(`${registry.host}/pushed/app@${built.manifestDigest}`);
    expect(result.tags).toEqual(["v1", "stable"]);
    expect(result.blobs.uploaded).toBe(3);
    expect(await craneDigest(`${registry.host}/pushed/app:v1`)).toBe(built.manifestDigest);
    expect(await craneDigest(`${registry.host}/pushed/app:stable`)).toBe(built.manifestDigest);
    const inspect = JSON.parse((await mustRun(peer("skopeo"), ["inspect", "--tls-verify=false", `docker://${registry.host}/pushed/app:v1`])).stdout);
    expect(inspect.Digest).toBe(built.manifestDigest);
    await crane("validate", "--remote", `${registry.host}/pushed/app:v1`);

    // Pushed again: every blob is already there.
    const again = await ociutilJson("push", "--insecure", dir, `${registry.host}/pushed/app:v1`);
    expect(again.blobs).toMatchObject({ existing: 3, uploaded: 0, mounted: 0 });
  });

  it("uploads in chunks when asked", async () => {
    const dir = join(tmp, "push-chunked");
    const built = await buildTestImage(dir, { layers: [{ randomBytes: 1_000_000 }] });
    const result = await ociutilJson("push", "--insecure", dir, `${other.host}/chunked/app:v1`, "--chunk-size", "65536");
    expect(result.blobs.uploaded).toBe(2);
    expect(await craneDigest(`${other.host}/chunked/app:v1`)).toBe(built.manifestDigest);
    await crane("validate", "--remote", `${other.host}/chunked/app:v1`);
  });

  it("pushes an image with 24 layers", async () => {
    const dir = join(tmp, "many-layers");
    const layers = Array.from({ length: 24 }, (_, i) => ({ files: { [`layer-${i}`]: `content ${i}` } }));
    const built = await buildTestImage(dir, { layers });
    const out = await ociutil("push", "--insecure", "-j", "6", dir, `${registry.host}/many/app:v1`);
    expect(out).toBe(`${registry.host}/many/app@${built.manifestDigest}`);
    await crane("validate", "--remote", `${registry.host}/many/app:v1`);
    const back = join(tmp, "many-back");
    await ociutil("pull", "--insecure", `${registry.host}/many/app:v1`, "-o", back);
    expect(await ociutil("verify", back)).toMatch(/ok \(1 manifests, 26 blobs/);
  });

  it("pushes an index with every platform", async () => {
    const dir = join(tmp, "index-push");
    const built = await buildTestIndex(dir, [
      { platform: { os: "linux", architecture: "amd64" }, layers: [{ files: { a: "amd64" } }] },
      { platform: { os: "linux", architecture: "arm64" }, layers: [{ files: { a: "arm64" } }] },
    ], "v1");
    const out = await ociutil("push", "--insecure", dir, `${other.host}/index/app:v1`);
    expect(out).toBe(`${other.host}/index/app@${built.indexDigest}`);
    await crane("validate", "--remote", `${other.host}/index/app@${built.images[1]!.manifestDigest}`);
  });

  describe("from a shallow pull", () => {
    let shallow: string;
    let digest: string;
    beforeAll(async () => {
      digest = await seedImage(registry, "shallow/base:v1", { layers: [{ randomBytes: 200_000 }, { files: { "etc/os": "base" } }] });
      shallow = join(tmp, "shallow");
      const result = await ociutilJson("pull", "--insecure", "--shallow", `${registry.host}/shallow/base:v1`, "-o", shallow);
      expect(result.blobs).toMatchObject({ written: 1, skipped: 2 });
    });

    it("keeps manifests and configs only, and records where the layers live", async () => {
      const index = await indexJson(shallow);
      expect(index.manifests[0].annotations["dev.rules-ociutil.source.repository"]).toBe(`${registry.host}/shallow/base`);
      expect((await readdir(join(shallow, "blobs/sha256"))).sort()).toHaveLength(2);
      const v = await runOciutil(["verify", shallow]);
      expect(v.code).toBe(1);
      expect(v.stderr).toMatch(/layers\[0\] sha256:[0-9a-f]{64}: blob missing/);
    });

    it("mounts the missing layers from the source repository on the same registry", async () => {
      const result = await ociutilJson("push", "--insecure", shallow, `${registry.host}/app/mounted:v1`);
      expect(result.digest).toBe(digest);
      expect(result.blobs).toMatchObject({ mounted: 3, uploaded: 0 });
      await crane("validate", "--remote", `${registry.host}/app/mounted:v1`);
    });

    it("streams the missing layers from the source registry to another registry", async () => {
      const result = await ociutilJson("push", "--insecure", shallow, `${other.host}/app/streamed:v1`);
      expect(result.digest).toBe(digest);
      expect(result.blobs).toMatchObject({ mounted: 0, uploaded: 3 });
      await crane("validate", "--remote", `${other.host}/app/streamed:v1`);
      expect(await strayFiles(shallow)).toEqual([]);
      expect((await readdir(join(shallow, "blobs/sha256")))).toHaveLength(2); // nothing written to disk
    });
  });
});

describe("cross-repository mounts", () => {
  it("upload into the session the registry opens when it declines a mount (202)", async () => {
    await seedImage(registry, "mount/src:v1", { layers: [{ files: { m: "1" } }, { randomBytes: 10_000 }] });
    const dir = join(tmp, "mount-declined");
    await ociutil("pull", "--insecure", `${registry.host}/mount/src:v1`, "-o", dir);
    // Point the recorded source at a repository that does not hold these blobs.
    const index = await indexJson(dir);
    index.manifests[0].annotations["dev.rules-ociutil.source.repository"] = `${registry.host}/mount/empty`;
    await writeFile(join(dir, "index.json"), JSON.stringify(index));
    const result = await ociutilJson("push", "--insecure", dir, `${registry.host}/mount/dest:v1`);
    expect(result.blobs).toMatchObject({ mounted: 0, uploaded: 3 });
    await crane("validate", "--remote", `${registry.host}/mount/dest:v1`);
  });
});

describe("plain HTTP", () => {
  it("is used for one registry with --plain-http", async () => {
    await seedImage(registry, "plain/app:v1", { layers: [{ files: { a: "1" } }] });
    const ok = await runOciutil(["pull", "--plain-http", registry.host, `${registry.host}/plain/app:v1`, "-o", join(tmp, "plain")]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    // Without the flag, a loopback registry is tried over TLS first, then plain HTTP: loopback.test.ts.
  });
});

describe("the README's CLI example", () => {
  it("runs as written", async () => {
    const block = await readmeBlock("cli", "sh");
    await seedImage(registry, "base:v1", { layers: [{ files: { "etc/base-release": "1" } }] });
    const work = join(tmp, "readme");
    await mkdir(work, { recursive: true });
    const r = await mustRun("/bin/bash", ["-euo", "pipefail", "-c", block], {
      cwd: work,
      env: { REGISTRY: registry.host, OCIUTIL: join(process.cwd(), "oci/private/ociutil.mjs") },
    });
    expect(r.stdout).toContain(`${registry.host}/app@sha256:`);
  });
});
