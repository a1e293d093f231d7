/**
 * RedisView: the read side of a table shared through Redis, for a proxy on any host
 * (SPEC 3.1, 3.2). A {@link RedisTableSource} keeps a local copy current (snapshot, then
 * sequenced changes, resync after gaps); the view feeds it to the same balanced table
 * every view uses, so it has the whole balancing API.
 * @module
 */
import type { AdminState } from '../balancer/server-state.js';
import type { HeartMonitorMetrics } from '../http/metrics.js';
import type { StatusSource } from '../http/status-page.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { watchClientErrors, type RedisErrorSource, type RedisSharedSubscriber, type RedisViewClient } from '../stores/redis/client.js';
import { DEFAULT_REDIS_PREFIX, tableKeys } from '../stores/redis/keys.js';
import { RedisTableSource, type SourceEntry, type TableSink } from '../stores/redis/table-source.js';
import { resolveTableSettings, TABLE_DEFAULTS } from '../table/settings.js';
import { expectInteger, expectNumber, expectObject, show } from '../validate.js';
import { BalancedView } from './balanced-view.js';
import type { HeartbeatView, HeartbeatViewOptions } from './view.js';

/** Options of `RedisStore.attach()`: the client and table, plus every view option. */
export interface RedisViewOptions extends HeartbeatViewOptions {
  /**
   * A node-redis client or cluster (connected, or still connecting: `attach()` waits at most
   * `timeout` for it), or a Sentinel client with `subscriber`. The view runs its snapshot
   * and probe scripts on it, listens to its `error` event while open, and subscribes on a
   * `duplicate()` of it of its own unless `subscriber` is given.
   */
  readonly client: RedisViewClient;
  /**
   * A connection to subscribe to the change channel with, instead of a `duplicate()` of
   * `client`: needed for a Sentinel client (`createSentinel()` has no `duplicate()`; pass
   * the same Sentinel client, which subscribes on a connection of its own to the master
   * and moves it on failover). The view subscribes at `attach()` and unsubscribes at
   * `close()`; connecting and closing it stay yours.
   */
  readonly subscriber?: RedisSharedSubscriber;
  /**
   * The table's name (the monitors' `prefix`).
   * @default 'heartmonitor'
   */
  readonly prefix?: string;
  /**
   * Servers not reported for this long leave the view, even when no monitor is left to
   * say so (ms). Use the monitors' `expireAfter`.
   * @default 30000
   */
  readonly expireAfter?: number;
  /**
   * Most servers the view holds; further records are refused and counted.
   * @default 100000
   */
  readonly maxServers?: number;
  /**
   * ms between liveness probes of Redis (which also catch lost change messages).
   * @default 1000
   */
  readonly probeInterval?: number;
  /**
   * A probe or snapshot unanswered for this long marks the source down (ms); `attach()`
   * rejects when its subscription and first snapshot take longer.
   * @default 2000
   */
  readonly timeout?: number;
}

/** One server as the shared table holds it, with the monitor that reported it. */
export interface RedisViewRecord {
  /** Table key. */
  readonly key: string;
  /** Last report (`lastSeen` on this host's clock). */
  readonly server: ServerStatus;
  /** The reporting monitor's id. */
  readonly monitor: string;
  /** Administrative state set by a monitor, if any. */
  readonly admin: AdminState | undefined;
  /** ms since the report, on this host's clock. */
  readonly age: number;
}

/** The source's figures, added to a Redis view's `metrics()`. */
export interface RedisSourceMetrics {
  /** Gauge: 1 while Redis answers, 0 while it is down or stalled. */
  readonly source_connected: number;
  /** Gauge: seconds the source has been down (0 while up). */
  readonly source_down_seconds: number;
  /** Counter: full snapshots taken (the first, and one after every reconnect or gap). */
  readonly source_snapshots: number;
  /** Counter: change messages applied. */
  readonly source_messages: number;
  /** Counter: records or messages refused (unparsable, without a report time, over `maxServers`); the same as `heartbeats_malformed`. */
  readonly records_refused: number;
}

/** Events a Redis view adds to the view events. */
export interface RedisViewExtraEvents {
  /** The source answers again after being down. */
  connected: [];
}

interface Held {
  status: ServerStatus;
  monitor: string;
}

const REFUSAL_REPORT_INTERVAL = 1000;

/**
 * A proxy's view of a table shared through Redis, with the whole balancing API (picks,
 * leases, failure feedback, administrative states from the monitors, metrics, status
 * page, events). Make it with `RedisStore.attach()`.
 *
 * Ages are measured on this host: each report arrives with its age by the Redis node's
 * clock, and `lastSeen` is this host's time minus that age. Servers turn stale and expire
 * here by local timers, so a view never trusts data from a stalled Redis for longer than
 * `expireAfter`. `noFreshServer` defaults to `'last-known'` here (see docs/multi-host.md).
 *
 * A Redis that lost its data (restarted without persistence: the sequence number went
 * back) does not empty the view: the servers it lacks keep their last report, failure
 * state and leases until a monitor writes them again, a removal arrives, or they expire.
 */
export class RedisView extends BalancedView<RedisViewExtraEvents> implements HeartbeatView {
  /** The settings the table runs with. */
  readonly settings: {
    /** ms after the last report a server stops being picked (unless a fallback picks it). */
    readonly staleAfter: number;
    /** ms after the last report a server leaves the view. */
    readonly expireAfter: number;
  };
  private readonly source: RedisTableSource;
  /** The table's key in Redis (shown on the status page). */
  private readonly table: string;
  private readonly held = new Map<string, Held>();
  private readonly admin = new Map<string, AdminState>();
  private refusedPending = 0;
  private lastRefusalReport = -Infinity;
  private lastRefusal = '';
  private refusalTimer: NodeJS.Timeout | undefined;
  private readonly pruneTimer: NodeJS.Timeout;
  /** Stops hearing the client's (and a given subscriber's) `error` events. */
  private readonly unwatch: (() => void)[] = [];

  private constructor(options: RedisViewOptions) {
    super({ ...expectObject('options', options, 'an object with a `client`'), noFreshServer: options.noFreshServer ?? 'last-known' });
    const { client, subscriber } = options;
    if (typeof client !== 'object' || client === null || typeof client.evalSha !== 'function' || typeof client.on !== 'function' || typeof client.off !== 'function') {
      throw new TypeError(`Expected \`client\` to be a node-redis client, cluster or Sentinel client, got ${show(client)}`);
    }
    if (subscriber !== undefined && (typeof subscriber !== 'object' || subscriber === null || typeof subscriber.sSubscribe !== 'function' || typeof subscriber.sUnsubscribe !== 'function')) {
      throw new TypeError(`Expected \`subscriber\` to be a node-redis connection with sSubscribe() and sUnsubscribe(), or undefined, got ${show(subscriber)}`);
    }
    if (subscriber === undefined && typeof client.duplicate !== 'function') {
      throw new TypeError('Expected `subscriber` (a connection to subscribe with, such as the Sentinel client itself) with a `client` that has no duplicate()');
    }
    // The table does not say how its monitors were configured: Apache's defaults unless overridden.
    const { staleAfter, expireAfter } = resolveTableSettings({ staleAfter: options.staleAfter, expireAfter: options.expireAfter });
    this.startTable({ ...TABLE_DEFAULTS, expireAfter });
    this.settings = { staleAfter, expireAfter };
    const keys = tableKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
    this.table = keys.servers;
    this.source = new RedisTableSource(
      {
        client,
        subscriber,
        keys,
        now: () => this.clock.now(),
        probeInterval: expectNumber('probeInterval', options.probeInterval ?? 1000, 10),
        timeout: expectNumber('timeout', options.timeout ?? 2000, 10),
        maxServers: expectInteger('maxServers', options.maxServers ?? 100_000, 1),
      },
      this.sink(),
    );
    // The table expires servers by this host's clock; the records behind them go too (no
    // message may ever say so when every monitor is gone), so the bounds stay true.
    this.pruneTimer = setInterval(() => this.prune(), Math.min(1000, Math.max(10, expireAfter / 10))).unref();
    // A client's `error` event without a listener would end the process: the view hears it
    // for as long as it is open (the source turns it into state and one report).
    const onError = (): void => this.source.fault();
    this.unwatch.push(watchClientErrors(client, onError));
    if (subscriber !== undefined && subscriber !== (client as object) && isErrorSource(subscriber)) this.unwatch.push(watchClientErrors(subscriber, onError));
  }

  /**
   * Open a view: subscribe, take the first snapshot. Use `RedisStore.attach()`.
   * @internal
   */
  static async open(options: RedisViewOptions): Promise<RedisView> {
    const view = new RedisView(options);
    try {
      // Its first snapshot's servers are announced once the view is the caller's (as every view's).
      await view.openQuietly(() => view.source.open());
    } catch (error) {
      await view.close();
      throw error;
    }
    return view;
  }

  /** Every server with the monitor that reported it, its admin state and age. */
  records(): RedisViewRecord[] {
    const now = this.clock.now();
    return Array.from(this.held, ([key, held]) => ({ key, server: held.status, monitor: held.monitor, admin: this.adminOf(key, held.status.ip), age: now - held.status.lastSeen }));
  }

  /** The view's counters and gauges, with the source's: whether Redis answers, snapshots, refused records. */
  override metrics(): HeartMonitorMetrics & RedisSourceMetrics {
    const source = this.source.stats();
    return {
      ...super.metrics(),
      source_connected: source.connected ? 1 : 0,
      source_down_seconds: source.downSince === undefined ? 0 : Math.max(0, (this.clock.now() - source.downSince) / 1000),
      source_snapshots: source.snapshots,
      source_messages: source.messages,
      records_refused: source.refused,
    };
  }

  /** The status page's source line: the table, whether Redis answers, the records refused. @internal */
  protected override statusSource(): StatusSource {
    const source = this.source.stats();
    return {
      description: `Redis table ${this.table}`,
      connected: source.connected,
      downSeconds: source.downSince === undefined ? 0 : Math.max(0, (this.clock.now() - source.downSince) / 1000),
      refused: source.refused,
    };
  }

  /** Take a full snapshot now (normally done by itself after reconnects and gaps). */
  resync(): Promise<void> {
    return this.source.resync();
  }

  /**
   * Stop following the table, release the subscriber (or unsubscribe a given one) and take
   * the view's `error` listener off the client. The client stays open.
   */
  close(): Promise<void> {
    clearTimeout(this.refusalTimer);
    clearInterval(this.pruneTimer);
    this.source.close();
    for (const unwatch of this.unwatch.splice(0)) unwatch();
    this.stopTable();
    return Promise.resolve();
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [key, held] of this.held) {
      if (now - held.status.lastSeen < this.settings.expireAfter) continue;
      this.held.delete(key);
      this.source.forget(key);
      this.removeRecord(key);
    }
  }

  private sink(): TableSink {
    return {
      reset: (entries, admin, kept) => this.reset(entries, admin, kept),
      put: (key, status, monitor) => this.put(key, status, monitor),
      remove: (key) => {
        this.held.delete(key);
        this.removeRecord(key);
      },
      admin: (key, state) => this.setAdmin(key, state),
      connection: (up) => {
        if (up) (this.emit as (event: 'connected') => boolean)('connected');
        else this.reportFault(new Error('Redis source unreachable: the view keeps its table, ages it locally and resynchronises when Redis answers again'), 0);
      },
      refused: (reason) => this.noteRefusal(reason),
    };
  }

  /**
   * A snapshot. The servers it lacks leave, except those in `kept` (Redis lost them with its
   * data): they keep their last report, failure state and leases, turn stale and expire by
   * this view's timers, and a monitor's rewrite updates them in place.
   */
  private reset(entries: readonly SourceEntry[], admin: ReadonlyMap<string, AdminState>, kept: ReadonlySet<string>): void {
    const inSnapshot = new Set(entries.map((entry) => entry.key));
    for (const key of this.tableKeys()) {
      if (!inSnapshot.has(key) && !kept.has(key)) {
        this.held.delete(key);
        this.removeRecord(key);
      }
    }
    // Administrative states are Redis's: a kept server takes the snapshot's too.
    const statesBefore = new Map<string, AdminState | undefined>();
    for (const key of kept) {
      const held = this.held.get(key);
      if (held !== undefined) statesBefore.set(key, this.adminOf(key, held.status.ip));
    }
    this.admin.clear();
    for (const [key, state] of admin) this.admin.set(key, state);
    for (const [key, before] of statesBefore) {
      const held = this.held.get(key);
      if (held !== undefined && this.adminOf(key, held.status.ip) !== before) this.applyRecord(key, this.withAdmin(key, held.status));
    }
    for (const entry of entries) this.put(entry.key, entry.status, entry.monitor);
  }

  private put(key: string, status: ServerStatus, monitor: string): void {
    const held = this.held.get(key);
    if (held === undefined) this.held.set(key, { status, monitor });
    else {
      held.status = status;
      held.monitor = monitor;
    }
    this.applyRecord(key, this.withAdmin(key, status));
  }

  private setAdmin(key: string, state: AdminState | undefined): void {
    if (state === undefined) this.admin.delete(key);
    else this.admin.set(key, state);
    for (const [heldKey, held] of this.held) if (heldKey === key || held.status.ip === key) this.applyRecord(heldKey, this.withAdmin(heldKey, held.status));
  }

  private adminOf(key: string, ip: string): AdminState | undefined {
    if (this.admin.size === 0) return undefined;
    return this.admin.get(key) ?? this.admin.get(ip);
  }

  /** The status the table weighs: the report, with the operator's state when a monitor set one. */
  private withAdmin(key: string, status: ServerStatus): ServerStatus {
    const state = this.adminOf(key, status.ip);
    return state === undefined ? status : Object.freeze({ ...status, state });
  }

  private noteRefusal(reason: string): void {
    this.countMalformed(1);
    this.refusedPending++;
    this.lastRefusal = reason;
    const now = this.clock.now();
    if (now - this.lastRefusalReport >= REFUSAL_REPORT_INTERVAL) this.reportRefusals(now);
    else if (this.refusalTimer === undefined) {
      this.refusalTimer = setTimeout(() => {
        this.refusalTimer = undefined;
        this.reportRefusals(this.clock.now());
      }, REFUSAL_REPORT_INTERVAL).unref();
    }
  }

  private reportRefusals(now: number): void {
    if (this.refusedPending === 0) return;
    this.lastRefusalReport = now;
    const count = this.refusedPending;
    this.refusedPending = 0;
    this.reportFault(new Error(`Refused ${count} record(s) from Redis; last reason: ${this.lastRefusal}`), 0);
  }
}

/** Whether a given subscriber has node-redis's `error` event (a client of its own to hear). */
function isErrorSource(value: RedisSharedSubscriber): value is RedisSharedSubscriber & RedisErrorSource {
  const candidate = value as Partial<RedisErrorSource>;
  return typeof candidate.on === 'function' && typeof candidate.off === 'function';
}
