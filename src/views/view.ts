/**
 * The one balancing API every view of the table offers (SPEC 3.1), the monitor included:
 * {@link HeartbeatView}, its events, and its options. A leaf module: types only.
 * @module
 */
import type { BackendMember } from '../protocol/address.js';
import type { BalancingOptions } from '../balancer/options.js';
import type { Lease, MemberLease } from '../balancer/leases.js';
import type { ServerFailure, ServerView } from '../balancer/server-state.js';
import type { Clock } from '../clock.js';
import type { HeartMonitorMetrics } from '../http/metrics.js';
import type { StatusHandler, StatusPageOptions } from '../http/status-page.js';
import type { KeyBy, ServerStatus } from '../protocol/server-status.js';

/** The events every view emits, with their payloads. */
export interface HeartbeatViewEvents {
  /** A server joined the table. */
  add: [server: ServerStatus];
  /** A server's record changed (a heartbeat, or the operator's state for it). */
  update: [server: ServerStatus];
  /** A server was not heard from for `staleAfter` and is no longer picked. */
  stale: [server: ServerStatus];
  /** A server left the table. */
  remove: [server: ServerStatus];
  /** Failures took a server out of this view's rotation. */
  failed: [server: ServerStatus, failure: ServerFailure];
  /** A failed server's retry interval ended: it is back in this view's rotation. */
  recovered: [server: ServerStatus];
  /** A fault reading the table; the view keeps serving what it has. */
  error: [error: Error];
}

/**
 * The balancing API shared by `HeartMonitor` and every view (`SlotStoreView`,
 * `ClusterView`, `HeartbeatFileReader`): code written against it runs wherever the proxy
 * runs. Leases, in-flight counts and failures are each view's own (a SlotStore can share
 * failure ejections: its `failures` option); the operator's `drain`/`disable`, and when a
 * server entered rotation (slow-start ramps run in step), come with the data.
 */
export interface HeartbeatView {
  /** The table now (fresh and stale servers); `state` marks servers out of rotation. */
  servers(): ServerStatus[];
  /** Pick a server among all fresh ones; undefined when none has weight. */
  pickBackend(): ServerStatus | undefined;
  /** Pick one of `members` like lbmethod=heartbeat; undefined when none has weight. */
  pickBackend<M extends BackendMember>(members: readonly M[]): M | undefined;
  /** Pick and open a lease; release it when the request ends. */
  acquire(): Lease | undefined;
  /** Pick one of `members` and open a lease. */
  acquire<M extends BackendMember>(members: readonly M[]): MemberLease<M> | undefined;
  /** Report a failed request to `server` (`ip`, `ip:port` or status); returns the servers it counted for. */
  markFailed(server: string | ServerStatus): number;
  /** The extended view of one server, or undefined when unknown. */
  serverState(server: string | ServerStatus): ServerView | undefined;
  /** Extended views of every server. */
  describe(): ServerView[];
  /** Counters and gauges. */
  metrics(): HeartMonitorMetrics;
  /** A `node:http` listener serving the status page. */
  statusHandler(options?: StatusPageOptions): StatusHandler;
  /** Stop following the table and release timers and handles. */
  close(): Promise<void>;
  /** Subscribe to an event. */
  on<E extends keyof HeartbeatViewEvents>(event: E, listener: (...args: HeartbeatViewEvents[E]) => void): this;
  /** Unsubscribe. */
  off<E extends keyof HeartbeatViewEvents>(event: E, listener?: (...args: HeartbeatViewEvents[E]) => void): this;
}

/**
 * Options every view takes: the monitor's balancing options and selection settings (a
 * view's defaults for `staleAfter`, `warmupDivisor` and `keyBy` are the monitor's, as its
 * data tells them: a SlotStore's header, the cluster snapshot, hb.dat's settings line;
 * Apache's defaults where the data carries none, as in Apache's own hb.dat or a Redis
 * table), an injectable random and clock.
 */
export interface HeartbeatViewOptions extends BalancingOptions {
  /** Never pick servers whose last heartbeat is this many ms old. */
  readonly staleAfter?: number;
  /** Warm-up divisor of the weight rule (busy = 0 → ready / divisor). */
  readonly warmupDivisor?: number;
  /** How members are matched to servers. */
  readonly keyBy?: KeyBy;
  /**
   * Uniform random numbers in [0, 1).
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * Clocks: `now` (wall, ages servers by their `lastSeen`) and optionally `monotonic`
   * (failure timeouts, slow start; defaults to `now` when a clock without it is given).
   * @default Date.now and performance.now
   */
  readonly clock?: Pick<Clock, 'now'> & Partial<Pick<Clock, 'monotonic'>>;
}
