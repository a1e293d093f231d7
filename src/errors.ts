/**
 * Every error the library creates carries a stable `code`, so callers can branch on
 * `err.code` instead of parsing messages. Causes are passed with `{ cause }`.
 * @module
 */

/** Stable error codes used by {@link HeartMonitorError} and its subclasses. */
export type HeartMonitorErrorCode =
  | 'HM_LISTEN_FAILED'
  | 'HM_NOT_CONFIGURED'
  | 'HM_SOCKET_ERROR'
  | 'HM_STORE_FULL'
  | 'HM_STORE_ERROR'
  | 'HM_LISTENER_ERROR'
  | 'HM_STATUS_FAILED'
  | 'HM_SEND_FAILED'
  | 'HM_NO_MEMBER';

/** Base class of the runtime errors the library emits or rejects with. */
export class HeartMonitorError extends Error {
  /** Stable machine-readable code. */
  readonly code: HeartMonitorErrorCode;

  /**
   * @param message - human-readable description
   * @param code - stable code
   * @param options - standard error options (`cause`)
   */
  constructor(message: string, code: HeartMonitorErrorCode, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** `listen()` could not bind the socket or join the multicast group. */
export class ListenError extends HeartMonitorError {
  /** The `listen` address that failed, as given. */
  readonly address: string;

  /**
   * @param address - the `addr:port` that failed
   * @param cause - the underlying system error
   */
  constructor(address: string, cause: unknown, action = 'listen on') {
    super(`Cannot ${action} ${address}: ${describeCause(cause)}`, 'HM_LISTEN_FAILED', { cause });
    this.address = address;
  }
}

/** `listen()` was called on a monitor constructed without a `listen` address. */
export class NotConfiguredError extends HeartMonitorError {
  constructor() {
    super(
      'This monitor has no `listen` address: pass `listen: "addr:port"` to the constructor, or feed it with ingest() / httpHandler()',
      'HM_NOT_CONFIGURED',
    );
  }
}

/** The socket reported an error after it was bound. */
export class SocketError extends HeartMonitorError {
  /** @param cause - the error the socket emitted */
  constructor(cause: unknown) {
    super(`Heartbeat socket error: ${describeCause(cause)}`, 'HM_SOCKET_ERROR', { cause });
  }
}

/** A heartbeat from a new server was dropped because every place in the store is taken. */
export class StoreFullError extends HeartMonitorError {
  /** Capacity of the store (its `maxServers`). */
  readonly maxServers: number;
  /** Servers dropped since the previous report (at least 1). */
  readonly dropped: number;
  /** Address of the most recently dropped server. */
  readonly lastDropped: string;

  /**
   * @param maxServers - store capacity
   * @param dropped - drops since the last report
   * @param lastDropped - most recent dropped server key
   */
  constructor(maxServers: number, dropped: number, lastDropped: string) {
    const what =
      dropped === 1 ? `dropped the heartbeat of new server ${lastDropped}` : `dropped ${dropped} heartbeats of new servers (last: ${lastDropped})`;
    super(`Store is full (maxServers ${maxServers}): ${what}`, 'HM_STORE_FULL');
    this.maxServers = maxServers;
    this.dropped = dropped;
    this.lastDropped = lastDropped;
  }
}

/** A store failed to write or read its backing medium (file, shared memory). */
export class StoreError extends HeartMonitorError {
  /** File path involved, when there is one. */
  readonly path: string | undefined;

  /**
   * @param message - what failed
   * @param options - `cause` and the `path` involved
   */
  constructor(message: string, options: { cause?: unknown; path?: string } = {}) {
    super(options.cause === undefined ? message : `${message}: ${describeCause(options.cause)}`, 'HM_STORE_ERROR', { cause: options.cause });
    this.path = options.path;
  }
}

/** A user's event listener threw; the monitor caught it and kept running. */
export class ListenerError extends HeartMonitorError {
  /** The event whose listener threw. */
  readonly event: string;

  /**
   * @param event - event name
   * @param cause - what the listener threw
   */
  constructor(event: string, cause: unknown) {
    super(`A listener for "${event}" threw: ${describeCause(cause)}`, 'HM_LISTENER_ERROR', { cause });
    this.event = event;
  }
}

/** A {@link HeartbeatSender} skipped a beat: `status()` failed or a datagram could not be sent. */
export class SenderError extends HeartMonitorError {
  /**
   * @param message - what failed
   * @param code - `HM_STATUS_FAILED` (status() threw, rejected or returned bad counts) or `HM_SEND_FAILED`
   * @param cause - the underlying error, when there is one
   */
  constructor(message: string, code: 'HM_STATUS_FAILED' | 'HM_SEND_FAILED', cause?: unknown) {
    super(cause === undefined ? message : `${message}: ${describeCause(cause)}`, code, cause === undefined ? undefined : { cause });
  }
}

/** Short text for an unknown thrown value, preferring Node's `code` (EADDRINUSE…). */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code !== undefined && !cause.message.includes(code) ? `${code} ${cause.message}` : cause.message;
  }
  return String(cause);
}
