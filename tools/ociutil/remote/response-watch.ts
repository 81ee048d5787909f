/**
 * What every response of the registry client goes through, as an undici interceptor on its
 * connection pools (transport.ts):
 * - its body is watched for stalls (stall.ts), and a stalled response is aborted;
 * - a failure after the response has started (a connection dropped mid-body, a stall) reaches the
 *   body's reader as the error `failed` makes (one line naming the request), not as undici's bare
 *   `SocketError: other side closed`. A failure before the response starts is left to the sender,
 *   which retries it and names it (transport.ts `send`).
 */
import { StallWatch } from "./stall.js";
import { WrapHandler, type Dispatcher } from "./undici.js";

type Headers = Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseStart"]>>[2];

export interface ResponseWatchOptions {
  /** True while our side holds every body of this pool back (besides a reader that paused). */
  held?: () => boolean;
  /** The error a body's reader gets for `err`, a failure after the response started. */
  failed: (method: string, url: URL, err: Error) => Error;
}

export function watchResponses(options: ResponseWatchOptions): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => dispatch(opts, new WatchedResponse(opts, WrapHandler.wrap(handler), options));
}

class WatchedResponse implements Dispatcher.DispatchHandler {
  private watch: StallWatch | undefined;

  constructor(
    private readonly opts: Dispatcher.DispatchOptions,
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly options: ResponseWatchOptions,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(...args: Parameters<NonNullable<Dispatcher.DispatchHandler["onRequestUpgrade"]>>): void {
    this.handler.onRequestUpgrade?.(...args);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Headers, message?: string): void {
    if (status >= 200 && this.watch === undefined) {
      const held = this.options.held;
      this.watch = new StallWatch(() => controller.paused || (held?.() ?? false), (err) => controller.abort(err));
    }
    this.handler.onResponseStart?.(controller, status, headers, message);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.watch?.progress(chunk.length);
    this.handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Headers): void {
    this.watch?.stop();
    this.handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    this.watch?.stop();
    const started = this.watch !== undefined;
    const url = new URL(this.opts.path, this.opts.origin);
    this.handler.onResponseError?.(controller, started ? this.options.failed(this.opts.method, url, err) : err);
  }
}
