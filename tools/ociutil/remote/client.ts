/** One Registry per host for the life of a command, so connections and tokens are shared. */
import type { Reference } from "../name/reference.js";
import { defaultCredentialSource, type CredentialSource } from "./credentials.js";
import { Registry, type RemoteRepository } from "./registry.js";
import { DEFAULT_RETRY, type RetryPolicy } from "./transport.js";

export interface ClientOptions {
  /** Plain HTTP for every registry (true) or for these hosts. */
  plainHttp?: boolean | ReadonlySet<string>;
  credentials?: CredentialSource;
  retry?: RetryPolicy;
  /** Requests per second to each registry (unset: unlimited). */
  qps?: number;
}

export class RegistryClient {
  private readonly registries = new Map<string, Registry>();
  private readonly credentials: CredentialSource;

  constructor(private readonly options: ClientOptions = {}) {
    this.credentials = options.credentials ?? defaultCredentialSource();
  }

  registry(host: string): Registry {
    let r = this.registries.get(host);
    if (r === undefined) {
      r = new Registry(host, {
        credentials: this.credentials,
        plainHttp: this.options.plainHttp ?? false,
        retry: this.options.retry ?? DEFAULT_RETRY,
        ...(this.options.qps !== undefined ? { qps: this.options.qps } : {}),
      });
      this.registries.set(host, r);
    }
    return r;
  }

  repository(ref: Pick<Reference, "registry" | "repository">, access: "pull" | "push" = "pull"): RemoteRepository {
    return this.registry(ref.registry).repository(ref.repository, access);
  }

  get retry(): RetryPolicy {
    return this.options.retry ?? DEFAULT_RETRY;
  }
}
