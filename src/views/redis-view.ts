/**
 * RedisView: the read side of a table shared through Redis, for a proxy on any host
 * (SPEC 3.1, 3.2). A {@link RedisTableSource} keeps it current; picks run on the same
 * indexed snapshot picker the SlotStore view uses.
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import type { BackendMember } from '../address.js';
import type { AdminState } from '../balancer/server-state.js';
import type { Clock } from '../clock.js';
import { DEFAULT_FILE_EXPIRE_AFTER } from '../hb-file.js';
import { DEFAULT_STALE_AFTER, DEFAULT_WARMUP_DIVISOR, pickBackend, type PickOptions } from '../selection.js';
import type { ServerStatus } from '../server-status.js';
import { SnapshotPicker, type SnapshotEdits } from '../snapshot-picker.js';
import type { RedisViewClient } from '../stores/redis/client.js';
import { DEFAULT_REDIS_PREFIX, tableKeys } from '../stores/redis/keys.js';
import { RedisTableSource, type SourceEntry, type TableSink } from '../stores/redis/table-source.js';
import { expectFunction, expectInteger, expectNumber, expectOneOf, show } from '../validate.js';

/** Options of `RedisStore.attach()`. */
export interface RedisViewOptions extends Omit<PickOptions, 'now'> {
  /** A connected node-redis client or cluster; the view duplicates it for its subscription. */
  readonly client: RedisViewClient;
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
   * When no server is fresh: `'last-known'` draws by the last weights of servers not yet
   * expired (so a Redis that stalls longer than `staleAfter` neither freezes the table
   * forever nor empties it at once); `'fail'` returns undefined like Apache.
   * @default 'last-known'
   */
  readonly noFreshServer?: 'fail' | 'last-known';
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
   * A probe or snapshot unanswered for this long marks the source down (ms).
   * @default 2000
   */
  readonly timeout?: number;
  /**
   * Wall clock used to age servers (inject a fake one in tests).
   * @default Date.now
   */
  readonly clock?: Pick<Clock, 'now'>;
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

/** Counters and gauges of a Redis view (snake_case, like `monitor.metrics()`). */
export interface RedisViewMetrics {
  /** Gauge: servers held. */
  readonly servers: number;
  /** Gauge: servers with a recent report. */
  readonly servers_fresh: number;
  /** Gauge: 1 while Redis answers, 0 while it is down or stalled. */
  readonly source_connected: number;
  /** Gauge: seconds the source has been down (0 while up). */
  readonly source_down_seconds: number;
  /** Counter: full snapshots taken (the first, and one after every reconnect or gap). */
  readonly source_snapshots: number;
  /** Counter: change messages applied. */
  readonly source_messages: number;
  /** Counter: records or messages refused (unparsable, over `maxServers`). */
  readonly records_refused: number;
}

/** Events of a {@link RedisView}. */
export interface RedisViewEvents {
  /** A server appeared. */
  add: [server: ServerStatus];
  /** A newer report of a server arrived. */
  update: [server: ServerStatus];
  /** A server was not reported for `staleAfter`. */
  stale: [server: ServerStatus];
  /** A server left (expired, removed by its monitor, or absent from a new snapshot). */
  remove: [server: ServerStatus];
  /** The source went down (once per outage) or records were refused (at most once a second). */
  error: [error: Error];
  /** The source came back (a snapshot follows). */
  connected: [];
}

interface Held {
  readonly key: string;
  readonly position: number;
  status: ServerStatus;
  monitor: string;
  stale: boolean;
}

const REFUSAL_REPORT_INTERVAL = 1000;

/**
 * A proxy's view of a table shared through Redis. Make it with `RedisStore.attach()`.
 *
 * Ages are measured on this host: each report arrives with its age by the Redis node's
 * clock, and `lastSeen` is this host's time minus that age. Servers turn stale and expire
 * here by local timers, so a view never trusts data from a stalled Redis for longer than
 * `expireAfter`.
 */
export class RedisView extends EventEmitter<RedisViewEvents> {
  /** Settings in force. */
  readonly settings: { readonly staleAfter: number; readonly expireAfter: number; readonly noFreshServer: 'fail' | 'last-known' };
  private readonly clock: Pick<Clock, 'now'>;
  private readonly source: RedisTableSource;
  private readonly picker: SnapshotPicker;
  private readonly pickOptions: Omit<PickOptions, 'now'>;
  private readonly table = new Map<string, Held>();
  private readonly admin = new Map<string, AdminState>();
  /** By position: what the picker weighs (an administratively held-back server weighs 0). */
  private readonly pickable: (ServerStatus | undefined)[] = [];
  private readonly freePositions: number[] = [];
  private readonly edits = { positions: [] as number[], previous: [] as (ServerStatus | undefined)[] } satisfies SnapshotEdits;
  private readonly sweepTimer: NodeJS.Timeout;
  private refusedPending = 0;
  private lastRefusalReport = -Infinity;
  private lastRefusal = '';

  private constructor(options: RedisViewOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError(`Expected \`options\` to be an object, got ${show(options)}`);
    const { client } = options;
    if (typeof client !== 'object' || client === null || typeof client.duplicate !== 'function' || typeof client.evalSha !== 'function') {
      throw new TypeError(`Expected \`client\` to be a connected node-redis client or cluster, got ${show(client)}`);
    }
    const staleAfter = expectNumber('staleAfter', options.staleAfter ?? DEFAULT_STALE_AFTER, 1);
    const expireAfter = expectNumber('expireAfter', options.expireAfter ?? DEFAULT_FILE_EXPIRE_AFTER, 1);
    const noFreshServer = expectOneOf('noFreshServer', options.noFreshServer ?? 'last-known', ['fail', 'last-known'] as const);
    this.settings = { staleAfter, expireAfter, noFreshServer };
    this.clock = options.clock ?? { now: Date.now };
    this.pickOptions = {
      staleAfter,
      warmupDivisor: expectInteger('warmupDivisor', options.warmupDivisor ?? DEFAULT_WARMUP_DIVISOR, 1),
      keyBy: expectOneOf('keyBy', options.keyBy ?? 'ip', ['ip', 'ip:port'] as const),
      random: options.random === undefined ? Math.random : expectFunction<() => number>('random', options.random),
    };
    this.picker = new SnapshotPicker(this.pickOptions, expireAfter);
    this.source = new RedisTableSource(
      {
        client,
        keys: tableKeys(options.prefix ?? DEFAULT_REDIS_PREFIX),
        now: () => this.clock.now(),
        probeInterval: expectNumber('probeInterval', options.probeInterval ?? 1000, 10),
        timeout: expectNumber('timeout', options.timeout ?? 2000, 10),
        maxServers: expectInteger('maxServers', options.maxServers ?? 100_000, 1),
      },
      this.sink(),
    );
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(1000, Math.max(10, staleAfter / 10))).unref();
  }

  /**
   * Open a view: subscribe, take the first snapshot. Use `RedisStore.attach()`.
   * @internal
   */
  static async open(options: RedisViewOptions): Promise<RedisView> {
    const view = new RedisView(options);
    try {
      await view.source.open();
    } catch (error) {
      view.close();
      throw error;
    }
    return view;
  }

  /** The servers held now (fresh and stale), with `state` when a monitor drained or disabled one. */
  servers(): ServerStatus[] {
    const list: ServerStatus[] = [];
    for (const held of this.table.values()) {
      const state = this.adminOf(held);
      list.push(state === undefined ? held.status : { ...held.status, state });
    }
    return list;
  }

  /** Every server with the monitor that reported it, its admin state and age. */
  records(): RedisViewRecord[] {
    const now = this.clock.now();
    return Array.from(this.table.values(), (held) => ({ key: held.key, server: held.status, monitor: held.monitor, admin: this.adminOf(held), age: now - held.status.lastSeen }));
  }

  /**
   * Pick a server among the fresh ones by lbmethod=heartbeat's weights (SPEC 1.8);
   * drained and disabled servers are never picked.
   */
  pickBackend(): ServerStatus | undefined;
  /** Pick one of `members` like lbmethod=heartbeat. */
  pickBackend<M extends BackendMember>(members: readonly M[]): M | undefined;
  pickBackend<M extends BackendMember>(members?: readonly M[]): ServerStatus | M | undefined {
    const now = this.clock.now();
    const picked = this.picker.pick(this.pickable, members, now, this.edits);
    this.edits.positions.length = 0;
    this.edits.previous.length = 0;
    // A held-back server weighs 0 in the picker, so a pick never returns its masked copy.
    if (picked !== undefined || this.settings.noFreshServer === 'fail') return picked;
    return this.pickLastKnown(members, now);
  }

  /** Counters and gauges, including the source's connection state. */
  metrics(): RedisViewMetrics {
    const now = this.clock.now();
    const source = this.source.stats();
    let fresh = 0;
    for (const held of this.table.values()) if (now - held.status.lastSeen < this.settings.staleAfter) fresh++;
    return {
      servers: this.table.size,
      servers_fresh: fresh,
      source_connected: source.connected ? 1 : 0,
      source_down_seconds: source.downSince === undefined ? 0 : Math.max(0, (now - source.downSince) / 1000),
      source_snapshots: source.snapshots,
      source_messages: source.messages,
      records_refused: source.refused,
    };
  }

  /** Stop following the table and release the subscriber. The client stays open. */
  close(): void {
    clearInterval(this.sweepTimer);
    this.source.close();
  }

  /** Take a full snapshot now (normally done by itself after reconnects and gaps). */
  resync(): Promise<void> {
    return this.source.resync();
  }

  private sink(): TableSink {
    return {
      reset: (entries, admin) => this.reset(entries, admin),
      put: (entry) => this.put(entry),
      remove: (key) => {
        const held = this.table.get(key);
        if (held !== undefined) this.remove(held);
      },
      admin: (key, state) => this.setAdmin(key, state),
      connection: (up) => {
        if (up) this.emit('connected');
        else this.emit('error', new Error('Redis source unreachable: the view keeps its table, ages it locally and resynchronises when Redis answers again'));
      },
      refused: (reason) => this.noteRefusal(reason),
    };
  }

  private reset(entries: readonly SourceEntry[], admin: ReadonlyMap<string, AdminState>): void {
    const kept = new Set<string>();
    for (const entry of entries) kept.add(entry.key);
    for (const held of [...this.table.values()]) if (!kept.has(held.key)) this.remove(held);
    this.admin.clear();
    for (const [key, state] of admin) this.admin.set(key, state);
    for (const entry of entries) this.put(entry);
    // Admin states may have changed for servers whose report did not: re-weigh them all.
    for (const held of this.table.values()) this.place(held);
  }

  private put(entry: SourceEntry): void {
    const now = this.clock.now();
    if (now - entry.status.lastSeen >= this.settings.expireAfter) {
      const held = this.table.get(entry.key);
      if (held !== undefined) this.remove(held);
      return;
    }
    let held = this.table.get(entry.key);
    const isNew = held === undefined;
    if (held === undefined) {
      held = { key: entry.key, position: this.freePositions.pop() ?? this.pickable.length, status: entry.status, monitor: entry.monitor, stale: false };
      this.table.set(entry.key, held);
    }
    held.status = entry.status;
    held.monitor = entry.monitor;
    held.stale = now - entry.status.lastSeen >= this.settings.staleAfter;
    this.place(held);
    if (isNew) this.emit('add', entry.status);
    this.emit('update', entry.status);
  }

  private remove(held: Held): void {
    this.table.delete(held.key);
    this.edit(held.position, undefined);
    this.freePositions.push(held.position);
    this.emit('remove', held.status);
  }

  private setAdmin(key: string, state: AdminState | undefined): void {
    if (state === undefined) this.admin.delete(key);
    else this.admin.set(key, state);
    for (const held of this.table.values()) if (held.key === key || held.status.ip === key) this.place(held);
  }

  private adminOf(held: Held): AdminState | undefined {
    if (this.admin.size === 0) return undefined;
    return this.admin.get(held.key) ?? this.admin.get(held.status.ip);
  }

  /** What the picker sees at the server's position: the report, or a copy with no ready workers while held back. */
  private place(held: Held): void {
    this.edit(held.position, this.adminOf(held) === undefined ? held.status : { ...held.status, ready: 0 });
  }

  private edit(position: number, status: ServerStatus | undefined): void {
    while (this.pickable.length <= position) this.pickable.push(undefined);
    const previous = this.pickable[position];
    if (previous === status) return;
    // Without picks the list would grow forever: past one entry per position, re-weigh all at the next pick.
    if (this.edits.positions.length >= this.pickable.length) {
      this.picker.forget();
      this.edits.positions.length = 0;
      this.edits.previous.length = 0;
    }
    this.pickable[position] = status;
    this.edits.positions.push(position);
    this.edits.previous.push(previous);
  }

  private pickLastKnown<M extends BackendMember>(members: readonly M[] | undefined, now: number): ServerStatus | M | undefined {
    const live: ServerStatus[] = [];
    for (const held of this.table.values()) {
      if (this.adminOf(held) === undefined && now - held.status.lastSeen < this.settings.expireAfter) live.push(held.status);
    }
    const options = { ...this.pickOptions, now, staleAfter: this.settings.expireAfter };
    return members === undefined ? pickBackend(live, undefined, options) : pickBackend(live, members, options);
  }

  /** Stale and expired servers, by this host's clock. */
  private sweep(): void {
    const now = this.clock.now();
    for (const held of [...this.table.values()]) {
      const age = now - held.status.lastSeen;
      if (age >= this.settings.expireAfter) {
        // No message may ever say so (every monitor gone): the source forgets it too, so its bound stays true.
        this.source.forget(held.key);
        this.remove(held);
      }
      else if (age >= this.settings.staleAfter && !held.stale) {
        held.stale = true;
        this.emit('stale', held.status);
      }
    }
    if (this.refusedPending > 0 && now - this.lastRefusalReport >= REFUSAL_REPORT_INTERVAL) this.reportRefusals(now);
  }

  private noteRefusal(reason: string): void {
    this.refusedPending++;
    this.lastRefusal = reason;
    const now = this.clock.now();
    if (now - this.lastRefusalReport >= REFUSAL_REPORT_INTERVAL) this.reportRefusals(now);
  }

  private reportRefusals(now: number): void {
    this.lastRefusalReport = now;
    const count = this.refusedPending;
    this.refusedPending = 0;
    this.emit('error', new Error(`Refused ${count} record(s) from Redis; last reason: ${this.lastRefusal}`));
  }
}
