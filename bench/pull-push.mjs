#!/usr/bin/env node
// Pull/push benchmark: ociutil against crane, oras and skopeo on a local CNCF distribution registry.
//
//   node bench/pull-push.mjs [--runs 3] [--size-mib 512] [--layers 8] [--cpu-prof DIR] [--keep]
//
// See docs/bench.md. Plain Node ESM with no dependencies beyond node:*. Needs on the host:
//   docker-registry (Debian: docker-registry), skopeo, GNU time as /usr/bin/time (apt-get install -y time),
//   tar, and crane + oras: from $CRANE / $ORAS, else ${OCIUTIL_SID_ROOTFS:-/var/cache/rules_ociutil/sid-rootfs}/usr/bin.
// Exit status: 0 whatever the speeds (a benchmark, not a test); 1 if any tool fails, a pulled layout or a
// pushed image has the wrong digest or content; 2 on bad usage or missing prerequisites.

import { spawn, spawnSync } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, openSync, writeSync, closeSync, rmSync, mkdtempSync, readdirSync } from "node:fs";
import { mkdir, readFile, writeFile, rename, stat, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";

const MiB = 1024 * 1024;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// ---------------------------------------------------------------------------------------------- options
function usage(message) {
  if (message) process.stderr.write(`pull-push: ${message}\n`);
  process.stderr.write("usage: node bench/pull-push.mjs [--runs N] [--size-mib MIB] [--layers N] [--cpu-prof DIR] [--keep]\n");
  process.exit(2);
}
const opts = { runs: 3, sizeMiB: 512, layers: 8, cpuProf: undefined, keep: false };
{
  const argv = process.argv.slice(2);
  const int = (flag, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) usage(`${flag} must be a positive integer, got "${v}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = () => inline ?? (i + 1 < argv.length ? argv[++i] : usage(`${flag} needs a value`));
    if (flag === "--runs") opts.runs = int(flag, value());
    else if (flag === "--size-mib") opts.sizeMiB = int(flag, value());
    else if (flag === "--layers") opts.layers = int(flag, value());
    else if (flag === "--cpu-prof") opts.cpuProf = path.resolve(value());
    else if (flag === "--keep") opts.keep = true;
    else if (flag === "-h" || flag === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
  if (opts.layers > opts.sizeMiB * MiB) usage("more layers than bytes");
}

// ------------------------------------------------------------------------------------------ prerequisites
const sidRootfs = process.env.OCIUTIL_SID_ROOTFS || "/var/cache/rules_ociutil/sid-rootfs";
const onPath = (name) => {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const p = path.join(dir || ".", name);
    if (existsSync(p)) return p;
  }
  return undefined;
};
const TIME = "/usr/bin/time";
const bins = {
  registry: process.env.DOCKER_REGISTRY || onPath("docker-registry"),
  skopeo: process.env.SKOPEO || onPath("skopeo"),
  crane: process.env.CRANE || path.join(sidRootfs, "usr/bin/crane"),
  oras: process.env.ORAS || path.join(sidRootfs, "usr/bin/oras"),
  tar: onPath("tar"),
};
{
  const missing = [];
  if (!existsSync(TIME)) missing.push(`${TIME} (GNU time, for peak RSS): install it with \`apt-get install -y time\``);
  if (!bins.registry) missing.push("docker-registry (CNCF distribution): `apt-get install -y docker-registry`, or set $DOCKER_REGISTRY");
  if (!bins.skopeo) missing.push("skopeo: `apt-get install -y skopeo`, or set $SKOPEO");
  if (!bins.tar) missing.push("tar");
  for (const t of ["crane", "oras"]) {
    if (!existsSync(bins[t])) missing.push(`${t}: not at ${bins[t]}; set $${t.toUpperCase()} or $OCIUTIL_SID_ROOTFS (Debian sid's ${t} package, unpacked with dpkg -x)`);
  }
  if (missing.length > 0) {
    for (const m of missing) process.stderr.write(`pull-push: missing ${m}\n`);
    process.exit(2);
  }
}

// ------------------------------------------------------------------------------------- cleanup handling
const work = mkdtempSync(path.join(tmpdir(), "ociutil-bench-"));
const children = new Set();
let cleanedUp = false;
function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch {}
  }
  if (opts.keep) process.stderr.write(`pull-push: kept ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    process.stderr.write(`\npull-push: ${sig}, stopping registries and removing ${work}\n`);
    cleanup();
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[sig] ?? 0));
  });
}
const log = (s) => process.stderr.write(`${s}\n`);

// ------------------------------------------------------------------------------------------ processes
/** Runs a command to completion, output captured; rejects with the tail of its output if it fails. */
function run(cmd, args, { allowFail = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    const out = [];
    const err = [];
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => err.push(d));
    child.on("error", (e) => {
      children.delete(child);
      reject(e);
    });
    child.on("close", (code, signal) => {
      children.delete(child);
      const result = { code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if ((code === 0 || allowFail) && !signal) resolve(result);
      else {
        const tail = (result.stderr + result.stdout).trim().split("\n").slice(-15).join("\n");
        reject(new Error(`${[cmd, ...args].join(" ")} exited with ${signal ?? code}\n${tail}`));
      }
    });
  });
}

/** Runs a command under GNU time; returns wall seconds (measured here), peak RSS in KiB (%M) and CPU
 *  seconds (user + system, %U + %S: less disturbed than wall time when other work shares the machine). */
async function timed(cmd, args) {
  // Flush dirty pages (earlier pulls, the registry's writes, deleted dirs) so no run pays for the
  // previous one's writeback. This is `sync`, not drop_caches: the page cache stays warm for everyone.
  spawnSync("sync", [], { stdio: "ignore" });
  const timeFile = path.join(work, `time-${process.hrtime.bigint()}.txt`);
  const t0 = process.hrtime.bigint();
  const result = await run(TIME, ["-f", "%M %U %S", "-o", timeFile, "--", cmd, ...args], { allowFail: true });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const timeOut = await readFile(timeFile, "utf8").catch(() => "");
  await rm(timeFile, { force: true });
  if (result.code !== 0 || result.signal) {
    const tail = (result.stderr + result.stdout).trim().split("\n").slice(-15).join("\n");
    throw new Error(`${[cmd, ...args].join(" ")} exited with ${result.signal ?? result.code}\n${tail}`);
  }
  // GNU time prefixes "Command exited with non-zero status" lines; the last line is "%M %U %S".
  const [rssKiB, user, sys] = timeOut.trim().split("\n").pop().split(" ").map(Number);
  return { seconds, rssKiB, cpu: user + sys, stdout: result.stdout, stderr: result.stderr };
}

// ------------------------------------------------------------------------------------------- registry
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

let registryCount = 0;
/** Starts `docker-registry serve` with its own empty storage on a free loopback port. */
async function startRegistry(label) {
  const dir = path.join(work, `registry-${++registryCount}-${label}`);
  await mkdir(path.join(dir, "storage"), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = path.join(dir, "config.yml");
    await writeFile(
      config,
      [
        "version: 0.1",
        "log: {level: error, accesslog: {disabled: true}}",
        "storage:",
        `  filesystem: {rootdirectory: ${JSON.stringify(path.join(dir, "storage"))}}`,
        "  delete: {enabled: true}",
        "  maintenance: {uploadpurging: {enabled: false}}",
        `http: {addr: "127.0.0.1:${port}"}`,
        "",
      ].join("\n"),
    );
    const logFile = path.join(dir, "registry.log");
    const logStream = createWriteStream(logFile, { flags: "a" });
    const child = spawn(bins.registry, ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    child.stdout.pipe(logStream);
    child.stderr.pipe(logStream);
    let exited = null;
    child.on("exit", (code, signal) => {
      exited = signal ?? code;
      children.delete(child);
    });
    const host = `127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    while (exited === null && Date.now() < deadline) {
      const ok = await fetch(`http://${host}/v2/`).then((r) => r.status === 200, () => false);
      if (ok) {
        return {
          host,
          dir,
          async stop() {
            if (exited === null) {
              const done = new Promise((r) => child.once("exit", r));
              child.kill("SIGTERM");
              await done;
            }
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    const text = await readFile(logFile, "utf8").catch(() => "");
    if (attempt < 2 && /address already in use/.test(text)) continue; // lost a race for the port
    throw new Error(`docker-registry did not start on ${host} (exit ${exited}):\n${text.trim().split("\n").slice(-10).join("\n")}`);
  }
}

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const ACCEPT = [OCI_MANIFEST, OCI_INDEX, "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"].join(", ");

/** Checks that REF (host/repo:tag) resolves to `want.digest` and that every blob is there with its size. */
async function checkRemote(host, repo, tag, want) {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { headers: { Accept: ACCEPT } });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return [`GET ${repo}:${tag} manifest: HTTP ${res.status}`];
  const problems = [];
  const got = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  if (got !== want.digest) problems.push(`${repo}:${tag} is ${got}, expected ${want.digest} (manifest rewritten?)`);
  for (const blob of want.blobs) {
    const head = await fetch(`http://${host}/v2/${repo}/blobs/${blob.digest}`, { method: "HEAD" });
    if (head.status !== 200) problems.push(`${repo}: blob ${blob.digest}: HTTP ${head.status}`);
    else if (Number(head.headers.get("content-length")) !== blob.size) problems.push(`${repo}: blob ${blob.digest} has ${head.headers.get("content-length")} bytes, expected ${blob.size}`);
  }
  return problems;
}

// ------------------------------------------------------------------------------------------ test image
function hashing(hash) {
  return new Transform({
    transform(chunk, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}

/** One layer: SIZE random bytes in a file, `tar`red, gzip level 1, written into the layout's blobs. */
async function makeLayer(index, size, scratch, blobsDir) {
  const dir = path.join(scratch, `layer-${index}`);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `random-${index}.bin`);
  const fd = openSync(file, "w");
  const chunk = Buffer.allocUnsafe(4 * MiB);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, chunk.length);
    randomFillSync(chunk, 0, n);
    writeSync(fd, chunk, 0, n);
    left -= n;
  }
  closeSync(fd);
  const tarFile = path.join(scratch, `layer-${index}.tar`);
  await run(bins.tar, ["--create", "--file", tarFile, "--directory", dir, "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", path.basename(file)]);
  await rm(dir, { recursive: true });
  const diffId = createHash("sha256");
  const digest = createHash("sha256");
  const tmp = path.join(blobsDir, `.tmp-layer-${index}`);
  await pipeline(createReadStream(tarFile, { highWaterMark: 4 * MiB }), hashing(diffId), createGzip({ level: 1 }), hashing(digest), createWriteStream(tmp));
  await rm(tarFile);
  const hex = digest.digest("hex");
  await rename(tmp, path.join(blobsDir, hex));
  const { size: gzSize } = await stat(path.join(blobsDir, hex));
  return { diffId: `sha256:${diffId.digest("hex")}`, descriptor: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${hex}`, size: gzSize } };
}

/** Builds an OCI image layout by hand: N random tar.gz layers, a config with their diff_ids, a manifest. */
async function makeImage(dir) {
  const blobsDir = path.join(dir, "blobs/sha256");
  const scratch = path.join(work, "scratch");
  await mkdir(blobsDir, { recursive: true });
  await mkdir(scratch, { recursive: true });
  const total = opts.sizeMiB * MiB;
  const sizes = Array.from({ length: opts.layers }, (_, i) => Math.floor(total / opts.layers) + (i < total % opts.layers ? 1 : 0));
  const layers = new Array(opts.layers);
  let next = 0;
  // Two at a time: gzip runs on libuv's thread pool, so this uses both cores of a small machine.
  await Promise.all(
    [0, 1].map(async () => {
      while (next < sizes.length) {
        const i = next++;
        layers[i] = await makeLayer(i, sizes[i], scratch, blobsDir);
      }
    }),
  );
  await rm(scratch, { recursive: true, force: true });
  const writeJson = async (value) => {
    const bytes = Buffer.from(JSON.stringify(value));
    const hex = createHash("sha256").update(bytes).digest("hex");
    await writeFile(path.join(blobsDir, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const config = await writeJson({
    created: "1970-01-01T00:00:00Z",
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: "1970-01-01T00:00:00Z", created_by: `bench layer ${i}` })),
  });
  const configDesc = { mediaType: "application/vnd.oci.image.config.v1+json", ...config };
  const manifest = await writeJson({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers: layers.map((l) => l.descriptor) });
  await writeFile(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    path.join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, ...manifest, annotations: { "org.opencontainers.image.ref.name": "v1" } }] }),
  );
  const blobs = [configDesc, ...layers.map((l) => l.descriptor)];
  return { digest: manifest.digest, manifestSize: manifest.size, blobs, bytes: manifest.size + blobs.reduce((n, b) => n + b.size, 0) };
}

async function sha256File(file) {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file, { highWaterMark: 4 * MiB }), hashing(hash), async function* (source) {
    for await (const _ of source);
  });
  return `sha256:${hash.digest("hex")}`;
}

/** Checks a pulled layout: index.json names the expected manifest digest; manifest, config and layers
 *  are present with the right size and sha256. Returns a list of problems. */
async function checkLayout(dir, want) {
  const problems = [];
  let index;
  try {
    index = JSON.parse(await readFile(path.join(dir, "index.json"), "utf8"));
  } catch (e) {
    return [`index.json: ${e.message}`];
  }
  const digests = (index.manifests ?? []).map((m) => m.digest);
  if (!digests.includes(want.digest)) problems.push(`index.json lists ${digests.join(", ") || "nothing"}, expected ${want.digest}`);
  for (const blob of [{ digest: want.digest, size: want.manifestSize }, ...want.blobs]) {
    const file = path.join(dir, "blobs", ...blob.digest.split(":"));
    const st = await stat(file).catch(() => undefined);
    if (!st) problems.push(`missing blob ${blob.digest}`);
    else if (st.size !== blob.size) problems.push(`blob ${blob.digest} has ${st.size} bytes, expected ${blob.size}`);
    else if ((await sha256File(file)) !== blob.digest) problems.push(`blob ${blob.digest}: content does not match its digest`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------- tools
const node = process.execPath;
const ociutil = path.join(work, "ociutil.mjs");
const nodeFloor = path.join(root, "bench/node-floor.mjs");
const pullers = {
  crane: (ref, dir) => [bins.crane, ["pull", "--format=oci", "--insecure", ref, dir]],
  oras: (ref, dir) => [bins.oras, ["copy", "--from-plain-http", ref, "--to-oci-layout", `${dir}:v1`]],
  skopeo: (ref, dir) => [bins.skopeo, ["copy", "--src-tls-verify=false", `docker://${ref}`, `oci:${dir}:v1`]],
  ociutil: (ref, dir) => [node, [ociutil, "pull", ref, "-o", dir, "--insecure"]],
  "node-floor": (ref, dir) => [node, [nodeFloor, "pull", ref, dir]],
};
const pushers = {
  crane: (dir, ref) => [bins.crane, ["push", dir, ref, "--insecure"]],
  oras: (dir, ref) => [bins.oras, ["copy", "--from-oci-layout", `${dir}:v1`, "--to-plain-http", ref]],
  skopeo: (dir, ref) => [bins.skopeo, ["copy", "--dest-tls-verify=false", `oci:${dir}:v1`, `docker://${ref}`]],
  ociutil: (dir, ref) => [node, [ociutil, "push", dir, ref, "--insecure"]],
  "node-floor": (dir, ref) => [node, [nodeFloor, "push", dir, ref]],
};
// node-floor is not a tool but a reference: the least work a Node program can do for the same result
// (bench/node-floor.mjs). It is timed like the others and never counts as the fastest peer.
const TOOLS = ["crane", "oras", "skopeo", "ociutil", "node-floor"];
const PEERS = TOOLS.filter((t) => t !== "ociutil" && t !== "node-floor");

// ----------------------------------------------------------------------------------------- cpu profile
/** Top self-time functions of a .cpuprofile (nodes with hitCount; samples + timeDeltas give time). */
async function topSelf(file, limit = 15) {
  const profile = JSON.parse(await readFile(file, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map(); // node id -> microseconds
  const { samples = [], timeDeltas = [] } = profile;
  // timeDeltas[i] is the gap before sample i: the time until the next sample is spent where sample i was.
  for (let i = 0; i < samples.length; i++) {
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const groups = new Map();
  for (const n of profile.nodes) {
    const cf = n.callFrame;
    const where = cf.url ? `${cf.url.replace(/^file:\/\//, "").replace(`${work}/`, "")}:${cf.lineNumber + 1}` : "";
    const key = `${cf.functionName || "(anonymous)"}${where ? ` ${where}` : ""}`;
    const g = groups.get(key) ?? { key, samples: 0, us: 0 };
    g.samples += n.hitCount ?? 0;
    g.us += selfUs.get(n.id) ?? 0;
    groups.set(key, g);
  }
  const totalUs = profile.endTime - profile.startTime;
  const totalSamples = samples.length || [...byId.values()].reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const rows = [...groups.values()].filter((g) => g.samples > 0).sort((a, b) => b.us - a.us || b.samples - a.samples);
  return { totalMs: totalUs / 1000, totalSamples, rows: rows.slice(0, limit) };
}

function printProfile(title, prof, seconds) {
  console.log(`\n### ociutil ${title}: top ${prof.rows.length} self-time functions (${seconds.toFixed(2)} s wall under --cpu-prof, profile ${(prof.totalMs / 1000).toFixed(2)} s, ${prof.totalSamples} samples)\n`);
  console.log("| self ms | self % | samples | function location |");
  console.log("|---:|---:|---:|---|");
  for (const r of prof.rows) {
    console.log(`| ${(r.us / 1000).toFixed(1)} | ${((100 * r.us) / 1000 / prof.totalMs).toFixed(1)} | ${r.samples} | \`${r.key.replace(/\|/g, "\\|")}\` |`);
  }
}

// ----------------------------------------------------------------------------------------------- main
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

let failed = false;
const failures = [];
function fail(what, detail) {
  failed = true;
  failures.push(`${what}: ${detail}`);
  log(`FAIL ${what}: ${detail}`);
}

/** `crane version` of Debian's build prints "could not determine build information": ask the rootfs's dpkg. */
async function craneVersion() {
  const out = (await run(bins.crane, ["version"], { allowFail: true })).stdout.trim();
  if (/^v?\d+\.\d+/.test(out)) return out;
  const status = await readFile(path.join(sidRootfs, "var/lib/dpkg/status"), "utf8").catch(() => "");
  const m = status.match(/^Package: crane\n(?:[^\n]+\n)*?Version: (\S+)/m);
  return m ? `${m[1]} (Debian package)` : "?";
}

let loadStart = "?";
async function main() {
  loadStart = loadavg().slice(0, 2).map((l) => l.toFixed(2)).join(" ");
  log(`work dir ${work}`);
  log("building ociutil (node tools/build.mjs --out TMP)");
  await run(node, [path.join(root, "tools/build.mjs"), "--out", ociutil]);
  const versions = {
    node: process.version,
    ociutil: (await run(node, [ociutil, "--version"], { allowFail: true })).stdout.trim(),
    crane: await craneVersion(),
    oras: ((await run(bins.oras, ["version"], { allowFail: true })).stdout.match(/Version:\s*(\S+)/) ?? [])[1] ?? "?",
    skopeo: ((await run(bins.skopeo, ["--version"], { allowFail: true })).stdout.match(/version (\S+)/) ?? [])[1] ?? "?",
    registry: ((await run(bins.registry, ["--version"], { allowFail: true })).stdout.match(/distribution (\S+)/) ?? [])[1] ?? "?",
  };

  const src = await startRegistry("src");
  log(`registry on ${src.host}`);
  const layoutDir = path.join(work, "src-layout");
  log(`making a ${opts.layers}-layer image of ${opts.sizeMiB} MiB random data (tar + gzip -1)`);
  const image = await makeImage(layoutDir);
  const srcRef = `${src.host}/bench/src:v1`;
  // Seeded with crane, a peer, so ociutil's own push is not a prerequisite of the pull benchmark.
  await run(bins.crane, ["push", layoutDir, srcRef, "--insecure"]);
  const seeded = await checkRemote(src.host, "bench/src", "v1", image);
  if (seeded.length > 0) throw new Error(`seeding ${srcRef} went wrong:\n${seeded.join("\n")}`);
  await rm(layoutDir, { recursive: true });
  log(`pushed ${srcRef} = ${image.digest} (${(image.bytes / MiB).toFixed(1)} MiB in ${image.blobs.length + 1} blobs)`);

  const results = { pull: {}, push: {} };
  for (const op of ["pull", "push"]) for (const t of TOOLS) results[op][t] = { seconds: [], rssKiB: [], cpu: [], failed: false };

  // Each run starts with the next tool, so none always runs first (on a warm, quiet machine) or last
  // (after three others have written 1.5 GiB and the kernel is reclaiming page cache).
  const rotation = (r) => TOOLS.map((_, i) => TOOLS[(i + r - 1) % TOOLS.length]);

  // ---- pull: each run of each tool into a fresh empty directory; tools interleaved so drift is shared.
  // Registry blobs stay in the page cache (nothing is dropped); every tool sees the same warm registry.
  let pushSource;
  for (let r = 1; r <= opts.runs; r++) {
    for (const tool of rotation(r)) {
      const res = results.pull[tool];
      if (res.failed) continue;
      const dir = path.join(work, `pull-${tool}-${r}`);
      await mkdir(dir);
      const [cmd, args] = pullers[tool](srcRef, dir);
      try {
        const t = await timed(cmd, args);
        const problems = await checkLayout(dir, image);
        if (problems.length > 0) {
          fail(`pull ${tool} run ${r}`, `layout ${dir}: ${problems.join("; ")}`);
          res.failed = true;
        } else {
          res.seconds.push(t.seconds);
          res.rssKiB.push(t.rssKiB);
          res.cpu.push(t.cpu);
          log(`pull ${tool.padEnd(10)} run ${r}: ${t.seconds.toFixed(2)} s, ${(t.rssKiB / 1024).toFixed(0)} MB, ${t.cpu.toFixed(2)} s CPU`);
        }
      } catch (e) {
        fail(`pull ${tool} run ${r}`, e.message);
        res.failed = true;
      }
      if (tool === "ociutil" && !res.failed && !pushSource) pushSource = dir;
      else if (!opts.keep) await rm(dir, { recursive: true, force: true });
    }
  }

  // ---- push: from the layout ociutil pulled, checked first with `ociutil verify`.
  // Fairness: distribution answers HEAD for a blob any repository holds, and a push to a fresh repository
  // name would then skip the upload (crane/oras/skopeo HEAD first) or mount it; and even tools that always
  // upload would leave the global blob store warm. So every push run gets its own registry with empty
  // storage (started before, stopped and deleted after; startup is not timed): every tool uploads every
  // byte to a registry in the same state. The repository name is still fresh: bench/push-<tool>-<run>.
  if (!pushSource) {
    fail("push", "no layout from a successful ociutil pull to push from; push benchmark skipped");
  } else {
    try {
      const v = await run(node, [ociutil, "verify", pushSource]);
      log(v.stdout.trim());
    } catch (e) {
      fail("ociutil verify", e.message);
      pushSource = undefined;
    }
  }
  if (pushSource) {
    for (let r = 1; r <= opts.runs; r++) {
      for (const tool of rotation(r)) {
        const res = results.push[tool];
        if (res.failed) continue;
        const reg = await startRegistry(`push-${tool}-${r}`);
        const repo = `bench/push-${tool}-${r}`;
        const [cmd, args] = pushers[tool](pushSource, `${reg.host}/${repo}:v1`);
        try {
          const t = await timed(cmd, args);
          const problems = await checkRemote(reg.host, repo, "v1", image);
          if (problems.length > 0) {
            fail(`push ${tool} run ${r}`, problems.join("; "));
            res.failed = true;
          } else {
            res.seconds.push(t.seconds);
            res.rssKiB.push(t.rssKiB);
            res.cpu.push(t.cpu);
            log(`push ${tool.padEnd(10)} run ${r}: ${t.seconds.toFixed(2)} s, ${(t.rssKiB / 1024).toFixed(0)} MB, ${t.cpu.toFixed(2)} s CPU`);
          }
        } catch (e) {
          fail(`push ${tool} run ${r}`, e.message);
          res.failed = true;
        }
        await reg.stop();
      }
    }
  }

  // ---- optional CPU profiles of one more ociutil pull and push.
  const profiles = [];
  if (opts.cpuProf) {
    for (const op of ["pull", "push"]) {
      if (op === "push" && !pushSource) continue;
      const profDir = path.join(opts.cpuProf, op);
      await mkdir(profDir, { recursive: true });
      const before = new Set(readdirSync(profDir));
      const reg = op === "push" ? await startRegistry("prof-push") : undefined;
      const dir = path.join(work, "prof-pull");
      const ociArgs = op === "pull" ? [ociutil, "pull", srcRef, "-o", dir, "--insecure"] : [ociutil, "push", pushSource, `${reg.host}/bench/push-ociutil-prof:v1`, "--insecure"];
      try {
        if (op === "pull") await mkdir(dir);
        const t = await timed(node, ["--cpu-prof", "--cpu-prof-dir", profDir, ...ociArgs]);
        const file = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile") && !before.has(f)).sort().pop();
        if (!file) throw new Error(`no .cpuprofile written to ${profDir}`);
        profiles.push({ op, file: path.join(profDir, file), seconds: t.seconds, prof: await topSelf(path.join(profDir, file)) });
      } catch (e) {
        fail(`cpu-prof ${op}`, e.message);
      }
      if (reg) await reg.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }
  await src.stop();

  // ---- report
  const mib = image.bytes / MiB;
  console.log(`\n## ociutil pull/push benchmark\n`);
  console.log(
    `Image: ${opts.layers} layers of random data, ${opts.sizeMiB} MiB uncompressed, ${mib.toFixed(1)} MiB of blobs; ${opts.runs} run(s) per tool; ` +
      `loopback docker-registry ${versions.registry}. Median wall time; MiB/s = blob MiB / median; peak RSS = max over runs of GNU time %M; CPU s = median user + sys.\n`,
  );
  console.log(`Versions: ociutil ${versions.ociutil || "?"} (node ${versions.node}), crane ${versions.crane || "?"}, oras ${versions.oras}, skopeo ${versions.skopeo}.\n`);
  const [l1, l5] = loadavg();
  console.log(`Machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; load average ${loadStart} at the start, ${l1.toFixed(2)} ${l5.toFixed(2)} at the end.\n`);
  if (l5 > cpus().length / 2) console.log(`> Other work was running (5-min load ${l5.toFixed(2)} on ${cpus().length} CPUs): wall times are noisy; CPU s (user + sys) is steadier.\n`);
  console.log("| op | tool | median s | MiB/s | peak RSS MB | vs fastest peer | CPU s | runs s |");
  console.log("|---|---|---:|---:|---:|---:|---:|---|");
  const verdicts = [];
  for (const op of ["pull", "push"]) {
    const med = Object.fromEntries(TOOLS.map((t) => [t, results[op][t].failed || results[op][t].seconds.length === 0 ? undefined : median(results[op][t].seconds)]));
    const okPeers = PEERS.filter((p) => med[p] !== undefined);
    const fastest = okPeers.sort((a, b) => med[a] - med[b])[0];
    for (const t of TOOLS) {
      const res = results[op][t];
      if (med[t] === undefined) {
        console.log(`| ${op} | ${t} | FAILED | | | | | |`);
        continue;
      }
      const peakMB = Math.max(...res.rssKiB) / 1024;
      const ratio = fastest ? `${(med[t] / med[fastest]).toFixed(2)}×` : "n/a";
      console.log(`| ${op} | ${t} | ${med[t].toFixed(2)} | ${(mib / med[t]).toFixed(0)} | ${peakMB.toFixed(0)} | ${ratio} | ${median(res.cpu).toFixed(2)} | ${res.seconds.map((s) => s.toFixed(2)).join(", ")} |`);
    }
    if (med.ociutil === undefined) verdicts.push(`${op}: ociutil FAILED`);
    else {
      const peakMB = Math.max(...results[op].ociutil.rssKiB) / 1024;
      const speed = fastest
        ? `${med.ociutil <= med[fastest] ? "at least as fast as" : "SLOWER than"} the fastest peer (${fastest}, ${(med.ociutil / med[fastest]).toFixed(2)}×)`
        : "no peer succeeded to compare with";
      const floor = med["node-floor"] !== undefined && fastest ? `; the Node floor is ${(med["node-floor"] / med[fastest]).toFixed(2)}× ${fastest}, and ociutil ${(med.ociutil / med["node-floor"]).toFixed(2)}× the floor` : "";
      verdicts.push(`${op}: ociutil is ${speed}; peak RSS ${peakMB.toFixed(0)} MB ${peakMB < 150 ? "<" : "is NOT <"} 150 MB${floor}`);
    }
  }
  console.log(`\n${verdicts.join(". ")}.`);
  console.log("(node-floor: bench/node-floor.mjs, the least work a Node program can do for the same layout or push; a reference, not a peer.)");
  for (const p of profiles) printProfile(p.op, p.prof, p.seconds);
  if (profiles.length > 0) console.log(`\nProfiles: ${profiles.map((p) => p.file).join(", ")}`);
  if (failures.length > 0) {
    console.log(`\nFailures:\n${failures.map((f) => `- ${f.split("\n")[0]}`).join("\n")}`);
  }
}

try {
  await main();
} catch (e) {
  log(`pull-push: ${e.stack ?? e}`);
  failed = true;
}
process.exitCode = failed ? 1 : 0;
