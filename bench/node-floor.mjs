#!/usr/bin/env node
// The Node floor: the least work a Node program can do to pull or push the benchmark's image, as a
// reference row in bench/pull-push.mjs. It answers one question for docs/bench.md: on this machine, how
// fast can any Node tool be at all, whatever its HTTP client, validation or structure?
//
//   node bench/node-floor.mjs pull HOST:PORT/REPO:TAG DIR     registry -> new OCI layout in DIR
//   node bench/node-floor.mjs push DIR HOST:PORT/REPO:TAG     OCI layout (one image) -> registry
//
// It is not a registry client, and nothing else should use it: plain HTTP/1.1 to a loopback registry,
// no auth, no redirects, no retries, Content-Length bodies only, a single-image manifest only, and no
// checks beyond each pulled blob's sha256. What it does do is what any correct tool must: every blob
// byte crosses the socket, a pull hashes and writes every byte, a push reads every byte from disk.
//
// The structure is the fastest measured here for Node (docs/bench.md, "The Node floor"): a pull gives
// each of two worker threads whole blobs to GET, hash and write, each socket reading into one reused
// buffer, so bytes never cross threads; a push sends from one thread, reading each file in 1 MiB pieces.
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from "node:fs";
import net from "node:net";
import { Worker } from "node:worker_threads";

const MiB = 1 << 20;
const JOBS = 4; // blobs in flight, as ociutil's default on 2 cores
const ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

function die(message) {
  process.stderr.write(`node-floor: ${message}\n`);
  process.exit(1);
}

function parseRef(ref) {
  const m = /^(127\.0\.0\.1|localhost):(\d+)\/([a-z0-9][a-z0-9._/-]*):([\w.-]+)$/.exec(ref);
  if (!m) die(`want 127.0.0.1:PORT/REPO:TAG, got "${ref}"`);
  return { host: m[1], port: Number(m[2]), repo: m[3], tag: m[4] };
}

/**
 * One HTTP/1.1 exchange on a new connection. `body` is a Buffer, or { fd, size } to send from a file.
 * Resolves { status, headers (lower-case names), body }.
 */
function exchange(host, port, method, target, headers = {}, body = undefined) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const chunks = [];
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", reject);
    socket.on("end", () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) return reject(new Error(`${method} ${target}: no response`));
      const [statusLine, ...lines] = all.subarray(0, end).toString("latin1").split("\r\n");
      const fields = {};
      for (const l of lines) fields[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
      resolve({ status: Number(statusLine.split(" ")[1]), headers: fields, body: all.subarray(end + 4) });
    });
    socket.on("connect", () => {
      const size = body === undefined ? 0 : Buffer.isBuffer(body) ? body.length : body.size;
      const head = Object.entries({ Host: `${host}:${port}`, Connection: "close", "Content-Length": String(size), ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("");
      socket.write(`${method} ${target} HTTP/1.1\r\n${head}\r\n`);
      if (Buffer.isBuffer(body)) socket.write(body);
      else if (body !== undefined) sendFile(socket, body.fd, size).catch((err) => reject(new Error(`${method} ${target}: ${err.message}`)));
    });
  });
}

/** Sends the first `size` bytes of `fd`, reading the next 1 MiB piece while the previous one is sent. */
async function sendFile(socket, fd, size) {
  const buffers = [Buffer.allocUnsafeSlow(MiB), Buffer.allocUnsafeSlow(MiB)];
  let pending = Promise.resolve();
  for (let sent = 0, i = 0; sent < size; i ^= 1) {
    const n = readSync(fd, buffers[i], 0, Math.min(MiB, size - sent), sent);
    if (n === 0) throw new Error(`file ends after ${sent} of ${size} bytes`);
    await pending; // the write of buffers[i ^ 1], so buffers[i]'s previous write finished one round ago
    pending = new Promise((resolve) => socket.write(buffers[i].subarray(0, n), resolve));
    sent += n;
  }
  await pending;
}

// ---------------------------------------------------------------------------------------------- pull
// Each worker GETs whole blobs on its own socket, reading into one 1 MiB buffer, and writes (32 KiB at a
// time, as ociutil does) and hashes each read before the next.
const PULL_WORKER = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { closeSync, openSync, renameSync, writeSync } = require("node:fs");
const net = require("node:net");
const buffer = Buffer.allocUnsafeSlow(1 << 20);
function get({ host, port, target, file, hex }) {
  return new Promise((resolve, reject) => {
    const fd = openSync(file + ".tmp", "w");
    const hash = createHash("sha256");
    let head = "", left = -1;
    const take = (bytes) => {
      for (let at = 0; at < bytes.length; at += 32768) writeSync(fd, bytes, at, Math.min(32768, bytes.length - at));
      hash.update(bytes);
      left -= bytes.length;
    };
    const socket = net.connect({ host, port, onread: { buffer, callback(n, buf) {
      let bytes = buf.subarray(0, n);
      if (left < 0) {
        head += bytes.toString("latin1");
        const end = head.indexOf("\\r\\n\\r\\n");
        if (end < 0) return;
        if (!/^HTTP\\/1\\.1 200 /.test(head)) return reject(new Error(target + ": " + head.split("\\r\\n")[0]));
        left = Number(/\\r\\ncontent-length: *(\\d+)/i.exec(head)[1]);
        bytes = bytes.subarray(bytes.length - (head.length - end - 4));
      }
      take(bytes);
      if (left === 0) {
        socket.destroy();
        closeSync(fd);
        if (hash.digest("hex") !== hex) return reject(new Error(target + ": digest mismatch"));
        renameSync(file + ".tmp", file);
        resolve();
      }
    } } });
    socket.on("connect", () => socket.write("GET " + target + " HTTP/1.1\\r\\nHost: " + host + ":" + port + "\\r\\n\\r\\n"));
    socket.on("error", reject);
  });
}
parentPort.on("message", (job) => get(job).then(() => parentPort.postMessage({ id: job.id }), (err) => parentPort.postMessage({ id: job.id, error: String(err.message) })));
`;

async function pull(refText, dir) {
  const ref = parseRef(refText);
  const workers = [new Worker(PULL_WORKER, { eval: true }), new Worker(PULL_WORKER, { eval: true })];
  const res = await exchange(ref.host, ref.port, "GET", `/v2/${ref.repo}/manifests/${ref.tag}`, { Accept: ACCEPT });
  if (res.status !== 200) die(`GET manifest: HTTP ${res.status}`);
  const manifest = JSON.parse(res.body.toString("utf8"));
  const blobsDir = `${dir}/blobs/sha256`;
  mkdirSync(blobsDir, { recursive: true });

  const waiting = new Map();
  for (const w of workers) w.on("message", (m) => waiting.get(m.id)(m.error));
  const blobs = [manifest.config, ...manifest.layers];
  let next = 0;
  let id = 0;
  const fetchOn = (worker) =>
    new Promise((resolve, reject) => {
      const { digest } = blobs[next++];
      const job = { id: id++, host: ref.host, port: ref.port, target: `/v2/${ref.repo}/blobs/${digest}`, file: `${blobsDir}/${digest.slice(7)}`, hex: digest.slice(7) };
      waiting.set(job.id, (error) => (error ? reject(new Error(error)) : resolve()));
      worker.postMessage(job);
    });
  // JOBS blobs in flight, half on each worker.
  await Promise.all(
    Array.from({ length: JOBS }, async (_, lane) => {
      while (next < blobs.length) await fetchOn(workers[lane % workers.length]);
    }),
  );
  for (const w of workers) w.unref();

  const digest = `sha256:${createHash("sha256").update(res.body).digest("hex")}`;
  writeFileSync(`${blobsDir}/${digest.slice(7)}`, res.body);
  writeFileSync(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const entry = { mediaType: manifest.mediaType, digest, size: res.body.length, annotations: { "org.opencontainers.image.ref.name": ref.tag } };
  writeFileSync(`${dir}/index.json.tmp`, JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
  renameSync(`${dir}/index.json.tmp`, `${dir}/index.json`);
  process.stdout.write(`${refText.replace(/:[\w.-]+$/, "")}@${digest}\n`);
}

// ---------------------------------------------------------------------------------------------- push
async function push(dir, refText) {
  const ref = parseRef(refText);
  const index = JSON.parse(readFileSync(`${dir}/index.json`, "utf8"));
  if (index.manifests?.length !== 1) die("want a layout with one manifest");
  const blobPath = (digest) => `${dir}/blobs/${digest.replace(":", "/")}`;
  const manifestBytes = readFileSync(blobPath(index.manifests[0].digest));
  const manifest = JSON.parse(manifestBytes.toString("utf8"));
  const blobs = [manifest.config, ...manifest.layers];
  let next = 0;
  await Promise.all(
    Array.from({ length: JOBS }, async () => {
      while (next < blobs.length) {
        const { digest, size } = blobs[next++];
        const start = await exchange(ref.host, ref.port, "POST", `/v2/${ref.repo}/blobs/uploads/`);
        if (start.status !== 202) die(`POST upload: HTTP ${start.status}`);
        const location = new URL(start.headers.location, `http://${ref.host}:${ref.port}`);
        location.searchParams.set("digest", digest);
        const fd = openSync(blobPath(digest), "r");
        const put = await exchange(ref.host, ref.port, "PUT", `${location.pathname}${location.search}`, { "Content-Type": "application/octet-stream" }, { fd, size });
        closeSync(fd);
        if (put.status !== 201) die(`PUT ${digest}: HTTP ${put.status}`);
      }
    }),
  );
  const put = await exchange(ref.host, ref.port, "PUT", `/v2/${ref.repo}/manifests/${ref.tag}`, { "Content-Type": manifest.mediaType }, manifestBytes);
  if (put.status !== 201) die(`PUT manifest: HTTP ${put.status}`);
  process.stdout.write(`${refText.replace(/:[\w.-]+$/, "")}@${index.manifests[0].digest}\n`);
}

const [op, a, b] = process.argv.slice(2);
try {
  if (op === "pull" && a && b) await pull(a, b);
  else if (op === "push" && a && b) await push(a, b);
  else die("usage: node-floor.mjs pull REF DIR | push DIR REF");
} catch (err) {
  die(err.message);
}
