/**
 * When a failed attempt may go to another member, and which failures count against a
 * server. A request is resent only when that cannot do harm: it never reached the origin
 * (the connection failed before undici started it), or its method is idempotent and it
 * failed before any response arrived — and in both cases its body can be sent again.
 * @module
 */
import type { Dispatcher } from 'undici';

const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Error codes of a connection that was never made, or broke under the request: the server's fault or the network's. */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** Whether `error` says the server or the path to it failed (not the caller, not an abort). */
export function isNetworkFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NETWORK_ERROR_CODES.has(code);
}

/** Whether the request may be sent twice: its method is idempotent, or the caller said so. */
export function isIdempotent(options: Dispatcher.DispatchOptions): boolean {
  return options.idempotent ?? IDEMPOTENT_METHODS.has(options.method.toUpperCase());
}

/** Whether the body can be sent again (streams and iterables are consumed by the first try). */
export function isReplayable(body: Dispatcher.DispatchOptions['body']): boolean {
  return body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
}

/** What is known of an attempt when it failed. */
export interface FailedAttempt {
  /** undici started the request on a connection (bytes may have left). */
  readonly started: boolean;
  /** Response headers arrived. */
  readonly responded: boolean;
  readonly error: unknown;
}

/** Whether a failed attempt may be repeated on another member. */
export function mayRetry(options: Dispatcher.DispatchOptions, attempt: FailedAttempt): boolean {
  if (attempt.responded || !isNetworkFailure(attempt.error) || !isReplayable(options.body) || options.upgrade) return false;
  // Nothing was sent: safe whatever the method. Something may have been: only when idempotent.
  return !attempt.started || isIdempotent(options);
}
