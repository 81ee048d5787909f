/**
 * A minimal token server for distribution's `auth.token` (the Docker registry token protocol), so the
 * tests exercise a real registry doing Bearer auth.
 *
 * Policy (what a private registry does):
 * - Basic auth with the test user: every requested action is granted.
 * - Wrong credentials: 401.
 * - No Authorization header: 401 for any scope, unless `anonymousPull` is set, in which case a token
 *   granting only `pull` is issued for pull-only requests (a "public" registry); any other action
 *   requested anonymously still gets 401.
 * GET /token?service=S&scope=A&scope=B (scopes may also be space-separated in one parameter) and the
 * OAuth2 form POST /token (grant_type=password with username/password, or grant_type=refresh_token)
 * are both served. Every request is recorded in `requests` so tests can assert token reuse.
 *
 * The JWT is RS256 and carries the signing certificate in `x5c`; the registry trusts it because the
 * same self-signed certificate (made with `openssl` at start) is its `rootcertbundle`.
 */
import { createHash, createPrivateKey, randomBytes, sign, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { mustRun, peer } from "./peers.js";
import { closeServer, listen } from "./util.js";

export interface TokenRequestRecord {
  method: "GET" | "POST";
  service: string | null;
  /** Scopes as sent, one per entry (`repository:name:pull,push`). */
  scopes: string[];
  /** Whether an Authorization header was sent (GET) or credentials/refresh token were in the form (POST). */
  authorization: boolean;
  grantType?: string;
  status: number;
  /** For tests: Date.now() when it arrived. */
  at: number;
}

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenServer {
  /** e.g. http://127.0.0.1:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  /** PEM path of the self-signed certificate the registry must trust. */
  certPath: string;
  requests: TokenRequestRecord[];
  /** Every token issued, decoded (claims), in order. */
  issued: Array<{ sub: string; access: AccessEntry[]; exp: number }>;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  dir: string;
  username: string;
  password: string;
  service?: string;
  issuer?: string;
  /** Seconds. Distribution accepts a token for 60 s past `exp` (leeway). Default 300. */
  expiresIn?: number;
  anonymousPull?: boolean;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export function parseScope(s: string): AccessEntry | null {
  const first = s.indexOf(":");
  const last = s.lastIndexOf(":");
  if (first < 0 || last <= first) return null;
  return {
    type: s.slice(0, first),
    name: s.slice(first + 1, last),
    actions: s
      .slice(last + 1)
      .split(",")
      .filter((a) => a !== ""),
  };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const service = opts.service ?? "ociutil-test-registry";
  const issuer = opts.issuer ?? "ociutil-test-token-issuer";
  const expiresIn = opts.expiresIn ?? 300;
  const keyPath = join(opts.dir, "token-key.pem");
  const certPath = join(opts.dir, "token-cert.pem");
  await mustRun(peer("openssl"), [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
    "-subj", "/CN=ociutil test token issuer",
    "-keyout", keyPath, "-out", certPath,
  ]);
  const key: KeyObject = createPrivateKey(await readFile(keyPath));
  const certPem = await readFile(certPath, "utf8");
  const certDer = Buffer.from(
    certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, ""),
    "base64",
  );
  const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [certDer.toString("base64")] }));

  const requests: TokenRequestRecord[] = [];
  const issued: TokenServer["issued"] = [];
  const refreshTokens = new Map<string, string>(); // refresh token -> subject

  function makeToken(sub: string, access: AccessEntry[]): string {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer,
      sub,
      aud: service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString("hex"),
      access,
    };
    issued.push({ sub, access, exp: claims.exp });
    const input = `${header}.${b64url(JSON.stringify(claims))}`;
    const sig = sign("sha256", Buffer.from(input), key);
    return `${input}.${b64url(sig)}`;
  }

  function checkBasic(h: string | undefined): "none" | "ok" | "bad" {
    if (!h) return "none";
    const m = /^Basic\s+(.+)$/i.exec(h.trim());
    if (!m) return "bad";
    const dec = Buffer.from(m[1]!, "base64").toString("utf8");
    return dec === `${opts.username}:${opts.password}` ? "ok" : "bad";
  }

  /** Returns the access to grant, or null for 401. */
  function decide(who: "none" | "ok" | "bad", scopes: string[]): AccessEntry[] | null {
    const parsed = scopes.map(parseScope).filter((a): a is AccessEntry => a !== null);
    if (who === "bad") return null;
    if (who === "ok") return parsed;
    if (!opts.anonymousPull) return null;
    if (parsed.some((a) => a.actions.some((x) => x !== "pull"))) return null;
    return parsed;
  }

  function send(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) {
    const data = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data), ...extra });
    res.end(data);
  }

  function unauthorized(res: ServerResponse) {
    send(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }, {
      "WWW-Authenticate": 'Basic realm="ociutil test token server"',
    });
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }

  const splitScopes = (vals: string[]) => vals.flatMap((v) => v.split(" ")).filter((s) => s !== "");

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname !== "/token") {
        send(res, 404, { error: "not found" });
        return;
      }
      if (req.method === "GET") {
        const scopes = splitScopes(url.searchParams.getAll("scope"));
        const rec: TokenRequestRecord = {
          method: "GET",
          service: url.searchParams.get("service"),
          scopes,
          authorization: req.headers.authorization !== undefined,
          status: 0,
          at: Date.now(),
        };
        requests.push(rec);
        const who = checkBasic(req.headers.authorization);
        const access = decide(who, scopes);
        if (access === null) {
          rec.status = 401;
          unauthorized(res);
          return;
        }
        const sub = who === "ok" ? opts.username : "";
        const token = makeToken(sub, access);
        const body: Record<string, unknown> = {
          token,
          access_token: token,
          expires_in: expiresIn,
          issued_at: new Date().toISOString(),
        };
        if (who === "ok" && url.searchParams.get("offline_token") === "true") {
          const rt = randomBytes(16).toString("hex");
          refreshTokens.set(rt, sub);
          body["refresh_token"] = rt;
        }
        rec.status = 200;
        send(res, 200, body);
        return;
      }
      if (req.method === "POST") {
        const form = new URLSearchParams(await readBody(req));
        const grantType = form.get("grant_type") ?? "";
        const scopes = splitScopes(form.getAll("scope"));
        const rec: TokenRequestRecord = {
          method: "POST",
          service: form.get("service"),
          scopes,
          authorization: form.has("password") || form.has("refresh_token") || req.headers.authorization !== undefined,
          grantType,
          status: 0,
          at: Date.now(),
        };
        requests.push(rec);
        let who: "none" | "ok" | "bad" = "none";
        let refreshOut: string | undefined;
        if (grantType === "password") {
          who = form.get("username") === opts.username && form.get("password") === opts.password ? "ok" : "bad";
          if (who === "ok" && form.get("access_type") === "offline") {
            refreshOut = randomBytes(16).toString("hex");
            refreshTokens.set(refreshOut, opts.username);
          }
        } else if (grantType === "refresh_token") {
          const rt = form.get("refresh_token") ?? "";
          who = refreshTokens.has(rt) ? "ok" : "bad";
          if (who === "ok") refreshOut = rt;
        } else {
          rec.status = 400;
          send(res, 400, { error: "unsupported_grant_type" });
          return;
        }
        const access = decide(who, scopes);
        if (access === null) {
          rec.status = 401;
          send(res, 401, { error: "invalid_grant" });
          return;
        }
        const token = makeToken(who === "ok" ? opts.username : "", access);
        rec.status = 200;
        send(res, 200, {
          access_token: token,
          expires_in: expiresIn,
          issued_at: new Date().toISOString(),
          scope: scopes.join(" "),
          ...(refreshOut ? { refresh_token: refreshOut } : {}),
        });
        return;
      }
      send(res, 405, { error: "method not allowed" });
    })().catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { error: String(e) });
      else res.destroy();
    });
  });
  const port = await listen(server, "127.0.0.1");
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    requests,
    issued,
    stop: () => closeServer(server),
  };
}

/** Decodes a JWT's claims without verifying it (for assertions in tests). */
export function decodeJwtClaims(jwt: string): Record<string, unknown> {
  const part = jwt.split(".")[1];
  if (!part) throw new Error("not a JWT");
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** sha256 hex of a string (used for unique names). */
export const sha256hex = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
