/**
 * An HTTP reverse proxy in front of a test registry that injects faults.
 *
 * These faults are MOCKS of what a real registry (or the network, a CDN, an S3 redirect) may do but
 * docker-registry on loopback never does: rate limiting (429 + Retry-After), 5xx, corrupted or
 * truncated bodies, dropped connections, and a 307 to a different host. Everything not matched by a
 * rule is forwarded unchanged, streaming in both directions, with headers preserved (Location and
 * WWW-Authenticate included); an absolute Location that points at the upstream is rewritten to point
 * at the proxy.
 *
 * Rule matching: the first rule (in order) whose method matches (none = any) and whose `path` regex
 * matches the URL path (without the query) and that has uses left (`times`, default Infinity) applies.
 *
 * Redirect: the proxy answers 307 with `Location: http://localhost:PORT2/_redirected/<id><path?query>`.
 * PORT2 is a second listener; "localhost" vs the proxy's "127.0.0.1" makes it a different host, so a
 * client must not send its registry credentials there. Like an S3 pre-signed URL, the second listener
 * needs no credentials from the client: it forwards to the upstream with the Authorization header of
 * the original (redirected) request, and records whether the client sent one itself.
 *
 * Location on the other host: the request is forwarded, and the Location of the answer (an upload
 * session) is moved to the second listener the same way, as a registry that hands uploads to object
 * storage does.
 *
 * Hostile answers (MOCKS of a broken or malicious server, which no real registry sends on purpose):
 * `endless` answers with a body that never ends, sent as fast as the client reads it (memory caps);
 * `drip` forwards the upstream's answer but sends its body one byte at a time, `intervalMs` apart
 * (stall timeouts); `slow-read` takes an upload's body one byte every `intervalMs` and never answers;
 * `truncate` without `times` drops the connection mid-body on every attempt.
 */
import { randomBytes } from "node:crypto";
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import { Transform } from "node:stream";
import { closeServer, listen } from "./util.js";

export type FaultAction =
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  | { kind: "corrupt" }
  | { kind: "truncate"; afterBytes: number }
  /** The body's first `afterBytes` are sent, then nothing for `ms`, then the rest: a slow network. */
  | { kind: "pause"; afterBytes: number; ms: number }
  /** Sends the first `afterBytes` of the body, then nothing, holding the connection open: a transfer that stalls mid-blob. */
  | { kind: "stall"; afterBytes: number }
  | { kind: "drop" }
  | { kind: "redirect"; to: "other-host" }
  /** Forwarded, but the answer's Location (an upload session) names the other host, as object storage does. */
  | { kind: "location-other-host" }
  /** `status` (default 200) and a chunked body that never ends, written as fast as the client reads. */
  | { kind: "endless"; status?: number; headers?: Record<string, string> }
  /** The upstream's status and headers, then its body one byte every `intervalMs`. */
  | { kind: "drip"; intervalMs: number }
  /** Reads the request's body one byte every `intervalMs` and never answers (an upload that stalls). */
  | { kind: "slow-read"; intervalMs: number };

export interface FaultRule {
  /** HTTP method(s) to match; omitted = any. */
  method?: string | string[];
  /** Matched against the URL path without the query string. */
  path: RegExp;
  /** How many requests this rule applies to (default Infinity). */
  times?: number;
  action: FaultAction;
}

export interface ProxyRequestRecord {
  method: string;
  /** URL path without the query string (for otherHostRequests: the upstream path, without the redirect prefix). */
  path: string;
  /** The query string including "?", or "". */
  query: string;
  /** Status sent to the client; 0 when the connection was dropped before a status line. */
  status: number;
  /** Whether the client sent an Authorization header. */
  authorization: boolean;
  /** The fault applied to this request, if any. */
  fault?: FaultAction["kind"];
  /** When the request arrived (Date.now()); for tests of pacing. */
  at?: number;
}

export interface FaultProxy {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** "localhost:PORT2", the redirect target. */
  otherHost: string;
  requests: ProxyRequestRecord[];
  otherHostRequests: ProxyRequestRecord[];
  /** TCP connections clients opened to the proxy so far (whether requests share connections). */
  readonly connections: number;
  /** How many times each rule (by index in the current rules) has fired. */
  ruleHits: number[];
  /** Replaces the rules (and resets ruleHits). */
  setRules(rules: FaultRule[]): void;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

function forwardHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function methodMatches(rule: FaultRule, method: string): boolean {
  if (rule.method === undefined) return true;
  const list = Array.isArray(rule.method) ? rule.method : [rule.method];
  return list.some((m) => m.toUpperCase() === method.toUpperCase());
}

export interface FaultProxyOptions {
  /** Send upstream Location headers as relative references ("/v2/..."), as some registries do;
   *  distribution 2.8 sends absolute URLs. */
  relativeLocations?: boolean;
}

export async function startFaultProxy(upstream: string, rules: FaultRule[], options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const [upHost, upPortStr] = splitHostPort(upstream);
  const upPort = Number(upPortStr);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const requests: ProxyRequestRecord[] = [];
  const otherHostRequests: ProxyRequestRecord[] = [];
  let current = rules.slice();
  let hits = current.map(() => 0);
  /** id -> Authorization header of the redirected request ("" if none). */
  const redirects = new Map<string, string>();
  /** Responses held open by "stall", closed by stop(). */
  const stalled = new Set<ServerResponse>();
  let proxyHost = "";
  let otherHost = "";

  function rewriteLocation(loc: string): string {
    try {
      const u = new URL(loc);
      if (u.host === upstream || (u.hostname === upHost && u.port === upPortStr)) {
        const rest = `${u.pathname}${u.search}${u.hash}`;
        return options.relativeLocations ? rest : `http://${proxyHost}${rest}`;
      }
    } catch {
      /* relative: leave as is */
    }
    return loc;
  }

  /** Forwards req to the upstream; calls onResponse with the upstream response (or replies 502). */
  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    rec: ProxyRequestRecord,
    path: string,
    overrideAuth: string | undefined,
    onResponse: (up: IncomingMessage, headers: OutgoingHttpHeaders) => void,
  ) {
    const headers = forwardHeaders(req.headers);
    headers["host"] = upstream;
    if (overrideAuth !== undefined) {
      if (overrideAuth === "") delete headers["authorization"];
      else headers["authorization"] = overrideAuth;
    }
    const upReq = httpRequest({ host: upHost, port: upPort, method: req.method, path, headers, agent }, (up) => {
      const out = forwardHeaders(up.headers);
      if (typeof out["location"] === "string") out["location"] = rewriteLocation(out["location"]);
      rec.status = up.statusCode ?? 0;
      onResponse(up, out);
    });
    upReq.on("error", () => {
      if (!res.headersSent) {
        rec.status = 502;
        res.writeHead(502, { "Content-Type": "text/plain" });
        res.end("fault proxy: upstream error\n");
      } else {
        res.destroy();
      }
    });
    req.on("aborted", () => upReq.destroy());
    res.on("close", () => {
      if (!res.writableFinished) upReq.destroy();
    });
    req.pipe(upReq);
  }

  function passThrough(up: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders) {
    res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
    up.pipe(res);
    up.on("error", () => res.destroy());
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const method = req.method ?? "GET";
    const rawUrl = req.url ?? "/";
    const q = rawUrl.indexOf("?");
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = q < 0 ? "" : rawUrl.slice(q);
    const rec: ProxyRequestRecord = { method, path, query, status: 0, authorization: req.headers.authorization !== undefined, at: Date.now() };
    requests.push(rec);

    let action: FaultAction | undefined;
    for (let i = 0; i < current.length; i++) {
      const r = current[i]!;
      if (!methodMatches(r, method) || !r.path.test(path)) continue;
      if (hits[i]! >= (r.times ?? Infinity)) continue;
      hits[i]!++;
      action = r.action;
      break;
    }
    if (action) rec.fault = action.kind;

    switch (action?.kind) {
      case undefined:
        forward(req, res, rec, rawUrl, undefined, (up, h) => passThrough(up, res, h));
        return;
      case "status": {
        req.resume();
        const body =
          action.body ??
          JSON.stringify({ errors: [{ code: action.status === 429 ? "TOOMANYREQUESTS" : "UNKNOWN", message: `injected ${action.status}` }] });
        rec.status = action.status;
        res.writeHead(action.status, {
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(body),
          ...(action.headers ?? {}),
        });
        res.end(method === "HEAD" ? undefined : body);
        return;
      }
      case "drop":
        rec.status = 0;
        req.socket.destroy();
        return;
      case "redirect": {
        req.resume();
        const id = randomBytes(8).toString("hex");
        redirects.set(id, req.headers.authorization ?? "");
        rec.status = 307;
        res.writeHead(307, { Location: `http://${otherHost}/_redirected/${id}${rawUrl}`, "Content-Length": 0 });
        res.end();
        return;
      }
      case "location-other-host":
        forward(req, res, rec, rawUrl, undefined, (up, h) => {
          const loc = h["location"];
          if (typeof loc === "string") {
            const id = randomBytes(8).toString("hex");
            redirects.set(id, req.headers.authorization ?? "");
            const u = new URL(loc, `http://${proxyHost}`);
            h["location"] = `http://${otherHost}/_redirected/${id}${u.pathname}${u.search}`;
          }
          passThrough(up, res, h);
        });
        return;
      case "corrupt":
        forward(req, res, rec, rawUrl, undefined, (up, h) => {
          res.writeHead(up.statusCode ?? 502, up.statusMessage, h);
          // Same length, different bytes: flip every bit of the first byte of each chunk.
          const flip = new Transform({
            transform(chunk: Buffer, _enc, cb) {
              const c = Buffer.from(chunk);
              if (c.length > 0) c[0] = c[0]! ^ 0xff;
              cb(null, c);
            },
          });
          up.pipe(flip).pipe(res);
        });
        return;
      case "pause": {
        const { afterBytes, ms } = action;
        forward(req, res, rec, rawUrl, undefined, (up, h) => {
          res.writeHead(up.statusCode ?? 502, up.statusMessage, h);
          let sent = 0;
          let held = false;
          const hold = new Transform({
            transform(chunk: Buffer, _enc, cb) {
              const before = sent;
              sent += chunk.length;
              if (held || sent < afterBytes) return cb(null, chunk);
              held = true;
              this.push(chunk.subarray(0, afterBytes - before));
              setTimeout(() => cb(null, chunk.subarray(afterBytes - before)), ms);
            },
          });
          up.pipe(hold).pipe(res);
        });
        return;
      }
      case "stall": {
        const limit = action.afterBytes;
        forward(req, res, rec, rawUrl, undefined, (up, h) => {
          res.writeHead(up.statusCode ?? 502, up.statusMessage, h);
          res.flushHeaders();
          stalled.add(res);
          res.on("close", () => stalled.delete(res));
          let sent = 0;
          up.on("data", (chunk: Buffer) => {
            const room = limit - sent;
            if (room <= 0) return;
            sent += Math.min(room, chunk.length);
            res.write(chunk.subarray(0, room));
            if (sent >= limit) up.pause(); // the rest never comes; both connections stay open until the client goes
          });
        });
        return;
      }
      case "endless": {
        req.resume();
        rec.status = action.status ?? 200;
        res.writeHead(rec.status, { "Content-Type": "application/json", ...(action.headers ?? {}) });
        const chunk = Buffer.alloc(64 << 10, "a");
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
        };
        res.on("drain", pump);
        pump();
        return;
      }
      case "drip": {
        const intervalMs = action.intervalMs;
        forward(req, res, rec, rawUrl, undefined, (up, h) => {
          res.writeHead(up.statusCode ?? 502, up.statusMessage, h);
          res.flushHeaders();
          up.pause();
          const timer = setInterval(() => {
            const b = up.read(1) as Buffer | null;
            if (b !== null) res.write(b);
            else if (up.readableEnded) {
              clearInterval(timer);
              res.end();
            }
          }, intervalMs);
          res.on("close", () => {
            clearInterval(timer);
            up.destroy();
          });
        });
        return;
      }
      case "slow-read": {
        req.pause();
        const timer = setInterval(() => req.read(1), action.intervalMs);
        req.socket.on("close", () => clearInterval(timer));
        return;
      }
      case "truncate": {
        const limit = action.afterBytes;
        forward(req, res, rec, rawUrl, undefined, (up, h) => {
          res.writeHead(up.statusCode ?? 502, up.statusMessage, h);
          res.flushHeaders();
          let sent = 0;
          let done = false;
          const cut = () => {
            if (done) return;
            done = true;
            up.destroy();
            // Let the partial body reach the socket, then reset the connection.
            setTimeout(() => res.socket?.destroy(), 20);
          };
          if (limit <= 0) {
            cut();
            return;
          }
          up.on("data", (chunk: Buffer) => {
            if (done || sent >= limit) return;
            const room = limit - sent;
            if (chunk.length < room) {
              sent += chunk.length;
              if (!res.write(chunk)) {
                up.pause();
                res.once("drain", () => up.resume());
              }
              return;
            }
            sent += room;
            res.write(chunk.subarray(0, room), () => cut());
            up.pause();
          });
          // A body shorter than the limit is sent whole, and the connection is still cut.
          up.on("end", () => {
            if (!done && sent < limit) cut();
          });
        });
        return;
      }
    }
  }

  function handleOther(req: IncomingMessage, res: ServerResponse) {
    const method = req.method ?? "GET";
    const rawUrl = req.url ?? "/";
    const m = /^\/_redirected\/([0-9a-f]+)(\/.*)$/.exec(rawUrl);
    const upUrl = m ? m[2]! : rawUrl;
    const q = upUrl.indexOf("?");
    const rec: ProxyRequestRecord = {
      method,
      path: q < 0 ? upUrl : upUrl.slice(0, q),
      query: q < 0 ? "" : upUrl.slice(q),
      status: 0,
      authorization: req.headers.authorization !== undefined,
    };
    otherHostRequests.push(rec);
    const auth = m ? redirects.get(m[1]!) : undefined;
    if (!m || auth === undefined) {
      req.resume();
      rec.status = 404;
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("fault proxy: unknown redirect\n");
      return;
    }
    forward(req, res, rec, upUrl, auth, (up, h) => passThrough(up, res, h));
  }

  const server: Server = createServer(handle);
  let connections = 0;
  server.on("connection", () => connections++);
  const other4: Server = createServer(handleOther);
  const other6: Server = createServer(handleOther);
  let port = 0;
  let port2 = 0;
  let have6 = false;
  port = await listen(server, "127.0.0.1");
  // "localhost" may resolve to ::1 first: serve the same port on both families when possible.
  for (let attempt = 0; ; attempt++) {
    port2 = await listen(other4, "127.0.0.1");
    try {
      await listen(other6, "::1", port2);
      have6 = true;
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE" && attempt < 5) {
        await closeServer(other4);
        continue;
      }
      break; // no IPv6 loopback: IPv4 only
    }
  }
  proxyHost = `127.0.0.1:${port}`;
  otherHost = `localhost:${port2}`;

  return {
    host: proxyHost,
    url: `http://${proxyHost}`,
    otherHost,
    requests,
    otherHostRequests,
    get ruleHits() {
      return hits;
    },
    get connections() {
      return connections;
    },
    setRules(r: FaultRule[]) {
      current = r.slice();
      hits = current.map(() => 0);
    },
    async stop() {
      for (const res of stalled) res.destroy();
      await Promise.all([closeServer(server), closeServer(other4), have6 ? closeServer(other6) : Promise.resolve()]);
      agent.destroy();
    },
  };
}

function splitHostPort(hp: string): [string, string] {
  const i = hp.lastIndexOf(":");
  if (i < 0) throw new Error(`upstream must be host:port, got ${hp}`);
  return [hp.slice(0, i), hp.slice(i + 1)];
}
