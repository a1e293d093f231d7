/**
 * What every view shares: the {@link HeartbeatView} API over a {@link BalancedTable} that
 * the view feeds from wherever its table lives (shared memory, IPC, a file).
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import { performance } from 'node:perf_hooks';
import type { BackendMember } from '../protocol/address.js';
import type { Lease, MemberLease } from '../balancer/leases.js';
import { resolveBalancingOptions, type ResolvedBalancingOptions } from '../balancer/options.js';
import type { ServerFailure, ServerView } from '../balancer/server-state.js';
import type { Clock } from '../clock.js';
import { buildMetrics, type HeartMonitorMetrics } from '../http/metrics.js';
import { createStatusHandler, type StatusHandler, type StatusPageOptions, type StatusSource } from '../http/status-page.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { checkTableOverrides, sameTableSettings, TABLE_DEFAULTS, withOverrides, type TableSettings } from '../table/settings.js';
import { expectClock, expectFunction, expectObject } from '../validate.js';
import { BalancedTable } from '../table/balanced-table.js';
import { toMonotonic } from '../table/carried-ramp.js';
import type { HeartbeatViewEvents, HeartbeatViewOptions } from './view.js';

/** A view's selection settings: the monitor's (carried with the data), with the view's overrides. */
export type ViewSettings = TableSettings;

const SWEEP_MIN_MS = 10;
const SWEEP_MAX_MS = 1000;

/**
 * A view of the table with the whole balancing API (each concrete view declares that it
 * implements `HeartbeatView`; `Extra` adds events of its own). Subclasses feed records with
 * `applyRecord()` / `removeRecord()`, and bring the table
 * up to date in `sync()`, which runs before every read.
 */
export abstract class BalancedView<Extra extends object = object> extends EventEmitter<HeartbeatViewEvents & Extra> {
  /** @internal */
  protected readonly clock: Clock;
  /** @internal */
  protected readonly random: () => number;
  private readonly balancing: ResolvedBalancingOptions;
  /** The settings this view was given; the rest come with the data (`expireAfter` always does). */
  private readonly overrides: Partial<TableSettings>;
  private tableNow: BalancedTable | undefined;
  /** The settings the table runs with (the data's, with this view's overrides). */
  private tableSettings: TableSettings | undefined;
  /** While a replaced table is refilled, or an async open fills the first one: its events are told afterwards. */
  private muted = false;
  /** Keys an async open put in the table: their `add` is owed until the view is first used. */
  private owed: Set<string> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** close() was called: a table made afterwards gets no sweep timer. */
  private stopped = false;
  private applied = 0;
  /** Records and messages of the data this view refused (`heartbeats_malformed`). */
  private malformed = 0;

  /** @internal */
  protected constructor(options: HeartbeatViewOptions) {
    super();
    expectObject('options', options);
    this.balancing = resolveBalancingOptions(options);
    const clock = options.clock === undefined ? undefined : expectClock('clock', options.clock, 'optional');
    const now = clock === undefined ? () => Date.now() : () => clock.now();
    const monotonic = clock === undefined ? () => performance.now() : clock.monotonic === undefined ? now : () => (clock.monotonic as () => number)();
    this.clock = { now, monotonic };
    this.random = options.random === undefined ? Math.random : expectFunction<() => number>('random', options.random);
    const { staleAfter, warmupDivisor, keyBy } = options;
    this.overrides = checkTableOverrides({ staleAfter, warmupDivisor, keyBy });
  }

  /** The table's settings with this view's overrides, once the data told them. */
  protected effectiveSettings(shared: TableSettings): TableSettings {
    return withOverrides(shared, this.overrides);
  }

  /**
   * Create the table from the data's settings (once: later calls keep the first table).
   * @internal
   */
  protected startTable(shared: ViewSettings): BalancedTable {
    if (this.tableNow !== undefined) return this.tableNow;
    const settings = this.effectiveSettings(shared);
    const safeEmit = (event: keyof HeartbeatViewEvents, ...args: unknown[]): void => {
      if (this.muted) return;
      // The opening table's servers are announced before anything that happens to them.
      this.announceOpening();
      this.safeEmit(event, ...args);
    };
    this.tableSettings = settings;
    this.tableNow = new BalancedTable(
      { ...settings, balancing: this.balancing, clock: this.clock, random: this.random, adminFrom: 'records' },
      {
        add: (server) => safeEmit('add', server),
        update: (server) => safeEmit('update', server),
        stale: (server) => safeEmit('stale', server),
        remove: (server) => safeEmit('remove', server),
        failed: (server, failure, shared) => {
          if (!shared) this.ejected(server, failure);
          safeEmit('failed', server, failure);
        },
        recovered: (server) => safeEmit('recovered', server),
      },
    );
    if (this.stopped) return this.tableNow;
    const every = Math.min(SWEEP_MAX_MS, Math.max(SWEEP_MIN_MS, Math.min(settings.staleAfter, settings.expireAfter) / 10));
    // The timer holds the view weakly: a view dropped without close() is still collected.
    const view = new WeakRef(this);
    const timer = setInterval(() => {
      const alive = view.deref();
      if (alive === undefined) clearInterval(timer);
      else alive.sweepNow();
    }, every).unref();
    this.sweepTimer = timer;
    return this.tableNow;
  }

  /**
   * Apply a whole new picture of the data (`load` feeds it) that comes with the settings
   * `shared`. When they change what this view runs with (the source is now configured
   * otherwise), a new table replaces the old one — this view's own leases, failures and
   * counters start over — and listeners hear what a resynchronisation tells: `remove` for
   * servers gone, `add` for new ones, `update` for every server in the new table.
   * @internal
   */
  protected reload(shared: ViewSettings, load: () => void): void {
    const old = this.tableNow;
    if (old === undefined || sameTableSettings(this.effectiveSettings(shared), this.tableSettings)) {
      this.startTable(shared);
      load();
      return;
    }
    const before = new Map(Array.from(old.entries(), (entry) => [entry.key, entry.status] as const));
    this.dropTable();
    this.muted = true;
    let table: BalancedTable;
    try {
      table = this.startTable(shared);
      load();
    } finally {
      this.muted = false;
    }
    for (const [key, server] of before) if (!table.has(key)) this.safeEmit('remove', server);
    for (const entry of table.entries()) {
      if (!before.has(entry.key)) this.safeEmit('add', entry.status);
      this.safeEmit('update', entry.status);
    }
  }

  /**
   * Run a view's asynchronous opening (`open` fills the first table) so that the servers it
   * finds are announced like every view's opening table: their `add` and `update` events
   * fire once the view is in the caller's hands — at its first read, its first timer tick,
   * or before the next event of the table, whichever comes first.
   * @internal
   */
  protected async openQuietly(open: () => Promise<void>): Promise<void> {
    this.muted = true;
    try {
      await open();
    } finally {
      this.muted = false;
    }
    this.owed = new Set(this.tableKeys());
  }

  /** Announce the servers an async open found (once). */
  private announceOpening(): void {
    const owed = this.owed;
    if (owed === undefined) return;
    this.owed = undefined;
    for (const key of owed) {
      const entry = this.tableNow?.get(key);
      if (entry === undefined) continue;
      this.safeEmit('add', entry.status);
      this.safeEmit('update', entry.status);
    }
  }

  /** Bring the view up to date before a read. */
  private pull(): void {
    this.announceOpening();
    this.sync();
  }

  /** Emit a table event; a throwing listener becomes an `error` event, never a throw. */
  private safeEmit(event: keyof HeartbeatViewEvents, ...args: unknown[]): void {
    try {
      (this.emit as unknown as (event: keyof HeartbeatViewEvents, ...args: unknown[]) => boolean)(event, ...args);
    } catch (cause) {
      if (event !== 'error') this.safeEmit('error', cause instanceof Error ? cause : new Error(String(cause)));
    }
  }

  /**
   * The data's settings may have changed: when they change what the table runs with (this
   * view's overrides applied), drop the table and start a new one with them (the subclass
   * then feeds every record again). Failure state and in-flight counts start over; leases
   * of the old table release into it harmlessly.
   * @returns whether the table was replaced
   * @internal
   */
  protected restartTable(shared: ViewSettings): boolean {
    if (sameTableSettings(this.effectiveSettings(shared), this.tableSettings)) return false;
    this.dropTable();
    this.startTable(shared);
    return true;
  }

  /** The settings the table runs with (the data's, with this view's overrides). @internal */
  protected get runningSettings(): ViewSettings {
    return this.tableSettings ?? this.effectiveSettings(TABLE_DEFAULTS);
  }

  /** Feed one record (key as the monitor keys it). @internal */
  protected applyRecord(key: string, server: ServerStatus): void {
    if (this.tableNow?.applyRecord(key, server) === true) this.applied++;
  }

  /** A key left the data. @internal */
  protected removeRecord(key: string): void {
    this.tableNow?.remove(key);
  }

  /** Keys in the table now. @internal */
  protected tableKeys(): string[] {
    return this.tableNow === undefined ? [] : [...this.tableNow.keys()];
  }

  /**
   * Report a fault reading the data (throttling is the subclass's).
   * @param malformed - how many refused records or messages it counts in
   *   `heartbeats_malformed` (0: a fault of the source, such as an outage, or refusals
   *   already counted with {@link BalancedView.countMalformed})
   * @internal
   */
  protected reportFault(error: Error, malformed = 1): void {
    this.malformed += malformed;
    try {
      (this.emit as unknown as (event: 'error', error: Error) => boolean)('error', error);
    } catch {
      // a throwing error listener must not break the reader
    }
  }

  /** Count refused records or messages as they happen (a view that reports them throttled). @internal */
  protected countMalformed(count: number): void {
    this.malformed += count;
  }

  /**
   * This view's own failures took `server` out of rotation (views that share failures
   * publish it here). @internal
   */
  protected ejected(_server: ServerStatus, _failure: ServerFailure): void {
    // views that keep their failures to themselves have nothing to do
  }

  /** Another view's failures took the server under `key` out until wall-clock time `until`. @internal */
  protected ejectShared(key: string, until: number): void {
    this.tableNow?.ejectShared(key, toMonotonic(until, this.clock));
  }

  /** Bring the table up to date before a read (pull-based views). @internal */
  protected sync(): void {
    // push-based views have nothing to pull
  }

  /** Let go of the table and its sweep timer, to start another (the view stays open). */
  private dropTable(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.tableNow = undefined;
  }

  /** Stop the sweep timer (subclasses call it from close()). @internal */
  protected stopTable(): void {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private sweepNow(): void {
    try {
      this.pull();
      this.tableNow?.sweep();
    } catch (error) {
      this.reportFault(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** The table now (fresh and stale servers); `state` marks servers out of rotation. */
  servers(): ServerStatus[] {
    this.pull();
    return this.tableNow?.servers() ?? [];
  }

  /** Pick a server among all fresh ones (the monitor's balancing rules); undefined when none has weight. */
  pickBackend(): ServerStatus | undefined;
  /** Pick one of `members` like lbmethod=heartbeat; undefined when none has weight. */
  pickBackend<M extends BackendMember>(members: readonly M[]): M | undefined;
  pickBackend<M extends BackendMember>(members?: readonly M[]): ServerStatus | M | undefined {
    this.pull();
    return this.tableNow?.pick(members);
  }

  /** Pick a server and open a lease; release it when the request ends. */
  acquire(): Lease | undefined;
  /** Pick one of `members` and open a lease; release it when the request ends. */
  acquire<M extends BackendMember>(members: readonly M[]): MemberLease<M> | undefined;
  acquire<M extends BackendMember>(members?: readonly M[]): Lease | MemberLease<M> | undefined {
    this.pull();
    return this.tableNow?.acquire(members);
  }

  /** Report a failed request to `server` (`ip`, `ip:port` or status); returns the servers it counted for. */
  markFailed(server: string | ServerStatus): number {
    this.pull();
    return this.tableNow?.markFailed(server) ?? 0;
  }

  /** The extended view of one server, or undefined when unknown. */
  serverState(server: string | ServerStatus): ServerView | undefined {
    this.pull();
    return this.tableNow?.serverState(server);
  }

  /** Extended views of every server. */
  describe(): ServerView[] {
    this.pull();
    return this.tableNow?.describe() ?? [];
  }

  /**
   * Counters and gauges, as `monitor.metrics()` names them; `heartbeats_accepted` counts
   * the records this view applied, `heartbeats_malformed` the records or messages of its
   * data it refused (not outages of its source), `heartbeats_received` their sum.
   */
  metrics(): HeartMonitorMetrics {
    this.pull();
    const table = this.tableNow;
    const { servers, fresh } = table?.counts() ?? { servers: 0, fresh: 0 };
    const counters = table?.counters ?? { picks: 0, noServer: 0, roundRobinFallbacks: 0, lastKnownFallbacks: 0, mostHeadroomFallbacks: 0, failures: 0, ejections: 0, recoveries: 0, leases: 0 };
    const stats = { received: this.applied + this.malformed, accepted: this.applied, malformed: this.malformed, rejected: 0, servers, fresh };
    return buildMetrics(stats, counters, table?.inFlight ?? 0, table?.describe() ?? []);
  }

  /** A `node:http` listener serving the status page. */
  statusHandler(options?: StatusPageOptions): StatusHandler {
    return createStatusHandler(() => {
      const source = this.statusSource();
      const snapshot = { time: this.clock.now(), servers: this.describe(), metrics: this.metrics() };
      return source === undefined ? snapshot : { ...snapshot, source };
    }, options);
  }

  /** The view's source for its status page (views that read a remote source show whether it answers). @internal */
  protected statusSource(): StatusSource | undefined {
    return undefined;
  }

  /** {@inheritDoc HeartbeatView.close} */
  abstract close(): Promise<void>;
}
