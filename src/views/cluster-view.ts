/**
 * ClusterView: the table of a monitor running in the cluster primary (or the parent of a
 * forked child), in a worker process. It starts from the snapshot the primary sends in
 * answer to its hello and applies the primary's change batches as they arrive.
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import type { BackendMember } from '../protocol/address.js';
import type { Clock } from '../clock.js';
import type { PickOptions } from '../picking/selection.js';
import { SnapshotPicker, type SnapshotEdits } from '../picking/snapshot-picker.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { expectFunction, expectInteger, expectNumber, expectObject, expectOneOf, expectString } from '../validate.js';
import { DEFAULT_CHANNEL, fromRow, isOnChannel, readSettings, type HelloMessage, type SharedSettings } from './cluster-messages.js';

/** How long {@link ClusterView.connect} waits for the primary's snapshot by default. */
export const DEFAULT_CONNECT_TIMEOUT = 5000;

/** The IPC end of a worker or forked child: `process` itself unless a test passes another. */
export interface IpcChannel {
  send?: ((message: unknown, callback: (error: Error | null) => void) => boolean) | undefined;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/** Options of {@link ClusterView.connect}. */
export interface ClusterViewOptions extends Omit<PickOptions, 'now'> {
  /**
   * The channel name given to `monitor.shareWithCluster()`.
   * @default 'heartmonitor'
   */
  readonly channel?: string;
  /**
   * ms to wait for the primary's snapshot before `connect()` rejects.
   * @default 5000
   */
  readonly timeout?: number;
  /**
   * Wall clock used to age servers (inject a fake one in tests).
   * @default Date.now
   */
  readonly clock?: Pick<Clock, 'now'>;
  /**
   * The IPC channel to the primary.
   * @default process
   */
  readonly ipc?: IpcChannel;
}

/** The events of {@link ClusterView}, with their payloads. */
export interface ClusterViewEvents {
  /** A server joined the table. */
  add: [server: ServerStatus];
  /** A server's record changed (a heartbeat, or its administrative state). */
  update: [server: ServerStatus];
  /** A server was not heard from for `staleAfter` and is no longer picked. */
  stale: [server: ServerStatus];
  /** A server left the table. */
  remove: [server: ServerStatus];
  /** A malformed message from the primary (it was ignored). */
  error: [error: Error];
}

/**
 * The monitor's table in a `node:cluster` worker or a `child_process.fork()` child, kept
 * current by the primary's `monitor.shareWithCluster()`: a snapshot when it connects
 * (also after {@link ClusterView.resync}), then the changes of each of the primary's
 * event-loop turns in one message. Picks use the same rule and settings as the monitor.
 *
 * @example
 * ```ts
 * // primary
 * monitor.shareWithCluster();
 * cluster.fork();
 * // worker
 * const view = await ClusterView.connect();
 * const target = view.pickBackend(['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
 * ```
 */
export class ClusterView extends EventEmitter<ClusterViewEvents> {
  /** The channel name. */
  readonly channel: string;
  private readonly ipc: IpcChannel;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly overrides: ClusterViewOptions;
  private readonly random: () => number;
  private settingsNow: SharedSettings | undefined;
  private picker: SnapshotPicker | undefined;
  /** Servers by position; a position is a key's for as long as it is in the table. */
  private readonly records: (ServerStatus | undefined)[] = [];
  private readonly positionOf = new Map<string, number>();
  private readonly keyAt: (string | undefined)[] = [];
  private readonly freePositions: number[] = [];
  /** Positions reported stale and not heard from since. */
  private readonly staleReported = new Set<number>();
  private readonly edits = { positions: [] as number[], previous: [] as (ServerStatus | undefined)[] } satisfies SnapshotEdits;
  private readonly onMessage = (message: unknown): void => this.receive(message);
  private waiting: { resolve: () => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(options: ClusterViewOptions) {
    super();
    expectObject('options', options);
    this.channel = expectString('channel', options.channel ?? DEFAULT_CHANNEL);
    this.ipc = options.ipc ?? process;
    this.clock = options.clock ?? { now: Date.now };
    this.random = options.random === undefined ? Math.random : expectFunction<() => number>('random', options.random);
    if (options.staleAfter !== undefined) expectNumber('staleAfter', options.staleAfter, 1);
    if (options.warmupDivisor !== undefined) expectInteger('warmupDivisor', options.warmupDivisor, 1);
    if (options.keyBy !== undefined) expectOneOf('keyBy', options.keyBy, ['ip', 'ip:port'] as const);
    this.overrides = options;
  }

  /**
   * Connect to the primary's `monitor.shareWithCluster()` and resolve with its table.
   *
   * @param options - channel, timeout and per-view selection overrides
   * @throws Error when this process has no IPC channel, or no snapshot arrives in time
   */
  static async connect(options: ClusterViewOptions = {}): Promise<ClusterView> {
    const view = new ClusterView(options);
    const timeout = expectInteger('timeout', options.timeout ?? DEFAULT_CONNECT_TIMEOUT, 1);
    if (typeof view.ipc.send !== 'function') {
      throw new Error('ClusterView.connect() needs an IPC channel to the primary: run it in a node:cluster worker or a child_process.fork() child');
    }
    view.ipc.on('message', view.onMessage);
    try {
      await view.requestSnapshot(timeout);
    } catch (error) {
      view.ipc.off('message', view.onMessage);
      throw error;
    }
    return view;
  }

  /** The selection settings in use: the primary's, with this view's overrides applied. */
  get settings(): SharedSettings {
    const shared = this.settingsNow ?? { staleAfter: 10_000, expireAfter: 30_000, warmupDivisor: 4, keyBy: 'ip' as const };
    return {
      staleAfter: this.overrides.staleAfter ?? shared.staleAfter,
      expireAfter: shared.expireAfter,
      warmupDivisor: this.overrides.warmupDivisor ?? shared.warmupDivisor,
      keyBy: this.overrides.keyBy ?? shared.keyBy,
    };
  }

  /** The servers in the table now, leaving out expired ones. */
  servers(): ServerStatus[] {
    const now = this.clock.now();
    const { expireAfter } = this.settings;
    return this.records.filter((server): server is ServerStatus => server !== undefined && now - server.lastSeen < expireAfter);
  }

  /**
   * Pick a server among all fresh servers (SPEC 1.8), as the monitor would by its table.
   * @returns the server, or undefined when none has weight
   */
  pickBackend(): ServerStatus | undefined;
  /**
   * Pick one of `members` like lbmethod=heartbeat.
   * @param members - URLs, `host:port` strings or `{ host, port }` objects
   * @returns the chosen member itself, or undefined when no member has weight
   */
  pickBackend<M extends BackendMember>(members: readonly M[]): M | undefined;
  pickBackend<M extends BackendMember>(members?: readonly M[]): ServerStatus | M | undefined {
    const picker = this.picker;
    if (picker === undefined) return undefined;
    const picked = picker.pick(this.records, members, this.clock.now(), this.edits);
    this.clearEdits();
    return picked;
  }

  /**
   * Ask the primary for a fresh snapshot (after the primary restarted its sharing, say);
   * resolves once it is applied.
   * @throws Error when no snapshot arrives within `timeout` ms
   */
  resync(timeout = DEFAULT_CONNECT_TIMEOUT): Promise<void> {
    return this.requestSnapshot(expectInteger('timeout', timeout, 1));
  }

  /** Stop listening to the primary; the view keeps its last table. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.ipc.off('message', this.onMessage);
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
      this.waiting?.reject(new Error('ClusterView closed before the snapshot arrived'));
    }
    return Promise.resolve();
  }

  private requestSnapshot(timeout: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('ClusterView is closed'));
    this.waiting?.reject(new Error('A newer snapshot request replaced this one'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`No snapshot from the primary on channel ${JSON.stringify(this.channel)} within ${timeout} ms: is monitor.shareWithCluster() running there?`));
      }, timeout);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiting = undefined;
        settle();
      };
      this.waiting = { resolve: () => done(resolve), reject: (error) => done(() => reject(error)), timer };
      const hello: HelloMessage = { heartmonitor: this.channel, type: 'hello' };
      try {
        this.ipc.send?.(hello, (error) => {
          if (error !== null) this.waiting?.reject(error);
        });
      } catch (error) {
        this.waiting?.reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  private receive(message: unknown): void {
    if (this.closed || !isOnChannel(message, this.channel)) return;
    const body = message as Record<string, unknown>;
    if (body.type === 'snapshot') this.applySnapshot(body);
    else if (body.type === 'changes') this.applyChanges(body);
  }

  private applySnapshot(body: Record<string, unknown>): void {
    const settings = readSettings(body.settings);
    if (settings === undefined || !Array.isArray(body.servers)) {
      this.fault('a snapshot without valid settings or servers');
      return;
    }
    const changedSettings = this.settingsNow === undefined || JSON.stringify(settings) !== JSON.stringify(this.settingsNow);
    this.settingsNow = settings;
    if (changedSettings) {
      const { staleAfter, warmupDivisor, keyBy, expireAfter } = this.settings;
      this.picker = new SnapshotPicker({ random: this.random, staleAfter, warmupDivisor, keyBy }, expireAfter);
    }
    const present = new Set<string>();
    for (const row of body.servers as unknown[]) {
      const key = this.put(row);
      if (key !== undefined) present.add(key);
    }
    for (const key of [...this.positionOf.keys()]) if (!present.has(key)) this.remove(key);
    this.startSweep();
    this.waiting?.resolve();
  }

  private applyChanges(body: Record<string, unknown>): void {
    if (this.settingsNow === undefined) return; // changes before our snapshot: the snapshot holds them
    if (!Array.isArray(body.put) || !Array.isArray(body.remove)) {
      this.fault('a change batch without put and remove lists');
      return;
    }
    for (const row of body.put as unknown[]) this.put(row);
    for (const key of body.remove as unknown[]) if (typeof key === 'string') this.remove(key);
  }

  /** Apply one row; returns its key, or undefined (and reports it) when malformed. */
  private put(row: unknown): string | undefined {
    const server = fromRow(row);
    const key = (row as unknown[] | undefined)?.[0];
    if (server === undefined || typeof key !== 'string') {
      this.fault('a malformed server row');
      return undefined;
    }
    let position = this.positionOf.get(key);
    const isNew = position === undefined;
    if (position === undefined) {
      position = this.freePositions.pop() ?? this.records.length;
      this.positionOf.set(key, position);
      this.keyAt[position] = key;
    }
    const previous = this.records[position];
    this.records[position] = server;
    this.noteEdit(position, previous);
    this.staleReported.delete(position);
    if (isNew) this.safeEmit('add', server);
    this.safeEmit('update', server);
    return key;
  }

  private remove(key: string): void {
    const position = this.positionOf.get(key);
    if (position === undefined) return;
    const previous = this.records[position];
    this.positionOf.delete(key);
    this.keyAt[position] = undefined;
    this.records[position] = undefined;
    this.freePositions.push(position);
    this.staleReported.delete(position);
    this.noteEdit(position, previous);
    if (previous !== undefined) this.safeEmit('remove', previous);
  }

  private noteEdit(position: number, previous: ServerStatus | undefined): void {
    // Without picks the list would grow forever: past one entry per position, re-weigh all instead.
    if (this.edits.positions.length >= this.records.length) this.clearEdits(true);
    this.edits.positions.push(position);
    this.edits.previous.push(previous);
  }

  private clearEdits(forgetSnapshot = false): void {
    if (forgetSnapshot && this.edits.positions.length > 0) this.picker?.forget();
    this.edits.positions.length = 0;
    this.edits.previous.length = 0;
  }

  /** Report servers that turned stale (the primary sends nothing when a server falls silent). */
  private startSweep(): void {
    if (this.sweepTimer !== undefined) return;
    const every = Math.min(1000, Math.max(10, this.settings.staleAfter / 10));
    this.sweepTimer = setInterval(() => this.sweep(), every).unref();
  }

  private sweep(): void {
    const now = this.clock.now();
    const { staleAfter } = this.settings;
    for (let position = 0; position < this.records.length; position++) {
      const server = this.records[position];
      if (server === undefined || this.staleReported.has(position) || now - server.lastSeen < staleAfter) continue;
      this.staleReported.add(position);
      this.safeEmit('stale', server);
    }
  }

  private fault(what: string): void {
    this.safeEmit('error', new Error(`ClusterView ignored ${what} from the primary`));
  }

  private safeEmit<E extends keyof ClusterViewEvents>(event: E, ...args: ClusterViewEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: ClusterViewEvents[E]) => boolean)(event, ...args);
    } catch (cause) {
      if (event !== 'error') this.safeEmit('error', cause instanceof Error ? cause : new Error(String(cause)));
    }
  }
}
