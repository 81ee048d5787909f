/**
 * --verbose: one stderr line per HTTP request and response, retry and auth step, so a user can see
 * what a registry was asked. Nothing secret is written: no header is ever logged (Authorization,
 * cookies), URLs lose their user info, and query values are kept only for the parameters the
 * distribution API and token auth define (digest, mount, from, n, last, service, scope); any other
 * value (an upload session's state, a signed URL's signature) is replaced by REDACTED.
 */
import { writeStderrLine } from "../util/live-stderr.js";

let enabled = false;

export function enableRequestLog(on = true): void {
  enabled = on;
}

export function requestLogEnabled(): boolean {
  return enabled;
}

const SHOWN_QUERY_PARAMS = new Set(["digest", "mount", "from", "n", "last", "service", "scope", "artifacttype", "tag"]);

/** The URL as it may be shown: no user info, and only harmless query values. */
export function redactUrl(url: URL): string {
  let query = "";
  if (url.search !== "") {
    const parts: string[] = [];
    for (const [name, value] of url.searchParams) {
      parts.push(`${encodeURIComponent(name)}=${SHOWN_QUERY_PARAMS.has(name.toLowerCase()) ? encodeURIComponent(value) : "REDACTED"}`);
    }
    query = `?${parts.join("&")}`;
  }
  return `${url.protocol}//${url.host}${url.pathname}${query}`;
}

/** A request is about to be sent; returns the time it started, for `logResponse`. */
export function logRequest(method: string, url: URL, headers: Record<string, string>): number {
  const length = headers["content-length"] ?? headers["Content-Length"];
  if (enabled) writeStderrLine(`> ${method} ${redactUrl(url)}${length !== undefined ? ` (${length} bytes)` : ""}`);
  return enabled ? performance.now() : 0;
}

export function logResponse(method: string, url: URL, status: number, headers: Record<string, string | string[] | undefined>, startedAt: number): void {
  if (!enabled) return;
  const length = headers["content-length"];
  const bytes = typeof length === "string" ? `${length} bytes` : "unknown length";
  writeStderrLine(`< ${status} ${method} ${redactUrl(url)} (${bytes}, ${elapsed(startedAt)})`);
}

export function logNetworkError(method: string, url: URL, message: string): void {
  if (enabled) writeStderrLine(`< ${method} ${redactUrl(url)} failed: ${oneLine(message)}`);
}

/** A request will be sent again after `delayMs`: why, and which attempt comes next. */
export function logRetry(method: string, url: URL, why: string, delayMs: number, nextAttempt: number, attempts: number): void {
  if (enabled) writeStderrLine(`retry ${method} ${redactUrl(url)} after ${why}: waiting ${Math.round(delayMs)} ms (attempt ${nextAttempt} of ${attempts})`);
}

/** A whole blob transfer will be tried again (it failed part way): the failure, as an error line says it. */
export function logTransferRetry(why: string, delayMs: number, nextAttempt: number, attempts: number): void {
  if (enabled) writeStderrLine(`retry after ${oneLine(why)}: waiting ${Math.round(delayMs)} ms (attempt ${nextAttempt} of ${attempts})`);
}

/** An authentication step for `registry`: challenge, token request, which credential kind is used. */
export function logAuth(registry: string, step: string): void {
  if (enabled) writeStderrLine(`auth ${registry}: ${step}`);
}

/** OpenSSL's messages end in a newline; every log entry is one line. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}

function elapsed(startedAt: number): string {
  return `${Math.round(performance.now() - startedAt)} ms`;
}
