/**
 * Tests of the test harness itself: if one of these fails, the ociutil tests built on it cannot be
 * trusted. Each asserts behaviour that would be missing if the harness broke.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import tar from "tar-stream";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  blobPath,
  buildTestImage,
  buildTestIndex,
  decodeJwtClaims,
  dockerConfigEnv,
  findPeer,
  makeTempDir,
  MT,
  mustRun,
  peer,
  pushWithCrane,
  REF_NAME_ANNOTATION,
  removeTempDir,
  runNodeWithPeakRss,
  runOciutil,
  runTool,
  seedImage,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type TestRegistry,
} from "./harness/index.js";
import { buildOciutilBundle } from "./harness/global-setup.js";
import { WATCHDOG_SCRIPT } from "./harness/registry.js";

const sha256 = (b: Buffer | Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const basic = (r: { username?: string; password?: string }) =>
  `Basic ${Buffer.from(`${r.username}:${r.password}`).toString("base64")}`;
const ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(", ");

async function bodyBytes(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function untar(gz: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on("entry", (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        out.set(h.type === "directory" ? `${h.name.replace(/\/$/, "")}/` : h.name, Buffer.concat(chunks));
        next();
      });
      stream.resume();
    });
    ex.on("finish", () => resolve());
    ex.on("error", reject);
  });
  ex.end(gunzipSync(gz));
  await done;
  return out;
}

const tmpDirs: string[] = [];
async function tmp(prefix: string): Promise<string> {
  const d = await makeTempDir(prefix);
  tmpDirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of tmpDirs) await removeTempDir(d);
});

describe("peers", () => {
  it("finds every peer and runs it", async () => {
    expect((await mustRun(peer("crane"), ["version"])).code).toBe(0);
    expect((await mustRun(peer("oras"), ["version"])).stdout).toMatch(/Version/);
    expect((await mustRun(peer("skopeo"), ["--version"])).stdout).toMatch(/skopeo version/);
    expect((await mustRun(peer("openssl"), ["version"])).stdout).toMatch(/OpenSSL/);
    expect((await mustRun(peer("docker-registry"), ["--version"])).stdout).toMatch(/registry/);
    expect((await mustRun(peer("htpasswd"), ["-Bbn", "u", "p"])).stdout).toMatch(/^u:\$2y\$/);
  });

  it("prefers the sid umoci (0.6.x) over Debian 12's 0.4.7", async () => {
    const { stdout } = await mustRun(peer("umoci"), ["--version"]);
    expect(stdout).toMatch(/umoci version 0\.6\./);
  });

  it("says how to install a missing peer", () => {
    const nowhere = { path: "/nonexistent-bin", sidRootfs: "/nonexistent-rootfs" };
    expect(() => findPeer("crane", nowhere)).toThrow(/bash \.ci\/setup-sid-rootfs \/var\/cache\/rules_ociutil\/sid-rootfs/);
    expect(() => findPeer("oras", nowhere)).toThrow(/setup-sid-rootfs/);
    expect(() => findPeer("skopeo", nowhere)).toThrow(/apt-get install -y skopeo/);
    expect(() => findPeer("htpasswd", nowhere)).toThrow(/apt-get install -y apache2-utils/);
    expect(() => findPeer("docker-registry", nowhere)).toThrow(/apt-get install -y docker-registry/);
  });

  it("runTool reports exit code and both streams; mustRun throws with stderr", async () => {
    const r = await runTool("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toMatchObject({ code: 3, stdout: "out\n", stderr: "err\n" });
    await expect(mustRun("/bin/sh", ["-c", "echo boom >&2; exit 1"])).rejects.toThrow(/exit 1[\s\S]*boom/);
    const env = await runTool("/bin/sh", ["-c", 'printf %s "$HARNESS_X"'], { env: { HARNESS_X: "y" } });
    expect(env.stdout).toBe("y");
  });
});

describe("startRegistry", () => {
  it("no auth: /v2/ answers 200, storage is used, stop() frees the port", async () => {
    const reg = await startRegistry();
    try {
      expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(reg.url).toBe(`http://${reg.host}`);
      const res = await request(`${reg.url}/v2/`);
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      await seedImage(reg, "plain/img:v1", { layers: [{ files: { "a.txt": "a" } }] });
      expect(existsSync(join(reg.storageDir, "docker/registry/v2/repositories/plain/img"))).toBe(true);
      expect(await readFile(reg.logPath, "utf8")).toMatch(/listening on 127\.0\.0\.1/);
    } finally {
      await reg.stop();
    }
    await expect(request(`${reg.url}/v2/`)).rejects.toThrow();
    expect(existsSync(reg.dir)).toBe(false);
  });

  it("the registry does not outlive a test process that dies without stop()", async () => {
    const dir = await tmp("orphan");
    const script = join(dir, "orphan.mjs");
    // A child Node process runs a command under registry.ts's watchdog, then is SIGKILLed.
    await writeFile(
      script,
      `import { spawn } from "node:child_process";\n` +
        `const c = spawn("/bin/sh", ["-c", ${JSON.stringify(WATCHDOG_SCRIPT)}, "w", "/bin/sleep", "1000"], { stdio: ["pipe", "inherit", "ignore"], detached: true });\n` +
        `console.log(c.pid); setInterval(() => {}, 1000);\n`,
    );
    const { spawn } = await import("node:child_process");
    const node = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    const pid = await new Promise<number>((resolve) => node.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
    // sleep stands in for docker-registry: the watchdog's process group holds sh, the reader, sleep.
    // Live members (zombies waiting for PID 1 to reap them are dead already).
    const members = async () => {
      const pids = (await runTool("/usr/bin/pgrep", ["-g", String(pid)])).stdout.trim().split("\n").filter(Boolean);
      const alive: string[] = [];
      for (const p of pids) {
        const stat = await readFile(`/proc/${p}/stat`, "utf8").catch(() => "");
        if (stat && !/^\d+ \(.*\) Z/.test(stat)) alive.push(p);
      }
      return alive;
    };
    expect((await members()).length).toBeGreaterThanOrEqual(2);
    node.kill("SIGKILL");
    // However long a busy machine takes to reap them (the watchdog acts on its own schedule).
    await expect.poll(members, { timeout: 120_000, interval: 100 }).toEqual([]);
  });

  it("basic: anonymous gets 401 with a Basic challenge, the test user gets 200", async () => {
    const reg = await startRegistry({ auth: "basic" });
    try {
      expect(reg.username).toBeTruthy();
      expect(reg.password).toBeTruthy();
      const anon = await request(`${reg.url}/v2/`);
      await anon.body.dump();
      expect(anon.statusCode).toBe(401);
      expect(String(anon.headers["www-authenticate"])).toMatch(/^Basic realm=/);
      const bad = await request(`${reg.url}/v2/`, { headers: { authorization: basic({ username: reg.username!, password: "wrong" }) } });
      await bad.body.dump();
      expect(bad.statusCode).toBe(401);
      const ok = await request(`${reg.url}/v2/`, { headers: { authorization: basic(reg) } });
      await ok.body.dump();
      expect(ok.statusCode).toBe(200);
    } finally {
      await reg.stop();
    }
  });

  it("token: Bearer challenge, token server policy, recorded token requests, crane push works", async () => {
    const reg = await startRegistry({ auth: "token" });
    try {
      const ts = reg.tokenServer!;
      expect(reg.tokenRequests).toBe(ts.requests);
      const anon = await request(`${reg.url}/v2/`);
      await anon.body.dump();
      expect(anon.statusCode).toBe(401);
      const challenge = String(anon.headers["www-authenticate"]);
      expect(challenge).toContain(`Bearer realm="${ts.realm}"`);
      expect(challenge).toContain(`service="${ts.service}"`);

      // Anonymous token requests are refused (default policy: private registry).
      const q = `service=${encodeURIComponent(ts.service)}&scope=${encodeURIComponent("repository:tok/img:pull,push")}`;
      const anonTok = await request(`${ts.realm}?${q}`);
      await anonTok.body.dump();
      expect(anonTok.statusCode).toBe(401);
      const anonPull = await request(`${ts.realm}?service=${ts.service}&scope=repository:tok/img:pull`);
      await anonPull.body.dump();
      expect(anonPull.statusCode).toBe(401);

      const tokRes = await request(`${ts.realm}?${q}`, { headers: { authorization: basic(reg) } });
      expect(tokRes.statusCode).toBe(200);
      const tok = (await tokRes.body.json()) as { token: string; access_token: string; expires_in: number };
      expect(tok.access_token).toBe(tok.token);
      expect(tok.expires_in).toBeGreaterThan(0);
      const claims = decodeJwtClaims(tok.token);
      expect(claims).toMatchObject({ iss: ts.issuer, aud: ts.service, sub: reg.username, access: [{ type: "repository", name: "tok/img", actions: ["pull", "push"] }] });

      // The registry accepts the JWT (signature, x5c chain, issuer, audience).
      const ok = await request(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${tok.token}` } });
      await ok.body.dump();
      expect(ok.statusCode).toBe(200);
      const forged = tok.token.slice(0, -4) + (tok.token.endsWith("AAAA") ? "BBBB" : "AAAA");
      const no = await request(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${forged}` } });
      await no.body.dump();
      expect(no.statusCode).toBe(401);

      expect(ts.requests.slice(0, 3)).toMatchObject([
        { method: "GET", service: ts.service, scopes: ["repository:tok/img:pull,push"], authorization: false, status: 401 },
        { method: "GET", service: ts.service, scopes: ["repository:tok/img:pull"], authorization: false, status: 401 },
        { method: "GET", service: ts.service, scopes: ["repository:tok/img:pull,push"], authorization: true, status: 200 },
      ]);

      const before = ts.requests.length;
      const digest = await seedImage(reg, "tok/pushed:v1", { layers: [{ files: { "x": "y" } }] });
      expect(digest).toMatch(/^sha256:/);
      const craneReqs = ts.requests.slice(before);
      expect(craneReqs.length).toBeGreaterThan(0);
      expect(craneReqs.every((r) => r.authorization && r.status === 200)).toBe(true);
      expect(craneReqs.some((r) => r.scopes.some((s) => s.startsWith("repository:tok/pushed:") && s.includes("push")))).toBe(true);
    } finally {
      await reg.stop();
    }
  });

  it("token with anonymousPull: pull-only tokens for anonymous clients, still 401 for push", async () => {
    const reg = await startRegistry({ auth: "token", anonymousPull: true });
    try {
      const ts = reg.tokenServer!;
      const pull = await request(`${ts.realm}?service=${ts.service}&scope=repository:a/b:pull`);
      expect(pull.statusCode).toBe(200);
      const { token } = (await pull.body.json()) as { token: string };
      expect(decodeJwtClaims(token)["access"]).toEqual([{ type: "repository", name: "a/b", actions: ["pull"] }]);
      const push = await request(`${ts.realm}?service=${ts.service}&scope=repository:a/b:pull,push`);
      await push.body.dump();
      expect(push.statusCode).toBe(401);

      // OAuth2 form POST (grant_type=password), as containerd-style clients do.
      const form = (pw: string) =>
        new URLSearchParams({ grant_type: "password", username: reg.username!, password: pw, service: ts.service, scope: "repository:a/b:pull,push", client_id: "t" }).toString();
      const post = await request(ts.realm, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form(reg.password!) });
      expect(post.statusCode).toBe(200);
      const { access_token } = (await post.body.json()) as { access_token: string };
      const v2 = await request(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${access_token}` } });
      await v2.body.dump();
      expect(v2.statusCode).toBe(200);
      const badPost = await request(ts.realm, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form("wrong") });
      await badPost.body.dump();
      expect(badPost.statusCode).toBe(401);
      expect(ts.requests.slice(-2)).toMatchObject([
        { method: "POST", grantType: "password", scopes: ["repository:a/b:pull,push"], authorization: true, status: 200 },
        { method: "POST", grantType: "password", authorization: true, status: 401 },
      ]);
    } finally {
      await reg.stop();
    }
  });

  it("fails with the registry's last log lines when it cannot start", async () => {
    await expect(startRegistry({ extraConfig: "storage: [this is not a storage config" })).rejects.toThrow(/last log lines:\n.*configuration error/);
  });
});

describe("buildTestImage / buildTestIndex", () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("writes a valid OCI layout: digests, sizes, diff_ids, history with created, ref name", async () => {
    const dir = await tmp("layout");
    const img = await buildTestImage(dir, {
      layers: [{ files: { "etc/hello.txt": "hello\n", "bin/tool": Buffer.from([0, 1, 2, 255]) } }, { randomBytes: 3 * 1024 * 1024 + 7 }],
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
      refName: "v1",
    });
    expect(JSON.parse(await readFile(join(dir, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]).toMatchObject({ digest: img.manifestDigest, mediaType: MT.ociManifest, annotations: { [REF_NAME_ANNOTATION]: "v1" } });
    // Every blob's name is its sha256.
    for (const name of await readdir(join(dir, "blobs/sha256"))) {
      expect(sha256(await readFile(join(dir, "blobs/sha256", name)))).toBe(`sha256:${name}`);
    }
    const manifestBytes = await readFile(blobPath(dir, img.manifestDigest));
    expect(manifestBytes.length).toBe(img.manifestDescriptor.size);
    const manifest = JSON.parse(manifestBytes.toString());
    expect(manifest.layers.map((l: { digest: string }) => l.digest)).toEqual(img.layerDigests);
    const config = JSON.parse((await readFile(blobPath(dir, manifest.config.digest))).toString());
    expect(config).toMatchObject({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(config.history).toHaveLength(2);
    for (const h of config.history) expect(h.created).toMatch(/^\d{4}-\d\d-\d\dT/);
    for (const [i, l] of manifest.layers.entries()) {
      const gz = await readFile(blobPath(dir, l.digest));
      expect(gz.length).toBe(l.size);
      expect(sha256(gunzipSync(gz))).toBe(config.rootfs.diff_ids[i]);
    }
    const files = await untar(await readFile(blobPath(dir, img.layerDigests[0]!)));
    expect([...files.keys()]).toEqual(["bin/", "bin/tool", "etc/", "etc/hello.txt"]);
    expect(files.get("etc/hello.txt")!.toString()).toBe("hello\n");
    const rnd = await untar(await readFile(blobPath(dir, img.layerDigests[1]!)));
    expect(rnd.get("random.bin")!.length).toBe(3 * 1024 * 1024 + 7);

    // files layers are reproducible
    const again = await buildTestImage(await tmp("layout2"), { layers: [{ files: { "etc/hello.txt": "hello\n", "bin/tool": Buffer.from([0, 1, 2, 255]) } }] });
    const once = await buildTestImage(await tmp("layout3"), { layers: [{ files: { "bin/tool": Buffer.from([0, 1, 2, 255]), "etc/hello.txt": "hello\n" } }] });
    expect(again.manifestDigest).toBe(once.manifestDigest);
    expect(again.layerDigests[0]).toBe(img.layerDigests[0]);
  });

  it("crane push of the layout, then crane digest equals manifestDigest; crane validate passes", async () => {
    const dir = await tmp("crane");
    const img = await buildTestImage(dir, { layers: [{ files: { "a": "1" } }, { randomBytes: 100_000 }] });
    const ref = `${reg.host}/harness/crane:v1`;
    expect(await pushWithCrane(dir, ref)).toBe(img.manifestDigest);
    const { stdout } = await mustRun(peer("crane"), ["digest", ref, "--insecure"]);
    expect(stdout.trim()).toBe(img.manifestDigest);
    await mustRun(peer("crane"), ["validate", "--remote", ref, "--insecure"]);
  });

  it("skopeo inspects and copies (verifying digests) the layout", async () => {
    const dir = await tmp("skopeo");
    const img = await buildTestImage(dir, { layers: [{ files: { "a/b/c.txt": "c" } }], refName: "v2" });
    const { stdout } = await mustRun(peer("skopeo"), ["inspect", `oci:${dir}:v2`]);
    const info = JSON.parse(stdout);
    expect(info.Digest).toBe(img.manifestDigest);
    expect(info.Layers).toEqual(img.layerDigests);
    expect(info.Os).toBe("linux");
    await mustRun(peer("skopeo"), ["copy", `oci:${dir}:v2`, `dir:${join(await tmp("skopeo-out"), "x")}`]);
  });

  it("umoci unpack --rootless extracts the files; umoci stat reads the history", async () => {
    const dir = await tmp("umoci");
    await buildTestImage(dir, { layers: [{ files: { "etc/os-release": "ID=test\n" } }, { files: { "usr/share/x": "second" } }], refName: "latest" });
    const bundle = join(await tmp("umoci-bundle"), "b");
    await mustRun(peer("umoci"), ["unpack", "--rootless", "--image", `${dir}:latest`, bundle]);
    expect(await readFile(join(bundle, "rootfs/etc/os-release"), "utf8")).toBe("ID=test\n");
    expect(await readFile(join(bundle, "rootfs/usr/share/x"), "utf8")).toBe("second");
    const stat = await mustRun(peer("umoci"), ["stat", "--image", `${dir}:latest`, "--json"]);
    expect(JSON.parse(stat.stdout).history).toHaveLength(2);
    const ls = await mustRun(peer("umoci"), ["ls", "--layout", dir]);
    expect(ls.stdout.trim()).toBe("latest");
  });

  it("umoci detects a corrupted layer blob (so fixtures are actually checked)", async () => {
    const dir = await tmp("umoci-bad");
    const img = await buildTestImage(dir, { layers: [{ randomBytes: 10_000 }] });
    const p = blobPath(dir, img.layerDigests[0]!);
    const b = await readFile(p);
    b[b.length - 20] = b[b.length - 20]! ^ 0xff;
    await writeFile(p, b);
    const r = await runTool(peer("umoci"), ["unpack", "--rootless", "--image", `${dir}:latest`, join(await tmp("umoci-bad-b"), "b")]);
    expect(r.code).not.toBe(0);
  });

  it("oras reads the layout manifest byte for byte", async () => {
    const dir = await tmp("oras");
    const img = await buildTestImage(dir, { layers: [{ files: { "f": "g" } }] });
    const { stdout } = await mustRun(peer("oras"), ["manifest", "fetch", "--oci-layout", `${dir}:latest`]);
    expect(sha256(Buffer.from(stdout))).toBe(img.manifestDigest);
  });

  it("docker: true writes Docker schema2 media types that peers accept", async () => {
    const dir = await tmp("docker");
    const img = await buildTestImage(dir, { layers: [{ files: { "d": "e" } }], docker: true });
    expect(img.manifestDescriptor.mediaType).toBe(MT.dockerManifest);
    expect(img.manifest).toMatchObject({ mediaType: MT.dockerManifest, config: { mediaType: MT.dockerConfig }, layers: [{ mediaType: MT.dockerLayerGzip }] });
    const ref = `${reg.host}/harness/docker:v1`;
    expect(await pushWithCrane(dir, ref)).toBe(img.manifestDigest);
    const res = await request(`${reg.url}/v2/harness/docker/manifests/v1`, { headers: { accept: ACCEPT } });
    expect(res.headers["content-type"]).toBe(MT.dockerManifest);
    expect(sha256(Buffer.from(await res.body.arrayBuffer()))).toBe(img.manifestDigest);
  });

  it("buildTestIndex writes a multi-platform index that crane pushes as is", async () => {
    const dir = await tmp("index");
    const idx = await buildTestIndex(
      dir,
      [
        { layers: [{ files: { "arch": "amd64" } }], platform: { os: "linux", architecture: "amd64" } },
        { layers: [{ files: { "arch": "arm64" } }], platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      ],
      "multi",
    );
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    expect(index.manifests).toEqual([{ ...idx.indexDescriptor, annotations: { [REF_NAME_ANNOTATION]: "multi" } }]);
    const ref = `${reg.host}/harness/index:multi`;
    expect(await pushWithCrane(dir, ref)).toBe(idx.indexDigest);
    const raw = JSON.parse((await mustRun(peer("crane"), ["manifest", ref, "--insecure"])).stdout);
    expect(raw.mediaType).toBe(MT.ociIndex);
    expect(raw.manifests.map((m: { platform: unknown }) => m.platform)).toEqual([
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ]);
    const arm = await mustRun(peer("crane"), ["digest", "--platform", "linux/arm64/v8", ref, "--insecure"]);
    expect(arm.stdout.trim()).toBe(idx.images[1]!.manifestDigest);
  });
});

describe("startFaultProxy", () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let manifestDigest: string;
  let blob: { digest: string; size: number };
  const repo = "fault/img";

  beforeAll(async () => {
    reg = await startRegistry({ auth: "basic" });
    const dir = await tmp("fault-seed");
    const img = await buildTestImage(dir, { layers: [{ randomBytes: 1024 * 1024 }] });
    manifestDigest = await pushWithCrane(dir, `${reg.host}/${repo}:v1`, { registry: reg });
    blob = { digest: img.layerDigests[0]!, size: img.layerDescriptors[0]!.size };
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  async function withProxy(rules: Parameters<typeof startFaultProxy>[1]): Promise<FaultProxy> {
    await proxy?.stop();
    proxy = await startFaultProxy(reg.host, rules);
    return proxy;
  }
  const auth = () => ({ authorization: basic(reg) });
  const blobUrl = () => `${proxy.url}/v2/${repo}/blobs/${blob.digest}`;

  it("forwards everything unchanged when no rule matches, preserving WWW-Authenticate", async () => {
    await withProxy([{ method: "GET", path: /^\/nothing$/, action: { kind: "drop" } }]);
    const anon = await request(`${proxy.url}/v2/`);
    await anon.body.dump();
    expect(anon.statusCode).toBe(401);
    expect(String(anon.headers["www-authenticate"])).toMatch(/^Basic realm="ociutil-test-basic"/);
    const m = await request(`${proxy.url}/v2/${repo}/manifests/v1`, { headers: { ...auth(), accept: ACCEPT } });
    expect(m.statusCode).toBe(200);
    expect(m.headers["docker-content-digest"]).toBe(manifestDigest);
    expect(sha256(Buffer.from(await m.body.arrayBuffer()))).toBe(manifestDigest);
    const b = await request(blobUrl(), { headers: auth() });
    const bytes = await bodyBytes(b.body);
    expect(bytes.length).toBe(blob.size);
    expect(sha256(bytes)).toBe(blob.digest);
    expect(proxy.requests).toMatchObject([
      { method: "GET", path: "/v2/", status: 401, authorization: false },
      { method: "GET", path: `/v2/${repo}/manifests/v1`, status: 200, authorization: true },
      { method: "GET", path: `/v2/${repo}/blobs/${blob.digest}`, status: 200, authorization: true },
    ]);
    expect(proxy.requests.every((r) => r.fault === undefined)).toBe(true);
  });

  it("streams uploads and rewrites upstream Location headers to the proxy", async () => {
    await withProxy([]);
    const start = await request(`${proxy.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: auth() });
    await start.body.dump();
    expect(start.statusCode).toBe(202);
    const loc = String(start.headers["location"]);
    // distribution 2.8 answers with an absolute URL built from Host (the upstream's): rewritten.
    expect(loc.startsWith(`http://${proxy.host}/v2/${repo}/blobs/uploads/`)).toBe(true);
    expect(loc).not.toContain(reg.host);
    const uploadUrl = new URL(loc, `${proxy.url}/`);
    expect(uploadUrl.host).toBe(proxy.host);
    const data = Buffer.alloc(300_000, 7);
    uploadUrl.searchParams.set("digest", sha256(data));
    const put = await request(uploadUrl.toString(), {
      method: "PUT",
      headers: { ...auth(), "content-type": "application/octet-stream", "content-length": String(data.length) },
      body: data,
    });
    await put.body.dump();
    expect(put.statusCode).toBe(201);
    expect(new URL(String(put.headers["location"]), `${proxy.url}/`).host).toBe(proxy.host);
    // A whole crane push and pull through the proxy.
    const dir = await tmp("proxy-push");
    const img = await buildTestImage(dir, { layers: [{ randomBytes: 2 * 1024 * 1024 }] });
    const viaProxy = { host: proxy.host, username: reg.username!, password: reg.password! };
    expect(await pushWithCrane(dir, `${proxy.host}/proxied/img:v1`, { registry: viaProxy })).toBe(img.manifestDigest);
    const env = await dockerConfigEnv(await tmp("proxy-cfg"), viaProxy);
    const out = await tmp("proxy-pull");
    await mustRun(peer("crane"), ["pull", "--format", "oci", `${proxy.host}/proxied/img:v1`, out, "--insecure"], { env });
    expect(sha256(await readFile(blobPath(out, img.layerDigests[0]!)))).toBe(img.layerDigests[0]);
  });

  it("status: 429 with Retry-After for `times` requests, then passes through", async () => {
    await withProxy([{ method: "GET", path: /\/blobs\//, times: 1, action: { kind: "status", status: 429, headers: { "Retry-After": "0" } } }]);
    const first = await request(blobUrl(), { headers: auth() });
    const body = await first.body.json();
    expect(first.statusCode).toBe(429);
    expect(first.headers["retry-after"]).toBe("0");
    expect(body).toMatchObject({ errors: [{ code: "TOOMANYREQUESTS" }] });
    const second = await request(blobUrl(), { headers: auth() });
    await second.body.dump();
    expect(second.statusCode).toBe(200);
    expect(proxy.ruleHits).toEqual([1]);
    expect(proxy.requests.map((r) => [r.status, r.fault])).toEqual([[429, "status"], [200, undefined]]);
  });

  it("status: 500/503 match only their method and path", async () => {
    await withProxy([
      { method: "HEAD", path: /\/manifests\//, action: { kind: "status", status: 503 } },
      { method: ["PUT", "PATCH"], path: /\/uploads\//, action: { kind: "status", status: 500 } },
    ]);
    const head = await request(`${proxy.url}/v2/${repo}/manifests/v1`, { method: "HEAD", headers: { ...auth(), accept: ACCEPT } });
    await head.body.dump();
    expect(head.statusCode).toBe(503);
    const get = await request(`${proxy.url}/v2/${repo}/manifests/v1`, { headers: { ...auth(), accept: ACCEPT } });
    await get.body.dump();
    expect(get.statusCode).toBe(200);
    const post = await request(`${proxy.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: auth() });
    await post.body.dump();
    expect(post.statusCode).toBe(202);
    const patch = await request(new URL(String(post.headers["location"]), proxy.url).toString(), {
      method: "PATCH",
      headers: { ...auth(), "content-type": "application/octet-stream" },
      body: Buffer.alloc(10),
    });
    await patch.body.dump();
    expect(patch.statusCode).toBe(500);
    expect(proxy.ruleHits).toEqual([1, 1]);
  });

  it("corrupt: same length (and Content-Length), different bytes", async () => {
    await withProxy([{ method: "GET", path: /\/blobs\/sha256:/, action: { kind: "corrupt" } }]);
    const res = await request(blobUrl(), { headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(Number(res.headers["content-length"])).toBe(blob.size);
    const bytes = await bodyBytes(res.body);
    expect(bytes.length).toBe(blob.size);
    expect(sha256(bytes)).not.toBe(blob.digest);
    expect(proxy.requests[0]).toMatchObject({ fault: "corrupt", status: 200 });
  });

  it("truncate: full Content-Length, then afterBytes bytes, then a reset connection", async () => {
    await withProxy([{ method: "GET", path: /\/blobs\/sha256:/, times: 1, action: { kind: "truncate", afterBytes: 100_000 } }]);
    const res = await request(blobUrl(), { headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(Number(res.headers["content-length"])).toBe(blob.size);
    let got = 0;
    await expect(
      (async () => {
        for await (const c of res.body) got += c.length;
      })(),
    ).rejects.toThrow();
    expect(got).toBe(100_000);
    // times: 1 -> the retry gets everything
    const again = await request(blobUrl(), { headers: auth() });
    expect(sha256(await bodyBytes(again.body))).toBe(blob.digest);
  });

  it("drop: the connection closes without a response", async () => {
    await withProxy([{ path: /\/manifests\//, times: 1, action: { kind: "drop" } }]);
    await expect(request(`${proxy.url}/v2/${repo}/manifests/v1`, { headers: { ...auth(), accept: ACCEPT } })).rejects.toThrow();
    expect(proxy.requests[0]).toMatchObject({ fault: "drop", status: 0 });
    const ok = await request(`${proxy.url}/v2/${repo}/manifests/v1`, { headers: { ...auth(), accept: ACCEPT } });
    await ok.body.dump();
    expect(ok.statusCode).toBe(200);
  });

  it("redirect: 307 to another host that serves the blob and records Authorization", async () => {
    await withProxy([{ method: "GET", path: /\/blobs\/sha256:/, action: { kind: "redirect", to: "other-host" } }]);
    const res = await request(blobUrl(), { headers: auth() });
    await res.body.dump();
    expect(res.statusCode).toBe(307);
    const loc = new URL(String(res.headers["location"]));
    expect(loc.host).toBe(proxy.otherHost);
    expect(loc.hostname).toBe("localhost");
    expect(loc.host).not.toBe(proxy.host);
    // A well-behaved client follows without the registry's credentials: the blob still arrives.
    const follow = await request(loc.toString());
    expect(follow.statusCode).toBe(200);
    expect(sha256(await bodyBytes(follow.body))).toBe(blob.digest);
    // A leaky one is recorded as such.
    const leaky = await request(loc.toString(), { headers: auth() });
    await leaky.body.dump();
    expect(proxy.otherHostRequests).toMatchObject([
      { method: "GET", path: `/v2/${repo}/blobs/${blob.digest}`, status: 200, authorization: false },
      { method: "GET", path: `/v2/${repo}/blobs/${blob.digest}`, status: 200, authorization: true },
    ]);
    expect(proxy.requests).toMatchObject([{ fault: "redirect", status: 307, authorization: true }]);
  });
});

describe("cli helpers", () => {
  it("runNodeWithPeakRss measures the peak, not the final, RSS", async () => {
    const dir = await tmp("rss");
    const script = join(dir, "alloc.mjs");
    await writeFile(
      script,
      "let b = Buffer.alloc(Number(process.argv[2]) * 1024 * 1024, 1); b = null; globalThis.gc?.(); console.log('done');\n",
    );
    for (const method of ["time", "vmhwm"] as const) {
      const big = await runNodeWithPeakRss(script, ["300"], { method });
      expect(big.code).toBe(0);
      expect(big.stdout).toBe("done\n");
      expect(big.peakRssMB).toBeGreaterThan(300);
      expect(big.peakRssMB).toBeLessThan(450);
      const small = await runNodeWithPeakRss(script, ["1"], { method });
      expect(small.peakRssMB).toBeGreaterThan(20);
      expect(small.peakRssMB).toBeLessThan(150);
    }
  });

  it("the bundle build fails with esbuild's message on a compile error", async () => {
    const dir = await tmp("badbuild");
    const entry = join(dir, "main.ts");
    await writeFile(entry, 'import { nope } from "./missing.js";\nconst x: number = ;\n');
    await expect(buildOciutilBundle(join(dir, "out.mjs"), entry)).rejects.toThrow(/esbuild could not bundle[\s\S]*main\.ts:2/);
  });

  it.skipIf(process.env["OCIUTIL_TEST_NO_BUNDLE"])("global setup built the ociutil bundle and it runs", async () => {
    const r = await runOciutil(["--help"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});

