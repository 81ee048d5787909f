// A registry for the push test of the Bazel Central Registry's presubmit, where no registry runs:
// the part of the OCI distribution API a push uses (blob uploads, manifests by tag and digest), in
// memory, on 127.0.0.1. It writes its port to the file named by argv[2] once it listens.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";

const blobs = new Map(); // digest -> Buffer
const manifests = new Map(); // "repo:reference" -> { type, body }
const uploads = new Map(); // id -> Buffer[]
let nextUpload = 0;

const sha256 = (b) => "sha256:" + createHash("sha256").update(b).digest("hex");
const body = (req) =>
  new Promise((resolve, reject) => {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
  });

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://registry");
  const send = (status, headers = {}, data) => {
    res.writeHead(status, headers);
    res.end(req.method === "HEAD" ? undefined : data);
  };
  if (url.pathname === "/v2/") return send(200, { "content-type": "application/json" }, "{}");
  let m = /^\/v2\/(.+)\/blobs\/uploads\/(\d*)$/.exec(url.pathname);
  if (m) {
    const [, repo, id] = m;
    if (req.method === "POST") {
      const mount = url.searchParams.get("mount");
      if (mount && blobs.has(mount)) return send(201, { location: `/v2/${repo}/blobs/${mount}` });
      const digest = url.searchParams.get("digest");
      if (digest) {
        const data = await body(req);
        if (digest !== sha256(data)) return send(400, {}, "digest mismatch");
        blobs.set(digest, data);
        return send(201, { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest });
      }
      const upload = String(nextUpload++);
      uploads.set(upload, []);
      return send(202, { location: `/v2/${repo}/blobs/uploads/${upload}`, range: "0-0" });
    }
    if (!uploads.has(id)) return send(404);
    uploads.get(id).push(await body(req));
    if (req.method === "PATCH") return send(202, { location: `/v2/${repo}/blobs/uploads/${id}` });
    const data = Buffer.concat(uploads.get(id));
    uploads.delete(id);
    const digest = url.searchParams.get("digest");
    if (digest !== sha256(data)) return send(400, {}, "digest mismatch");
    blobs.set(digest, data);
    return send(201, { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest });
  }
  m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
  if (m) {
    const data = blobs.get(m[2]);
    if (!data) return send(404);
    return send(200, { "content-length": data.length, "docker-content-digest": m[2] }, data);
  }
  m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
  if (m) {
    const [, repo, ref] = m;
    if (req.method === "PUT") {
      const data = await body(req);
      const digest = sha256(data);
      const entry = { type: req.headers["content-type"], body: data, digest };
      manifests.set(`${repo}:${ref}`, entry);
      manifests.set(`${repo}:${digest}`, entry);
      return send(201, { location: `/v2/${repo}/manifests/${digest}`, "docker-content-digest": digest });
    }
    const entry = manifests.get(`${repo}:${ref}`);
    if (!entry) return send(404);
    return send(200, { "content-type": entry.type, "content-length": entry.body.length, "docker-content-digest": entry.digest }, entry.body);
  }
  send(404);
});

server.listen(0, "127.0.0.1", () => writeFileSync(process.argv[2], String(server.address().port)));
