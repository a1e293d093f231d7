/**
 * An undici `Dispatcher` that sends every request to a member picked by heartbeat
 * balancing: one connection pool per origin, a lease per request, failures fed back, and
 * a request that never reached an origin tried again on another member.
 * @module
 */
import { Dispatcher, Pool, errors as undiciErrors } from 'undici';
import type { BackendMember } from '../../protocol/address.js';
import { endToEndHeaders } from '../hop-by-hop.js';
import { expectBalancingTarget, resolveProxyOptions } from '../options.js';
import { NoMemberError, leaseMember, leaseOrigin, memberOrigin, type AnyLease, type LeasingView } from '../view.js';
import { controllerHandler } from './legacy-handler.js';
import { isNetworkFailure, mayRetry } from './retry-policy.js';

/** Options of {@link createDispatcher}. */
export interface HeartbeatDispatcherOptions {
  /**
   * Count a 5xx answer as a failure of the server (it still reaches the caller as it is).
   * Default `true`.
   */
  readonly failOn5xx?: boolean;
  /**
   * How many more members a request that failed before reaching an origin may try
   * (see {@link HeartbeatDispatcher}). Default 2; 0 disables retries.
   */
  readonly retries?: number;
  /** Options of each origin's undici `Pool` (`connections`, `keepAliveTimeout`, `connect` …). */
  readonly pool?: Pool.Options;
}

type Handler = Dispatcher.DispatchHandler;
type Controller = Dispatcher.DispatchController;
type ResponseHeaders = Parameters<NonNullable<Handler['onResponseStart']>>[2];
type UpgradeHeaders = Parameters<NonNullable<Handler['onRequestUpgrade']>>[2];
type UpgradeSocket = Parameters<NonNullable<Handler['onRequestUpgrade']>>[3];

/**
 * Sends each request to a member picked through a view (`HeartMonitor` or any view of the
 * table). Use it like any undici dispatcher: `request(url, { dispatcher })`,
 * `fetch(url, { dispatcher })`, `stream(…)`, or `dispatcher.compose(interceptor)`. The
 * URL's path and query are kept; its origin is replaced by the picked member's.
 *
 * - A lease is held from the pick until the response ends or fails; connect errors,
 *   resets, timeouts and (with `failOn5xx`) 5xx answers release it as failed.
 * - A request that failed before undici sent it (connection refused, unreachable) is
 *   tried on another member whatever its method; one that failed after it may have been
 *   sent, but before any response, only when its method is idempotent. Streamed bodies
 *   are never resent.
 * - Hop-by-hop request headers (`connection`, `keep-alive`, `transfer-encoding` …) and
 *   `expect` are dropped, so the headers of an incoming request can be passed on as they are.
 * - When nothing can be picked the request fails with {@link NoMemberError}
 *   (`code: 'HM_NO_MEMBER'`, `statusCode: 503`).
 */
export class HeartbeatDispatcher extends Dispatcher {
  private readonly pools = new Map<string, Pool>();
  /** Each member's origin, worked out once (members are fixed; parsing a URL per request is not free). */
  private readonly originOf = new Map<BackendMember, string>();
  private readonly failOn5xx: boolean;
  private readonly retries: number;
  private closing = false;
  private closed: Promise<void> | undefined;

  /**
   * @param view - where members are picked (anything with `acquire`)
   * @param members - the members to balance over; `undefined` picks among all live servers
   * @param options - see {@link HeartbeatDispatcherOptions}
   */
  constructor(
    private readonly view: LeasingView,
    private readonly members: readonly BackendMember[] | undefined,
    private readonly options: HeartbeatDispatcherOptions = {},
  ) {
    super();
    expectBalancingTarget(view, members);
    // A bad member fails here, not on a request.
    for (const member of members ?? []) this.originOf.set(member, memberOrigin(member));
    ({ retries: this.retries, failOn5xx: this.failOn5xx } = resolveProxyOptions(options));
  }

  /** Origins with an open pool. */
  get origins(): string[] {
    return [...this.pools.keys()];
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    const request = new BalancedRequest(this, options, controllerHandler(handler));
    if (this.closing) {
      request.fail(new undiciErrors.ClientClosedError());
      return false;
    }
    return request.next();
  }

  /** @internal Open a lease, skipping members already tried by this request. */
  acquire(tried: ReadonlySet<BackendMember>): AnyLease | undefined {
    if (this.members === undefined) return this.view.acquire();
    const members = tried.size === 0 ? this.members : this.members.filter((member) => !tried.has(member));
    return members.length === 0 ? undefined : this.view.acquire(members);
  }

  /** @internal Whether some member has not been tried yet (always, when balancing over every server). */
  hasUntried(tried: ReadonlySet<BackendMember>): boolean {
    return this.members === undefined || this.members.some((member) => !tried.has(member));
  }

  /** @internal The pool of the origin a lease points to. */
  poolFor(lease: AnyLease): Pool {
    const member = leaseMember(lease);
    const origin = (member === undefined ? undefined : this.originOf.get(member)) ?? leaseOrigin(lease);
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, this.options.pool);
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** @internal */
  get maxAttempts(): number {
    return 1 + this.retries;
  }

  /** @internal */
  get countsStatus(): boolean {
    return this.failOn5xx;
  }

  /** @internal Members offered (for the error message). */
  get memberCount(): number | undefined {
    return this.members?.length;
  }

  /** Close every pool once its requests are done; later requests fail. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.closing = true;
    const done = (this.closed ??= Promise.all([...this.pools.values()].map((pool) => pool.close())).then(() => undefined));
    if (callback === undefined) return done;
    void done.then(callback, callback);
  }

  /** Destroy every pool at once, failing the requests in flight with `error`. */
  override destroy(): Promise<void>;
  override destroy(error: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(error: Error | null, callback: () => void): void;
  override destroy(first?: Error | null | (() => void), second?: () => void): Promise<void> | void {
    const error = typeof first === 'function' ? null : (first ?? null);
    const callback = typeof first === 'function' ? first : second;
    this.closing = true;
    const done = (this.closed = Promise.all([...this.pools.values()].filter((pool) => !pool.destroyed).map((pool) => pool.destroy(error))).then(() => undefined));
    if (callback === undefined) return done;
    void done.then(callback, callback);
  }
}

/**
 * Create a {@link HeartbeatDispatcher}.
 *
 * @example
 * ```ts
 * import { request } from 'undici';
 * import { HeartMonitor } from 'heartmonitor';
 * import { createDispatcher } from 'heartmonitor/undici';
 *
 * const monitor = new HeartMonitor({ listen: '239.0.0.1:27999', interface: '127.0.0.1' });
 * monitor.on('error', (err) => console.error(err));
 * await monitor.listen();
 * const dispatcher = createDispatcher(monitor, ['http://127.0.0.1:8080', 'http://127.0.0.1:8081']);
 * const { statusCode } = await request('http://backend/health', { dispatcher });
 * console.log(statusCode);
 * await dispatcher.close();
 * await monitor.close();
 * ```
 * @param view - the `HeartMonitor` or any view of its table
 * @param members - members to balance over (URLs, `host:port` or `{ host, port }`); `undefined`: every live server
 * @param options - see {@link HeartbeatDispatcherOptions}
 */
export function createDispatcher(view: LeasingView, members: readonly BackendMember[] | undefined, options?: HeartbeatDispatcherOptions): HeartbeatDispatcher {
  return new HeartbeatDispatcher(view, members, options);
}

/**
 * One request through the dispatcher: its attempts, each on its own member and lease.
 * The caller's handler sees one request: one `onRequestStart` with a controller that
 * follows the current attempt, then the response or the final error.
 */
class BalancedRequest implements Controller {
  private readonly tried = new Set<BackendMember>();
  private readonly forwarded: Dispatcher.DispatchOptions;
  private attempts = 0;
  private current: Controller | undefined;
  private started = false;
  private abortedWith: Error | null = null;

  constructor(
    private readonly dispatcher: HeartbeatDispatcher,
    options: Dispatcher.DispatchOptions,
    private readonly target: Handler,
  ) {
    // The pool supplies the origin; the caller's (the URL it was given) is only a placeholder.
    const rest = { ...options };
    delete rest.origin;
    const headers = endToEndHeaders(options.headers as Parameters<typeof endToEndHeaders>[0]);
    // undici refuses `expect`; node:http has already answered a client's 100-continue.
    delete headers.expect;
    this.forwarded = { ...rest, headers };
  }

  /** Start the next attempt; false when the pool asks the caller to wait (undici's drain protocol). */
  next(): boolean {
    if (this.abortedWith !== null) {
      this.fail(this.abortedWith);
      return false;
    }
    const lease = this.dispatcher.acquire(this.tried);
    if (lease === undefined) {
      this.fail(new NoMemberError(this.dispatcher.memberCount));
      return false;
    }
    const member = leaseMember(lease);
    if (member !== undefined) this.tried.add(member);
    this.attempts++;
    let pool: Pool;
    try {
      pool = this.dispatcher.poolFor(lease);
    } catch (error) {
      lease.release();
      this.fail(error as Error);
      return false;
    }
    return pool.dispatch(this.forwarded, new AttemptHandler(this, lease, this.dispatcher.countsStatus));
  }

  /** An attempt failed before a response: try another member, or give up. */
  attemptFailed(lease: AnyLease, error: Error, started: boolean): void {
    const network = isNetworkFailure(error);
    lease.release({ failed: network });
    const retry = this.abortedWith === null && this.attempts < this.dispatcher.maxAttempts && mayRetry(this.forwarded, { started, responded: false, error });
    // Out of members to try: the caller learns why the last one failed, not that none is left.
    if (retry && this.dispatcher.hasUntried(this.tried)) {
      this.next();
      return;
    }
    this.fail(error);
  }

  fail(error: Error): void {
    this.target.onResponseError?.(this, error);
  }

  // --- called by the current attempt ---

  attemptStarted(controller: Controller, context: unknown): void {
    this.current = controller;
    if (this.abortedWith !== null) {
      controller.abort(this.abortedWith);
      return;
    }
    if (this.started) return;
    this.started = true;
    this.target.onRequestStart?.(this, context);
  }

  get handler(): Handler {
    return this.target;
  }

  // --- the controller the caller holds ---

  get aborted(): boolean {
    return this.abortedWith !== null || (this.current?.aborted ?? false);
  }

  get paused(): boolean {
    return this.current?.paused ?? false;
  }

  get reason(): Error | null {
    return this.abortedWith ?? this.current?.reason ?? null;
  }

  get rawHeaders(): Controller['rawHeaders'] {
    return this.current?.rawHeaders;
  }

  get rawTrailers(): Controller['rawTrailers'] {
    return this.current?.rawTrailers;
  }

  abort(reason: Error): void {
    if (this.abortedWith !== null) return;
    this.abortedWith = reason;
    this.current?.abort(reason);
  }

  pause(): void {
    this.current?.pause();
  }

  resume(): void {
    this.current?.resume();
  }
}

/** The handler of one attempt on one member: keeps the lease and tells the request how it went. */
class AttemptHandler implements Handler {
  private started = false;
  private responded = false;
  private failedStatus = false;
  private settled = false;

  constructor(
    private readonly request: BalancedRequest,
    private readonly lease: AnyLease,
    private readonly countsStatus: boolean,
  ) {}

  onRequestStart(controller: Controller, context: unknown): void {
    this.started = true;
    this.request.attemptStarted(controller, context);
  }

  onRequestUpgrade(_controller: Controller, statusCode: number, headers: UpgradeHeaders, socket: UpgradeSocket): void {
    // The socket leaves undici (and this lease's sight) with the upgrade.
    this.settle(false);
    this.request.handler.onRequestUpgrade?.(this.request, statusCode, headers, socket);
  }

  onResponseStarted(): void {
    this.request.handler.onResponseStarted?.();
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: ResponseHeaders, statusMessage?: string): void {
    // 1xx interim answers are followed by the real one.
    if (statusCode >= 200) this.responded = true;
    if (statusCode >= 500 && this.countsStatus) this.failedStatus = true;
    this.request.handler.onResponseStart?.(this.request, statusCode, headers, statusMessage);
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.request.handler.onResponseData?.(this.request, chunk);
  }

  onResponseEnd(_controller: Controller, trailers: ResponseHeaders): void {
    this.settle(this.failedStatus);
    this.request.handler.onResponseEnd?.(this.request, trailers);
  }

  onResponseError(_controller: Controller | undefined, error: Error): void {
    if (this.settled || this.responded) {
      // The answer had begun (or the socket was handed over): it can only fail here.
      this.settle(this.failedStatus || isNetworkFailure(error));
      this.request.handler.onResponseError?.(this.request, error);
      return;
    }
    this.settled = true;
    this.request.attemptFailed(this.lease, error, this.started);
  }

  private settle(failed: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.lease.release({ failed });
  }
}
