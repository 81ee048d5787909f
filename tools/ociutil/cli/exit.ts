/**
 * How a command ends the process. Run as its own process, ociutil exits. Run as a request of the
 * persistent worker (worker/), the same call ends only that request: `exit` throws an `ExitRequest`
 * that the worker turns into the request's exit code, and the process serves the next request.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** One request of the persistent worker: where its stdout and stderr go. */
export interface RequestScope {
  output: string[];
}

/** The request the running code belongs to, across awaits and callbacks; none in a one-shot run. */
export const requestScope = new AsyncLocalStorage<RequestScope>();

/** Thrown by `exit` inside a worker request; never caught by anything but the worker. */
export class ExitRequest {
  constructor(readonly code: number) {}
}

export function exit(code: number): never {
  if (requestScope.getStore() !== undefined) throw new ExitRequest(code);
  process.exit(code);
}
