/**
 * undici 7's `request`, `stream` and `fetch` still hand dispatchers the deprecated
 * callback handler (`onConnect`, `onHeaders`, `onData`, `onComplete`, `onError`); the
 * dispatcher speaks the controller API (`onRequestStart` …), which undici 7 and 8 accept.
 * This adapter lets one code path serve both kinds of caller.
 * @module
 */
import type { Dispatcher } from 'undici';

type Handler = Dispatcher.DispatchHandler;
type Controller = Dispatcher.DispatchController;
type Headers = Parameters<NonNullable<Handler['onResponseStart']>>[2];

/** `handler` itself when it has the controller API, else an adapter to its callbacks. */
export function controllerHandler(handler: Handler): Handler {
  return typeof handler.onRequestStart === 'function' ? handler : new LegacyHandlerAdapter(handler);
}

class LegacyHandlerAdapter implements Handler {
  constructor(private readonly legacy: Handler) {}

  onRequestStart(controller: Controller, context: unknown): void {
    // undici passes the request context as a second argument its types leave out.
    const legacy = this.legacy as { onConnect?(abort: (reason?: Error) => void, context: unknown): void };
    legacy.onConnect?.((reason) => controller.abort(reason ?? new Error('Request aborted')), context);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: Headers, socket: Parameters<NonNullable<Handler['onRequestUpgrade']>>[3]): void {
    this.legacy.onUpgrade?.(statusCode, rawPairs(controller.rawHeaders, headers), socket);
  }

  onResponseStarted(): void {
    this.legacy.onResponseStarted?.();
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Headers, statusMessage?: string): void {
    const resume = (): void => controller.resume();
    if (this.legacy.onHeaders?.(statusCode, rawPairs(controller.rawHeaders, headers), resume, statusMessage ?? '') === false) controller.pause();
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.legacy.onData?.(chunk) === false) controller.pause();
  }

  onResponseEnd(controller: Controller, trailers: Headers): void {
    this.legacy.onComplete?.(rawPairs(controller.rawTrailers, trailers).map(String));
  }

  onResponseError(_controller: Controller | undefined, error: Error): void {
    // A legacy handler without onError cannot be told; undici throws in that case too.
    if (this.legacy.onError === undefined) throw error;
    this.legacy.onError(error);
  }
}

/** The raw `[name, value, …]` Buffers the legacy callbacks expect (undici's own when it kept them). */
function rawPairs(raw: Controller['rawHeaders'], parsed: Headers): Buffer[] {
  if (Array.isArray(raw)) return raw.map((item: Buffer | string) => (typeof item === 'string' ? Buffer.from(item, 'latin1') : item));
  const pairs: Buffer[] = [];
  for (const [name, value] of Object.entries(parsed ?? {})) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) pairs.push(Buffer.from(name, 'latin1'), Buffer.from(String(item), 'latin1'));
  }
  return pairs;
}
