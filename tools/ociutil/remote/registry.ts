/**
 * A client for one registry: its scheme (probed on loopback), its credentials and tokens, and the
 * requests sent to it (rate-limited and retried). What a repository holds is read and written
 * through RemoteRepository (repository.ts), which `repository()` returns.
 */
import type { CredentialSource } from "./credentials.js";
import { Authenticator } from "./auth.js";
import { RequestGate } from "./ratelimit.js";
import { RemoteRepository } from "./repository.js";
import { isLoopbackRegistry, probeLoopbackScheme, type Scheme } from "./scheme.js";
import { DEFAULT_RETRY, send, type HttpRequest, type HttpResponse, type RetryPolicy } from "./transport.js";

export { RegistryError } from "./registry-error.js";
export { RemoteRepository, type ManifestHead, type MountResult } from "./repository.js";

export interface RegistryOptions {
  credentials: CredentialSource;
  /** Registries to speak plain HTTP to ("localhost:5000"), or true for every registry. */
  plainHttp: boolean | ReadonlySet<string>;
  retry?: RetryPolicy;
  /** Requests per second to this registry (unset: as fast as the jobs go). */
  qps?: number;
}

export class Registry {
  private scheme: Scheme;
  /** A loopback registry not marked plain: its scheme is probed on the first request. */
  private needsProbe: boolean;
  private probed: Promise<void> | undefined;
  private readonly apiHost: string;
  private readonly retry: RetryPolicy;
  private readonly auth: Authenticator;
  private readonly gate: RequestGate;

  constructor(
    readonly host: string,
    options: RegistryOptions,
  ) {
    const plain = options.plainHttp === true || (options.plainHttp !== false && options.plainHttp.has(host));
    // Docker Hub's API lives on registry-1.docker.io; references and credentials say docker.io.
    this.apiHost = host === "docker.io" ? "registry-1.docker.io" : host;
    this.scheme = plain ? "http" : "https";
    this.needsProbe = !plain && isLoopbackRegistry(host);
    this.retry = options.retry ?? DEFAULT_RETRY;
    // Every request to this registry passes one gate: the --qps pace, and a 429's pause for all.
    this.gate = new RequestGate(options.qps);
    this.auth = new Authenticator(host, options.credentials, this.retry, this.gate);
  }

  /** Settles the scheme: a no-op except before the first request to a loopback registry. */
  private async settleScheme(): Promise<void> {
    if (!this.needsProbe) return;
    this.probed ??= probeLoopbackScheme(this.apiHost, this.retry).then((scheme) => {
      this.scheme = scheme;
      this.needsProbe = false;
    });
    await this.probed;
  }

  /** The API's base URL: https:// unless plain HTTP was asked for or a loopback registry has no TLS. */
  get base(): URL {
    return new URL(`${this.scheme}://${this.apiHost}/`);
  }

  /**
   * Sends a request authorised for `scopes` (see Authenticator.send), if it goes to this registry's
   * own origin. A URL the registry handed out that points elsewhere (an upload Location on object
   * storage) is sent with no credentials at all, as go-containerregistry does: a registry may name
   * any host there, and credentials belong to the registry alone.
   */
  async send(req: HttpRequest, scopes: string[]): Promise<HttpResponse> {
    await this.settleScheme();
    // A URL made before the probe answered still says https.
    if (this.scheme === "http" && req.url.protocol === "https:" && req.url.host === this.apiHost) {
      const url = new URL(req.url);
      url.protocol = "http:";
      req = { ...req, url };
    }
    if (!this.isOwnOrigin(req.url)) return await send(withoutAuthorization(req), this.retry, this.gate);
    return await this.auth.send(req, scopes);
  }

  /** True for a URL on this registry's API origin: its scheme, host and port. */
  isOwnOrigin(url: URL): boolean {
    return url.origin === this.base.origin;
  }

  /** The Authorization header value requests for `scopes` carry (known after a first request). */
  async authorizationFor(scopes: string[]): Promise<string | undefined> {
    return await this.auth.authorizationFor(scopes);
  }

  /** Resolves once the scheme is known (a loopback registry is probed); for callers that report it. */
  async resolvedBase(): Promise<URL> {
    await this.settleScheme();
    return this.base;
  }

  url(path: string): URL {
    return new URL(path, this.base);
  }

  /** A repository; with "push" access every request asks for a push token, so one token serves a whole push. */
  repository(name: string, access: "pull" | "push" = "pull"): RemoteRepository {
    return new RemoteRepository(this, name, access);
  }
}

function withoutAuthorization(req: HttpRequest): HttpRequest {
  if (req.headers === undefined) return req;
  const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => name.toLowerCase() !== "authorization"));
  return { ...req, headers };
}
