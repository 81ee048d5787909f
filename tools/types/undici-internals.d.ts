// undici's internal modules, imported by tools/ociutil/remote/undici.ts, ship no type declarations;
// each is declared here with the type undici's public API gives the same object.
declare module "undici/lib/dispatcher/agent.js" {
  import type { Agent } from "undici";
  const AgentClass: typeof Agent;
  export default AgentClass;
}
declare module "undici/lib/api/api-request.js" {
  import type { Dispatcher } from "undici";
  /** Called with the dispatcher as `this`, as undici's index does. */
  function request(this: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  export default request;
}
declare module "undici/lib/core/errors.js" {
  import type { errors } from "undici";
  const undiciErrors: typeof errors;
  export default undiciErrors;
}
declare module "undici/lib/core/connect.js" {
  import type { buildConnector } from "undici";
  const build: typeof buildConnector;
  export default build;
}
declare module "undici/lib/handler/wrap-handler.js" {
  import type { Dispatcher } from "undici";
  /** Gives a handler written for undici's older callbacks (onHeaders, onData...) the controller API. */
  const WrapHandler: { wrap(handler: Dispatcher.DispatchHandler): Dispatcher.DispatchHandler };
  export default WrapHandler;
}
