/**
 * RedisStore: a monitor's store that shares its table through Redis, so proxies on other
 * hosts pick from it (SPEC 3.2). Writes are coalesced per server and sent as one script
 * run per batch; the monitor keeps serving from memory whatever Redis does.
 * @module
 */
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { AdminState } from '../../balancer/server-state.js';
import { StoreError } from '../../errors.js';
import { DEFAULT_EXPIRE_AFTER } from '../../table/settings.js';
import type { ServerStatus } from '../../protocol/server-status.js';
import { expectInteger, expectNumber, expectObject, show } from '../../validate.js';
import type { HeartbeatStore } from '../store.js';
import { watchClientErrors, type RedisScriptClient } from './client.js';
import { DEFAULT_REDIS_PREFIX, tableKeys, type RedisTableKeys } from './keys.js';
import { encodeRecord, isValidMonitorId } from './record.js';
import { ADMIN_SCRIPT, adminKeys, RedisScript, RESTORE_ADMIN_SCRIPT, WRITE_SCRIPT, writeKeys } from './scripts.js';
import type { RedisViewOptions } from '../../views/redis-view.js';
import { RedisView } from '../../views/redis-view.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /** A node-redis client or cluster (`createClient()` / `createCluster()`), connected or connecting. */
  readonly client: RedisScriptClient;
  /**
   * Name of the shared table: its keys are `{prefix}:…` (one hash slot on a cluster).
   * @default 'heartmonitor'
   */
  readonly prefix?: string;
  /**
   * A server that no monitor reported for this long leaves the shared table (ms).
   * @default 30000
   */
  readonly expireAfter?: number;
  /**
   * Most servers this monitor holds (new ones beyond are refused, as with MemoryStore).
   * @default 10000
   */
  readonly maxServers?: number;
  /**
   * Who reports: stored with every record this monitor writes (`heartmonitor status`
   * shows it). Printable, at most 128 characters.
   * @default `${os.hostname()}:${process.pid}`
   */
  readonly monitorId?: string;
  /**
   * Longest wait before a heartbeat is sent (ms): heartbeats arriving meanwhile go in the
   * same script run, and a server beating twice is sent once.
   * @default 10
   */
  readonly batchInterval?: number;
  /**
   * A write not answered within this many ms counts as an outage (reported, retried).
   * @default 2000
   */
  readonly timeout?: number;
  /**
   * Servers per script run; larger batches are split (a script blocks Redis while it runs).
   * @default 1000
   */
  readonly maxBatch?: number;
}

/** Counters of a {@link RedisStore}. */
export interface RedisStoreStats {
  /** Script runs that succeeded. */
  readonly writes: number;
  /** Server reports sent. */
  readonly reportsSent: number;
  /** Argument bytes sent (keys, records; the script's SHA not counted). */
  readonly bytesSent: number;
  /** Reports sent again with their true age after a write whose round trip took over 1 s (Redis stalled: their ages were stamped too young). */
  readonly corrections: number;
  /** Outages seen (failures or timeouts, counted once each until a write succeeds). */
  readonly outages: number;
  /** Whether Redis is currently unreachable for this store. */
  readonly down: boolean;
}

interface Held {
  status: ServerStatus;
  /**
   * Monotonic time of the heartbeat behind the report: ages are sent relative to it, so a
   * rewrite of the same heartbeat (an administrative change, a rewrite after an outage)
   * keeps the age the heartbeat has, and a silent server never looks just heard.
   */
  heardAt: number;
  /** Times this heartbeat was sent again because a slow write stamped it too young (see SLOW_WRITE). */
  corrections: number;
}

const RETRY_INTERVAL = 1000;

/**
 * A write whose round trip took longer than this (ms) may have run on Redis long after it
 * was sent (a stalled or frozen node answers its queue when it thaws): the ages it carried
 * were computed at send time, so its reports may look younger than they are by up to the
 * round trip. They are sent again, with their true ages, in the next write.
 *
 * 1 s: heartbeats come once a second (mod_heartbeat), so a smaller error is less than one
 * heartbeat period and a tenth of the default staleAfter (10 s); a round trip that long is
 * never normal for Redis, so the corrections cost nothing in steady state.
 */
const SLOW_WRITE = 1000;

/**
 * Corrections per heartbeat at most: a Redis that stays slow makes every correction slow
 * too; after these the error left is at most the last round trip, and a new heartbeat
 * (normally within a second) replaces the report anyway.
 */
const MAX_CORRECTIONS = 3;

/**
 * Shares a monitor's table through Redis. Every heartbeat is queued, coalesced per server
 * and sent within `batchInterval` by one run of a Lua script, which keeps the newest report
 * of each server (by the Redis node's clock, so host clocks never need to agree), trims
 * servers nobody reported for `expireAfter`, and publishes the change on a shard channel
 * for the views ({@link RedisStore.attach}).
 *
 * When Redis is down or stalls, the monitor goes on serving from memory: the first failure
 * of an outage is reported once (the monitor's next `flush` rejects, which it emits as
 * `error`), writes are retried every second, and the first write after the outage rewrites
 * this monitor's whole table (a restarted Redis has lost it).
 *
 * @example
 * ```ts
 * const client = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * const monitor = new HeartMonitor({ listen: '239.0.0.1:27999', store: new RedisStore({ client }) });
 * ```
 */
export class RedisStore implements HeartbeatStore {
  /** Capacity in servers. */
  readonly maxServers: number;
  /** The id written with every record. */
  readonly monitorId: string;
  /** The table's keys. */
  readonly keys: RedisTableKeys;
  /** ms after which an unreported server leaves the table. */
  readonly expireAfter: number;
  private readonly client: RedisScriptClient;
  private readonly batchInterval: number;
  private readonly timeout: number;
  private readonly maxBatch: number;
  private readonly held = new Map<string, Held>();
  private readonly pendingPuts = new Set<string>();
  private readonly pendingDeletes = new Set<string>();
  private readonly pendingAdmin = new Map<string, AdminState | '-'>();
  /**
   * Administrative states set through this store and not cleared since: put back with a
   * rewrite when Redis lost the table (a restarted, emptied Redis), never over a table it
   * still has (another monitor may have enabled the server since).
   */
  private readonly adminStates = new Map<string, AdminState>();
  private readonly writeScript = new RedisScript(WRITE_SCRIPT);
  private readonly adminScript = new RedisScript(ADMIN_SCRIPT);
  private readonly restoreAdminScript = new RedisScript(RESTORE_ADMIN_SCRIPT);
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  /** Send every held server with the next write (after an outage, or at the start). */
  private rewrite = true;
  private outage: { error: Error; reported: boolean } | undefined;
  private counts = { writes: 0, reportsSent: 0, bytesSent: 0, outages: 0, corrections: 0 };
  /** A dropped connection may come back to a restarted Redis: rewrite the table then. */
  private readonly onClientError = (error: Error): void => this.fail(error);
  /**
   * Stops hearing the client's errors; set while this store listens (not between close()
   * and the next write, so stores made and closed on one shared client leave nothing behind).
   */
  private unwatch: (() => void) | undefined;

  /** @param options - see {@link RedisStoreOptions}; invalid values throw TypeError/RangeError */
  constructor(options: RedisStoreOptions) {
    expectObject('options', options, 'an object with a `client`');
    const { client } = options;
    if (typeof client !== 'object' || client === null || typeof client.evalSha !== 'function') {
      throw new TypeError(`Expected \`client\` to be a node-redis client or cluster, got ${show(client)}`);
    }
    this.client = client;
    this.keys = tableKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
    this.expireAfter = expectInteger('expireAfter', options.expireAfter ?? DEFAULT_EXPIRE_AFTER, 1000);
    this.maxServers = expectInteger('maxServers', options.maxServers ?? 10_000, 1);
    this.batchInterval = expectNumber('batchInterval', options.batchInterval ?? 10, 0);
    this.timeout = expectNumber('timeout', options.timeout ?? 2000, 1);
    this.maxBatch = expectInteger('maxBatch', options.maxBatch ?? 1000, 1, 100_000);
    const monitorId = options.monitorId ?? `${hostname()}:${process.pid}`;
    if (!isValidMonitorId(monitorId)) throw new TypeError(`Expected \`monitorId\` to be 1-128 printable characters, got ${show(monitorId)}`);
    this.monitorId = monitorId;
    this.watchClient();
  }

  /**
   * A view of the shared table for a proxy on any host: a snapshot, then every change.
   * @param options - the client (the view makes its own subscriber with `duplicate()`, or
   *   subscribes on the given `subscriber`, e.g. a Sentinel client), the prefix, and the
   *   balancing options of a view
   */
  static attach(options: RedisViewOptions): Promise<RedisView> {
    return RedisView.open(options);
  }

  /** Counters since creation. */
  stats(): RedisStoreStats {
    return { ...this.counts, down: this.outage !== undefined };
  }

  /**
   * Queue a server's report for the next batch (held here too: the monitor keeps serving from memory).
   * @returns false when the server is new and this store already holds `maxServers`
   */
  put(server: ServerStatus, key: string = server.ip): boolean {
    const held = this.held.get(key);
    const now = performance.now();
    if (held === undefined) {
      if (this.held.size >= this.maxServers) return false;
      this.held.set(key, { status: server, heardAt: now, corrections: 0 });
    } else {
      // Only a heartbeat (a new lastSeen) makes the report younger; a rewrite for an
      // administrative change reports the same heartbeat with a new state or ramp time.
      if (server.lastSeen !== held.status.lastSeen) {
        held.heardAt = now;
        held.corrections = 0;
      }
      held.status = server;
    }
    this.pendingDeletes.delete(key);
    this.pendingPuts.add(key);
    this.schedule();
    return true;
  }

  /**
   * Forget a server; the shared record goes only if this monitor wrote it last.
   * @returns whether this store held it
   */
  delete(key: string): boolean {
    if (!this.held.delete(key)) return false;
    this.pendingPuts.delete(key);
    this.pendingDeletes.add(key);
    this.schedule();
    return true;
  }

  /** The servers this monitor holds (not the whole shared table: attach a view for that). */
  servers(): ServerStatus[] {
    return Array.from(this.held.values(), (held) => held.status);
  }

  /**
   * Share an administrative state (`drain`, `disable`; undefined: `enable`) with every
   * view of the table. The monitor calls this from its own drain/disable/enable.
   * @param key - `ip` (every port of it) or a server key
   */
  setAdmin(key: string, state: AdminState | undefined): void {
    // Remembered for rewrites; a cleared state is not (an empty admin hash after a restart
    // is already "enabled", and re-sending a clear could undo another monitor's drain).
    if (state === undefined) this.adminStates.delete(key);
    else this.adminStates.set(key, state);
    this.pendingAdmin.set(key, state ?? '-');
    this.schedule();
  }

  /**
   * Send what is queued and wait for it. During an outage it does not wait: it rejects
   * once with the outage's cause (the monitor emits that as `error`), then resolves.
   */
  async flush(): Promise<void> {
    // During an outage a flush is also the probe that ends it (when no write is queued to do so).
    if (this.outage !== undefined && this.inFlight === undefined && this.timer === undefined) void this.send();
    if (this.outage === undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      await this.settled();
      if (this.outage === undefined && this.hasPending()) {
        void this.send();
        await this.settled();
      }
    }
    const outage = this.outage;
    if (outage !== undefined && !outage.reported) {
      outage.reported = true;
      throw new StoreError(`Redis unreachable (table ${this.keys.servers}); serving from memory and retrying every ${RETRY_INTERVAL} ms`, { cause: outage.error });
    }
  }

  /**
   * Final flush; stops the timer and takes this store's `error` listener off the client
   * (the client is the caller's). The store may be used again afterwards.
   */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.unwatch?.();
      this.unwatch = undefined;
    }
  }

  private watchClient(): void {
    this.unwatch ??= watchClientErrors(this.client, this.onClientError);
  }

  /** The write in flight, waited for at most `timeout` (a frozen Redis never answers; its watchdog then starts the outage). */
  private async settled(): Promise<void> {
    const inFlight = this.inFlight;
    if (inFlight === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.timeout + 10);
    });
    await Promise.race([inFlight, expired]);
    clearTimeout(timer);
  }

  private hasPending(): boolean {
    return this.rewrite
      ? this.held.size > 0 || this.pendingDeletes.size > 0 || this.pendingAdmin.size > 0 || this.adminStates.size > 0
      : this.pendingPuts.size > 0 || this.pendingDeletes.size > 0 || this.pendingAdmin.size > 0;
  }

  private schedule(delay = this.batchInterval): void {
    this.watchClient();
    if (this.timer !== undefined || this.inFlight !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.send();
    }, delay).unref();
  }

  /** One write (admin states first, then one batch of reports); reschedules while work remains. */
  private send(): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight;
    if (!this.hasPending() && this.outage === undefined) return Promise.resolve();
    if ((this.client as { isReady?: boolean }).isReady === false) {
      // Not connected: node-redis would queue the command offline; keep the table here instead.
      this.fail(new Error('the Redis client is not connected'));
      this.schedule(RETRY_INTERVAL);
      return Promise.resolve();
    }
    const sending = this.write();
    // A slow answer is an outage to report, but loses nothing if it comes: no rewrite for it
    // (rewriting a whole table on a stalled, busy Redis would only add to its load).
    const watchdog = setTimeout(() => this.fail(new Error(`Redis did not answer within ${this.timeout} ms`), false), this.timeout).unref();
    const inFlight = sending.then(
      () => {
        clearTimeout(watchdog);
        this.outage = undefined;
      },
      (error: unknown) => {
        clearTimeout(watchdog);
        this.fail(error instanceof Error ? error : new Error(String(error)));
      },
    );
    this.inFlight = inFlight;
    void inFlight.finally(() => {
      this.inFlight = undefined;
      if (this.hasPending()) this.schedule(this.outage === undefined ? 0 : RETRY_INTERVAL);
    });
    return inFlight;
  }

  private async write(): Promise<void> {
    // A rewrite (at start, after an outage) may go to a Redis that lost everything: the
    // administrative states set here are put back then, or a drained server would get
    // traffic again. First, before any script of this write numbers a change: the restore
    // tells a lost table by its missing sequence number.
    if (this.rewrite && this.adminStates.size > 0) {
      await this.restoreAdminScript.run(this.client, adminKeys(this.keys), [...this.adminStates].flat());
    }
    for (const [key, state] of [...this.pendingAdmin]) {
      await this.adminScript.run(this.client, adminKeys(this.keys), [key, state]);
      if (this.pendingAdmin.get(key) === state) this.pendingAdmin.delete(key);
    }
    const rewriting = this.rewrite;
    const keys = rewriting ? [...this.held.keys()] : [...this.pendingPuts];
    const deletes = [...this.pendingDeletes];
    // A rewrite goes out in several runs; the first of them clears the flag, any failure sets it again.
    this.rewrite = false;
    for (let start = 0; start < Math.max(keys.length, deletes.length); start += this.maxBatch) {
      // Ages as of this batch's sending (an earlier batch of a rewrite may have taken a while).
      const now = performance.now();
      const args = [String(this.expireAfter), this.monitorId];
      const batch = keys.slice(start, start + this.maxBatch);
      let count = 0;
      const puts: string[] = [];
      for (const key of batch) {
        const held = this.held.get(key);
        if (held === undefined) continue;
        puts.push(key, String(Math.max(0, Math.round(now - held.heardAt))), encodeRecord(held.status, this.monitorId));
        count++;
      }
      const deleted = deletes.slice(start, start + this.maxBatch);
      args.push(String(count), ...puts, String(deleted.length), ...deleted);
      for (const key of batch) this.pendingPuts.delete(key);
      for (const key of deleted) this.pendingDeletes.delete(key);
      try {
        await this.writeScript.run(this.client, writeKeys(this.keys), args);
      } catch (error) {
        // Nothing of this batch is known to be stored: send it again.
        for (const key of batch) if (this.held.has(key)) this.pendingPuts.add(key);
        for (const key of deleted) if (!this.held.has(key)) this.pendingDeletes.add(key);
        throw error;
      }
      this.counts.writes++;
      this.counts.reportsSent += count;
      for (const arg of args) this.counts.bytesSent += Buffer.byteLength(arg);
      // Measured from when the ages were computed: the most they can be too young by.
      if (performance.now() - now > SLOW_WRITE) this.correct(batch, now);
    }
  }

  /**
   * After a slow write: send its reports again, with ages computed now, unless a newer
   * heartbeat replaced them meanwhile (already queued) or they were corrected enough. The
   * write script lets a monitor move its own record's time back, so the correction sticks.
   */
  private correct(batch: readonly string[], sentAt: number): void {
    for (const key of batch) {
      const held = this.held.get(key);
      // A heartbeat heard after the batch's ages were computed (or a server put again) is newer than what was sent.
      if (held === undefined || held.heardAt > sentAt || held.corrections >= MAX_CORRECTIONS) continue;
      held.corrections++;
      this.counts.corrections++;
      this.pendingPuts.add(key);
    }
  }

  /** Start (or continue) an outage, reported once; after a failure the table is rewritten. */
  private fail(error: Error, rewrite = true): void {
    if (rewrite) this.rewrite = true;
    if (this.outage !== undefined) return;
    this.counts.outages++;
    this.outage = { error, reported: false };
  }
}
