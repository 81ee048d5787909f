/**
 * Authorization for one registry, per distribution's token auth:
 * a request is first sent with whatever we already hold for its scopes; on 401 the challenge says
 * how to authenticate: Basic (send credentials) or Bearer (ask the realm for a token for the scopes).
 * Tokens are cached per scope set, so pulling 20 layers asks the token server once.
 */
import { request } from "./undici.js";
import type { Credential, CredentialSource } from "./credentials.js";
import { MAX_TOKEN_BODY, readCapped } from "./capped-body.js";
import { parseChallenges, type Challenge } from "./challenge.js";
import { isLoopbackRegistry } from "./scheme.js";
import type { RequestGate } from "./ratelimit.js";
import { logAuth, logNetworkError, logRequest, logResponse } from "./request-log.js";
import { agent, describeRequest, header, networkErrorMessage, send, type HttpRequest, type HttpResponse, type RetryPolicy } from "./transport.js";
import { OciError } from "../util/errors.js";
import { USER_AGENT } from "../version.js";

export class AuthError extends OciError {
  override readonly name = "AuthError";
}

/** "repository:NAME:pull" or "repository:NAME:pull,push". */
export function repositoryScope(repository: string, actions: "pull" | "push,pull" | "pull,push"): string {
  return `repository:${repository}:${actions === "pull" ? "pull" : "pull,push"}`;
}

export class Authenticator {
  /** Authorization header per scope set; a promise, so concurrent 401s share one token request. */
  private readonly authorizations = new Map<string, Promise<string | undefined>>();
  private basic: string | undefined;
  private credential: Promise<Credential | undefined> | undefined;

  constructor(
    private readonly registry: string,
    private readonly credentials: CredentialSource,
    private readonly retry: RetryPolicy,
    private readonly gate?: RequestGate,
  ) {}

  /**
   * Sends `req` with authorization for `scopes`, authenticating on a 401 and sending it once more.
   * The returned response may still be 401/403: callers turn it into an error that names the registry.
   */
  async send(req: HttpRequest, scopes: string[]): Promise<HttpResponse> {
    const key = scopeKey(scopes);
    const pending = this.authorizations.get(key);
    const known = pending !== undefined ? await pending.catch(() => undefined) : this.basic;
    const first = await send(withAuthorization(req, known), this.retry, this.gate);
    if (first.status !== 401) return first;
    const challenges = parseChallenges(headerAll(first, "www-authenticate"));
    logAuth(this.registry, `401 for ${scopes.join(" ") || "no scope"}; challenge: ${describeChallenges(challenges)}`);
    await first.body.dump().catch(() => undefined);
    // If another request already renewed authorization for these scopes since we sent ours, use that.
    let renewal = this.authorizations.get(key);
    if (renewal === undefined || renewal === pending) {
      renewal = this.authorize(challenges, scopes, first.url);
      this.authorizations.set(key, renewal);
      renewal.catch(() => this.authorizations.delete(key));
    }
    const authorization = await renewal;
    if (authorization === undefined) {
      throw new AuthError(
        `${this.registry}: 401 Unauthorized and no credentials for it (log in with docker login, or set DOCKER_CONFIG or REGISTRY_AUTH_FILE)`,
      );
    }
    const second = await send(withAuthorization(req, authorization), this.retry, this.gate);
    return second;
  }

  /** The Authorization header value in use for `scopes` (after a request has been sent), if any. */
  async authorizationFor(scopes: string[]): Promise<string | undefined> {
    const pending = this.authorizations.get(scopeKey(scopes));
    return pending !== undefined ? await pending.catch(() => undefined) : this.basic;
  }

  private async credentialFor(): Promise<Credential | undefined> {
    this.credential ??= this.credentials.lookup(this.registry);
    return await this.credential;
  }

  private async authorize(challenges: Challenge[], scopes: string[], challenged: URL): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === "bearer");
    if (bearer !== undefined) {
      return `Bearer ${await this.fetchToken(bearer, scopes, challenged)}`;
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      const cred = await this.credentialFor();
      if (cred === undefined) return undefined;
      if (cred.kind !== "basic") throw new AuthError(`${this.registry} asks for Basic auth but its stored credential is an identity token`);
      logAuth(this.registry, "answering the Basic challenge with the stored username and password");
      this.basic = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
      return this.basic;
    }
    const schemes = challenges.map((c) => c.scheme).join(", ") || "none";
    throw new AuthError(`${this.registry}: 401 Unauthorized with an unsupported challenge (${schemes})`);
  }

  /** `challenged`: the registry URL whose 401 named the realm. */
  private async fetchToken(challenge: Challenge, scopes: string[], challenged: URL): Promise<string> {
    const realm = challenge.params["realm"];
    if (realm === undefined) throw new AuthError(`${this.registry}: Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new AuthError(`${this.registry}: Bearer challenge realm is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new AuthError(`${this.registry}: token realm must be http(s)`);
    const service = challenge.params["service"];
    const cred = await this.credentialFor();
    // A registry spoken to over TLS that names a plain-HTTP realm would have the credentials sent in
    // clear, readable by anyone on the path (go-containerregistry follows such a realm; we do not).
    // On loopback nothing crosses a network, and a test token server there is usually plain HTTP.
    if (cred !== undefined && url.protocol === "http:" && challenged.protocol === "https:" && !isLoopbackRegistry(url.host)) {
      throw new AuthError(`${this.registry}: its token realm ${url.origin} is plain HTTP: refusing to send credentials there unencrypted`);
    }
    const headers: Record<string, string> = { "user-agent": USER_AGENT };
    let method: "GET" | "POST" = "GET";
    let body: string | undefined;
    if (cred?.kind === "identityToken") {
      // OAuth2 refresh-token grant (docker's identitytoken).
      method = "POST";
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: cred.token, client_id: "ociutil" });
      if (service !== undefined) form.set("service", service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      body = form.toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    } else {
      if (service !== undefined) url.searchParams.set("service", service);
      for (const scope of scopes) url.searchParams.append("scope", scope);
      if (cred?.kind === "basic") {
        headers["authorization"] = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
      }
    }
    logAuth(this.registry, `token request for ${scopes.join(" ") || "no scope"} with ${cred === undefined ? "no credentials" : cred.kind === "basic" ? "the stored username and password" : "the stored identity token"}`);
    let res;
    const startedAt = logRequest(method, url, headers);
    try {
      res = await request(url, { method, headers, body: body ?? null, dispatcher: agent() });
      logResponse(method, url, res.statusCode, res.headers, startedAt);
    } catch (err) {
      logNetworkError(method, url, networkErrorMessage(err));
      throw new AuthError(`${describeRequest(method, url)}: token request failed: ${networkErrorMessage(err)}`);
    }
    if (res.statusCode !== 200) await res.body.dump().catch(() => undefined);
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new AuthError(
        `${this.registry}: the token server refused ${cred ? "the stored credentials" : "anonymous access"} for ${scopes.join(" ")} (${res.statusCode})`,
      );
    }
    if (res.statusCode !== 200) throw new AuthError(`${describeRequest(method, url)}: token server answered ${res.statusCode}`);
    let text: string;
    try {
      text = (await readCapped(res.body, MAX_TOKEN_BODY, `${describeRequest(method, url)}: the token response`)).toString("utf8");
    } catch (err) {
      throw new AuthError(err instanceof OciError ? err.message : `${describeRequest(method, url)}: token response: ${networkErrorMessage(err)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AuthError(`${describeRequest(method, url)}: token response is not JSON`);
    }
    const token = (json as { token?: unknown; access_token?: unknown }).token ?? (json as { access_token?: unknown }).access_token;
    if (typeof token !== "string" || token.length === 0) throw new AuthError(`${describeRequest(method, url)}: token response has no token`);
    return token;
  }
}

/** A challenge as --verbose shows it: scheme and parameters (realm, service, scope: nothing secret). */
function describeChallenges(challenges: Challenge[]): string {
  if (challenges.length === 0) return "none";
  return challenges.map((c) => [c.scheme, ...Object.entries(c.params).map(([k, v]) => `${k}="${v}"`)].join(" ")).join(", ");
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(" ");
}

function withAuthorization(req: HttpRequest, authorization: string | undefined): HttpRequest {
  if (authorization === undefined) return req;
  return { ...req, headers: { ...(req.headers ?? {}), authorization } };
}

function headerAll(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v.join(", ") : (v ?? header(res, name));
}
