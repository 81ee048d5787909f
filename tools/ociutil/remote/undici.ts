/**
 * The parts of undici the registry client uses, imported from undici's own modules rather than its
 * package index. The index also loads fetch, WebSocket, caches, mocks and proxies, and through them
 * http2, perf_hooks and web streams: several times the modules, about 40 ms and 9 MB at every start
 * of a tool that Bazel runs once per action. The bundle pins undici's version, so these paths are
 * resolved at build time; tools/types/undici-internals.d.ts gives them undici's public types.
 */
import AgentClass from "undici/lib/dispatcher/agent.js";
import requestOnDispatcher from "undici/lib/api/api-request.js";
import errors from "undici/lib/core/errors.js";
import buildConnector from "undici/lib/core/connect.js";
import WrapHandler from "undici/lib/handler/wrap-handler.js";
import type { Agent as UndiciAgent, Dispatcher } from "undici";

export const Agent = AgentClass;
export type Agent = UndiciAgent;
export { buildConnector, errors, WrapHandler };
export type { Dispatcher };

export type RequestOptions = Omit<Dispatcher.RequestOptions, "origin" | "path"> & { dispatcher: Dispatcher };

/** undici's `request(url, options)` as its index builds it: the API function, called on the dispatcher. */
export function request(url: URL, options: RequestOptions): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  return requestOnDispatcher.call(dispatcher, { ...rest, origin: url.origin, path: `${url.pathname}${url.search}` });
}
