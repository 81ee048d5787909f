/** Retrying a whole blob transfer: the stream can fail mid-way (dropped connection, bad bytes). */
import { setTimeout as sleep } from "node:timers/promises";
import { AuthError } from "../remote/auth.js";
import { RegistryError } from "../remote/registry.js";
import { logTransferRetry } from "../remote/request-log.js";
import { backoffDelay, networkErrorMessage, type RetryPolicy } from "../remote/transport.js";
import { LayoutError } from "../layout/layout.js";

/** Client errors (404, 401, 403, bad credentials, a broken layout) won't change on a retry. */
function isPermanent(err: unknown): boolean {
  if (err instanceof AuthError || err instanceof LayoutError) return true;
  if (err instanceof RegistryError && err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 429 && err.status !== 408) {
    return true;
  }
  return false;
}

export async function withRetries<T>(policy: RetryPolicy, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (isPermanent(err) || attempt + 1 >= policy.attempts) throw err;
      const delay = backoffDelay(policy, attempt);
      logTransferRetry(networkErrorMessage(err), delay, attempt + 2, policy.attempts);
      await sleep(delay);
    }
  }
}
