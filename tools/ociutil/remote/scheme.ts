/**
 * Which scheme to speak to a registry. Docker and go-containerregistry treat a registry on loopback
 * (localhost, 127.0.0.0/8, ::1) as insecure by default: they try HTTPS and fall back to plain HTTP
 * when the server does not speak TLS. We do the same, and only there: a TLS registry on loopback is
 * still used over TLS (a certificate problem is reported, never skipped), and any other host gets
 * plain HTTP only when the user asked for it (--insecure, --plain-http).
 */
import { isTlsSpokenToPlainHttp, send, type RetryPolicy } from "./transport.js";

export type Scheme = "https" | "http";

/** The host part of "host[:port]", "[v6]:port" or "v6". */
function hostname(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(1, registry.indexOf("]"));
  const colons = registry.split(":").length - 1;
  return colons === 1 ? registry.slice(0, registry.indexOf(":")) : registry;
}

export function isLoopbackRegistry(registry: string): boolean {
  const host = hostname(registry).toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Asks `GET /v2/` over HTTPS; if the server answers TLS with plain HTTP, asks again over HTTP. Any
 * other outcome (an answer, a refused connection, an untrusted certificate) keeps HTTPS, so that the
 * real request reports the real problem.
 */
export async function probeLoopbackScheme(apiHost: string, retry: RetryPolicy): Promise<Scheme> {
  const once = { ...retry, attempts: 1 };
  try {
    const res = await send({ method: "GET", url: new URL(`https://${apiHost}/v2/`) }, once);
    await res.body.dump().catch(() => undefined);
    return "https";
  } catch (err) {
    if (!isTlsSpokenToPlainHttp(err)) return "https";
  }
  try {
    const res = await send({ method: "GET", url: new URL(`http://${apiHost}/v2/`) }, once);
    await res.body.dump().catch(() => undefined);
    return "http";
  } catch {
    return "https";
  }
}
