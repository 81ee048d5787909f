/**
 * HTTP for the registry client, on undici: one connection pool for the process, bounded retries with
 * backoff on 429/5xx and dropped connections, and redirects followed by hand so that an
 * `Authorization` header is never sent to a host other than the registry's (blob GETs are often
 * redirected to object storage with a signed URL).
 */
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { BodySink } from "../util/body-sink.js";
import { OciError } from "../util/errors.js";
import { blobReceiveGate } from "../util/receive-gate.js";
import type { RequestGate } from "./ratelimit.js";
import { logNetworkError, logRequest, logResponse, logRetry } from "./request-log.js";
import { watchResponses } from "./response-watch.js";
import { reusedBufferConnector } from "./reused-read-buffers.js";
import { STALL_ERROR_CODE, stallTimeout, watchedUpload } from "./stall.js";
import { Agent, errors as undiciErrors, request, type Dispatcher } from "./undici.js";
import { USER_AGENT } from "../version.js";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** First backoff; doubles each retry, with jitter, capped at maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest a registry's Retry-After is waited for (a longer one is cut to this). */
  maxRetryAfterMs?: number;
  /**
   * Attempts in all for a request the registry keeps refusing with 429 (default: `attempts`). A
   * quota is counted over a window (Artifact Registry: a minute), so a refusal lasts longer than a
   * dropped connection; with the backoff capped at 5 s, 10 attempts wait about 25 s at most.
   */
  rateLimitedAttempts?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: 60_000, rateLimitedAttempts: 10 };

export type RequestBody = Buffer | Readable | AsyncIterable<Uint8Array> | undefined;

export interface HttpRequest {
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  url: URL;
  headers?: Record<string, string>;
  /** Called once per attempt so that a retried upload sends its bytes again from the start. */
  body?: () => RequestBody | Promise<RequestBody>;
  /**
   * May this request be sent again after a 429/5xx or a dropped connection? Default: GET and HEAD
   * only. Upload PATCH/PUT are not: a resent chunk may be appended twice, so callers retry a failed
   * upload as a whole, in a new session.
   */
  idempotent?: boolean;
  /**
   * Where a 200 response's body goes, as it arrives (GET only). The response then resolves with an
   * empty body as soon as its headers are in; the sink hears of the end, or of a failure, later.
   * Such requests use sockets that reuse their read buffers (reused-read-buffers.ts).
   */
  sink?: BodySink;
}

/** A response body to read (small ones: manifests, error documents) or to throw away. */
export type ResponseBody = Readable & { dump(): Promise<unknown> };

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
  /** The URL that answered, after redirects. */
  url: URL;
}

export class HttpError extends OciError {
  override readonly name = "HttpError";
}

/**
 * A response's headers must arrive within headersTimeout of the request (a registry may take a while
 * to answer the PUT that ends a large upload); its body is held to the stall rule (stall.ts).
 */
const POOL_OPTIONS = { connections: 32, keepAliveTimeout: 30_000, headersTimeout: 60_000, bodyTimeout: 120_000 };
/** The TCP connection and TLS handshake, together, must take less than the stall timeout. */
const connectOptions = () => ({ timeout: stallTimeout() });

/** A failure after a response started, named for the body's reader (response-watch.ts). */
function bodyFailed(method: string, url: URL, err: Error): Error {
  if (err instanceof OciError) return err;
  return new HttpError(`${describeRequest(method, url)}: ${networkErrorMessage(err)}`, { cause: err });
}

let sharedAgent: Dispatcher | undefined;
export function agent(): Dispatcher {
  sharedAgent ??= new Agent({ ...POOL_OPTIONS, connect: connectOptions() }).compose(watchResponses({ failed: bodyFailed }));
  return sharedAgent;
}

/**
 * Connections for requests with a body sink only: their sockets reuse read buffers. While the
 * receive gate is closed, their bodies are held back by us, not stalled by the registry.
 */
let sharedSinkAgent: Dispatcher | undefined;
function sinkAgent(): Dispatcher {
  sharedSinkAgent ??= new Agent({ ...POOL_OPTIONS, connect: reusedBufferConnector(connectOptions(), blobReceiveGate) }).compose(
    watchResponses({ failed: bodyFailed, held: () => blobReceiveGate.closed }),
  );
  return sharedSinkAgent;
}

export function header(res: Pick<HttpResponse, "headers">, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  STALL_ERROR_CODE,
]);

/** An error and the causes under it (undici and Node nest the real one), four deep at most. */
function* causeChain(err: unknown): Generator<{ error: unknown; code: string | undefined; message: string | undefined }> {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    yield { error: e, code: typeof code === "string" ? code : undefined, message: typeof message === "string" ? message : undefined };
    e = (e as { cause?: unknown }).cause;
  }
}

/** True for failures a later attempt may not see: dropped or refused connections, timeouts. */
export function isTransientNetworkError(err: unknown): boolean {
  for (const { error, code } of causeChain(err)) {
    if ((code !== undefined && RETRYABLE_CODES.has(code)) || error instanceof undiciErrors.SocketError) return true;
  }
  return false;
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfter?: string): number {
  const asked = retryAfterMs(retryAfter);
  if (asked !== undefined) return Math.min(asked, policy.maxRetryAfterMs ?? policy.maxDelayMs);
  const exp = Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
  return exp / 2 + Math.random() * (exp / 2);
}

/** Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/^[A-Za-z]{3}, /.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** Human name of a request for error lines: method and URL without its query (which may hold state or signatures). */
export function describeRequest(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}`;
}

/**
 * Sends one request, following redirects (at most 5). `Authorization` goes only to the origin of the
 * first URL. Retries transient failures; returns the last response otherwise (callers check status).
 */
export async function send(req: HttpRequest, retryPolicy: RetryPolicy = DEFAULT_RETRY, gate?: RequestGate): Promise<HttpResponse> {
  const idempotent = req.idempotent ?? (req.method === "GET" || req.method === "HEAD");
  for (let attempt = 0; ; attempt++) {
    // A request that is not idempotent is sent again only after a 429: the registry refused it unread.
    const mayRetry = attempt + 1 < retryPolicy.attempts;
    await gate?.acquire();
    let res: HttpResponse;
    try {
      res = await sendFollowingRedirects(req);
    } catch (err) {
      logNetworkError(req.method, req.url, networkErrorMessage(err));
      if (idempotent && mayRetry && isTransientNetworkError(err)) {
        const delay = backoffDelay(retryPolicy, attempt);
        logRetry(req.method, req.url, "a network error", delay, attempt + 2, retryPolicy.attempts);
        await sleep(delay);
        continue;
      }
      // An upload body that failed at its source (a blob streamed from another registry) says so itself.
      if (err instanceof OciError) throw err;
      throw new HttpError(`${describeRequest(req.method, req.url)}: ${networkErrorMessage(err)}${certificateHint(err)}`, { cause: err });
    }
    const mayRetryRefusal = attempt + 1 < Math.max(retryPolicy.attempts, retryPolicy.rateLimitedAttempts ?? 0);
    if ((res.status === 429 && mayRetryRefusal) || (mayRetry && idempotent && isRetryableStatus(res.status))) {
      await res.body.dump().catch(() => undefined);
      const delay = backoffDelay(retryPolicy, attempt, header(res, "retry-after"));
      logRetry(req.method, req.url, `status ${res.status}`, delay, attempt + 2, res.status === 429 ? Math.max(retryPolicy.attempts, retryPolicy.rateLimitedAttempts ?? 0) : retryPolicy.attempts);
      if (res.status === 429 && gate !== undefined) gate.pause(delay); // the next acquire() waits it out
      else await sleep(delay);
      continue;
    }
    return res;
  }
}

async function sendFollowingRedirects(req: HttpRequest): Promise<HttpResponse> {
  let url = req.url;
  let method = req.method;
  const origin = req.url.origin;
  for (let hop = 0; hop <= 5; hop++) {
    const headers: Record<string, string> = { "user-agent": USER_AGENT, ...(req.headers ?? {}) };
    if (url.origin !== origin) {
      delete headers["authorization"];
      delete headers["Authorization"];
    }
    let res: HttpResponse;
    const startedAt = logRequest(method, url, headers);
    if (req.sink !== undefined && method === "GET") {
      res = await receiveIntoSink(url, headers, req.sink);
    } else {
      const body = hop === 0 && req.body ? await req.body() : undefined;
      // A streamed upload is held to the stall rule; a Buffer is written at once, then headersTimeout applies.
      const upload = body !== undefined && !Buffer.isBuffer(body) ? watchedUpload(body) : undefined;
      const answer = await request(url, {
        method,
        headers,
        // undici sends any async iterable (its docs and client-h1's writeIterable); its types list only Readable.
        body: (upload?.body ?? body ?? null) as Buffer | Readable | null,
        ...(upload !== undefined ? { signal: upload.signal } : {}),
        // undici closes the connection after every HEAD (in case a server sends a body anyway) unless
        // told not to; registries answer HEAD with Content-Length and no body, and a plan or a push
        // makes thousands of HEADs, so each would otherwise pay a new connection (and TLS handshake).
        ...(method === "HEAD" ? { reset: false } : {}),
        dispatcher: agent(),
      }).finally(() => upload?.stop());
      res = { status: answer.statusCode, headers: answer.headers, body: answer.body, url };
    }
    logResponse(method, url, res.status, res.headers, startedAt);
    const location = res.headers["location"];
    if ([301, 302, 303, 307, 308].includes(res.status) && typeof location === "string" && (method === "GET" || method === "HEAD")) {
      await res.body.dump().catch(() => undefined);
      url = new URL(location, url);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new HttpError(`redirect to unsupported URL scheme ${url.protocol}`);
      if (res.status === 303) method = "GET";
      continue;
    }
    return res;
  }
  throw new HttpError(`${describeRequest(req.method, req.url)}: more than 5 redirects`);
}

/** Error documents are small; of a body that is not going to a sink, keep at most this much. */
const MAX_KEPT_BODY = 64 << 10;

/**
 * A body read off a sink socket that is not going to the sink (an error, a redirect): copied as it
 * arrives, because those sockets reuse their read buffers. It ends at MAX_KEPT_BODY bytes: the rest
 * is not read (an error document that never ends must not keep the command waiting).
 */
class CopiedBody extends Readable {
  private kept = 0;
  ended = false;

  static empty(): CopiedBody {
    const body = new CopiedBody();
    body.end();
    return body;
  }

  override _read(): void {}

  /** Keeps a copy of `chunk`; false once the body is full and has ended. */
  add(chunk: Uint8Array): boolean {
    const room = MAX_KEPT_BODY - this.kept;
    const copy = Buffer.from(chunk.subarray(0, room)); // Buffer.from(Uint8Array) copies
    this.kept += copy.length;
    this.push(copy);
    if (this.kept < MAX_KEPT_BODY) return true;
    this.end();
    return false;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.push(null);
  }

  async dump(): Promise<void> {
    this.resume();
    await finished(this).catch(() => undefined);
  }
}

/**
 * GET `url`; a 200 body goes to `sink` chunk by chunk, any other status resolves with a copied body.
 * The handler copies in `onResponseData` and never pauses, as reused-read-buffers.ts requires.
 */
function receiveIntoSink(url: URL, headers: Record<string, string>, sink: BodySink): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let toSink = false;
    let copied: CopiedBody | undefined;
    sinkAgent().dispatch(
      { origin: url.origin, path: `${url.pathname}${url.search}`, method: "GET", headers },
      {
        onRequestStart() {}, // its presence tells undici this handler uses the controller API
        onResponseStart(_controller, status, responseHeaders) {
          if (status < 200) return; // informational: the real answer follows
          toSink = status === 200;
          copied = toSink ? CopiedBody.empty() : new CopiedBody();
          resolve({ status, headers: responseHeaders, body: copied, url });
        },
        onResponseData(controller, chunk) {
          if (!toSink) {
            if (copied?.add(chunk) === false) controller.abort(new Error("the rest of the body is not read"));
            return;
          }
          try {
            sink.write(chunk);
          } catch (err) {
            controller.abort(err instanceof Error ? err : new Error(String(err)));
          }
        },
        onResponseEnd() {
          if (toSink) sink.end();
          else copied?.end();
        },
        onResponseError(_controller, err) {
          if (toSink) sink.fail(err);
          else if (copied !== undefined) {
            if (!copied.ended) copied.destroy(err);
          } else reject(err);
        },
      },
    );
  });
}

/** OpenSSL's codes for a TLS handshake that a plain-HTTP server answered (with an HTTP error page). */
const PLAIN_HTTP_ANSWER_CODES = new Set(["ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_PACKET_LENGTH_TOO_LONG", "ERR_SSL_HTTP_REQUEST"]);

/** True when TLS was spoken to a server that speaks plain HTTP. */
export function isTlsSpokenToPlainHttp(err: unknown): boolean {
  for (const { code } of causeChain(err)) {
    if (code !== undefined && PLAIN_HTTP_ANSWER_CODES.has(code)) return true;
  }
  return false;
}

/** OpenSSL's codes for a certificate Node does not trust (not for an expired or misnamed one). */
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
]);

/** For a registry whose certificate comes from a private CA: how to trust it (never how to skip the check). */
function certificateHint(err: unknown): string {
  for (const { code } of causeChain(err)) {
    if (code !== undefined && UNTRUSTED_CERTIFICATE_CODES.has(code)) return " (to trust a private CA, set NODE_EXTRA_CA_CERTS to its PEM file)";
  }
  return "";
}

export function networkErrorMessage(err: unknown): string {
  const parts: string[] = [];
  for (const { code, message } of causeChain(err)) {
    if (message !== undefined && message.length > 0 && !parts.includes(message)) parts.push(message);
    else if (code !== undefined) parts.push(code);
  }
  return parts.length > 0 ? parts.join(": ") : String(err);
}
