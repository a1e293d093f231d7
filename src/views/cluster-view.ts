/**
 * ClusterView: the table of a monitor running in the cluster primary (or the parent of a
 * forked child), in a worker process. It says hello until a snapshot arrives (the primary
 * may share its table after the worker started), starts from that snapshot and applies the
 * primary's change batches as they arrive; a snapshot it did not ask for (a share started
 * or replaced in the primary) resynchronises it.
 * @module
 */
import type { ServerStatus } from '../protocol/server-status.js';
import { TABLE_DEFAULTS } from '../table/settings.js';
import { expectInteger, expectString } from '../validate.js';
import { BalancedView, type ViewSettings } from './balanced-view.js';
import { DEFAULT_CHANNEL, fromRow, isOnChannel, readSettings, type HelloMessage, type SharedSettings } from './cluster-messages.js';
import type { HeartbeatView, HeartbeatViewEvents, HeartbeatViewOptions } from './view.js';

/** How long {@link ClusterView.connect} waits for the primary's snapshot by default. */
export const DEFAULT_CONNECT_TIMEOUT = 5000;

/** A view says hello again after this many ms without a snapshot, doubling up to HELLO_RETRY_MAX. */
const HELLO_RETRY_FIRST = 250;
const HELLO_RETRY_MAX = 1000;

/** The IPC end of a worker or forked child: `process` itself unless a test passes another. */
export interface IpcChannel {
  /** Send a message to the primary or parent (`process.send`; absent when there is no IPC channel). */
  send?: ((message: object, callback: (error: Error | null) => void) => boolean) | undefined;
  /** Hear the primary's or parent's messages. */
  on(event: 'message', listener: (message: unknown) => void): unknown;
  /** Stop hearing them. */
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/** Options of {@link ClusterView.connect}: the monitor's balancing options, and the channel. */
export interface ClusterViewOptions extends HeartbeatViewOptions {
  /**
   * The channel name given to `monitor.shareWithCluster()`.
   * @default 'heartmonitor'
   */
  readonly channel?: string;
  /**
   * ms to wait for the primary's snapshot before `connect()` rejects; meanwhile the view
   * says hello again every 250 ms to 1 s, so a primary that shares its table after the
   * worker started is found.
   * @default 5000
   */
  readonly timeout?: number;
  /**
   * The IPC channel to the primary.
   * @default process
   */
  readonly ipc?: IpcChannel;
}

/** The events of {@link ClusterView} (those of every view). */
export type ClusterViewEvents = HeartbeatViewEvents;

/**
 * The monitor's table in a `node:cluster` worker or a `child_process.fork()` child, kept
 * current by the primary's `monitor.shareWithCluster()`: a snapshot when it connects
 * (also after {@link ClusterView.resync}, and whenever the primary starts a new share),
 * then the changes of each of the primary's event-loop turns in one message. Picks use the
 * same rule and settings as the monitor.
 *
 * Servers in the table when `connect()` resolves are announced like every view's: their
 * `add` (and `update`) events fire once the view is yours, at its first read or its first
 * timer tick — attach listeners right after `await ClusterView.connect()` to hear them.
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
export class ClusterView extends BalancedView implements HeartbeatView {
  /** The channel name. */
  readonly channel: string;
  private readonly ipc: IpcChannel;
  /** The settings of the last snapshot (the primary's monitor). */
  private settingsNow: SharedSettings | undefined;
  /** Server rows of the message being applied that were refused (reported once per message). */
  private badRows = 0;
  /**
   * The first snapshot (with the changes since), until the view is first read or its timer
   * ticks: applied then, so its servers' events reach listeners attached after connect().
   */
  private pending: { settings: SharedSettings; servers: Map<string, ServerStatus> } | undefined;
  private readonly onMessage = (message: unknown): void => this.receive(message);
  private waiting: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private closed = false;

  private constructor(options: ClusterViewOptions) {
    super(options);
    this.channel = expectString('channel', options.channel ?? DEFAULT_CHANNEL);
    this.ipc = options.ipc ?? process;
  }

  /**
   * Connect to the primary's `monitor.shareWithCluster()` and resolve with its table. The
   * primary may share it after this worker started: the view says hello again every
   * 250 ms to 1 s until a snapshot arrives or `timeout` passes.
   *
   * @param options - channel, timeout, balancing options and per-view selection overrides
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
      view.stopTable();
      throw error;
    }
    return view;
  }

  /**
   * The selection settings in use: those of the primary's last snapshot, with this view's
   * overrides (`staleAfter`, `warmupDivisor`, `keyBy` given to `connect()`) applied.
   */
  get settings(): ViewSettings {
    return this.effectiveSettings(this.settingsNow ?? TABLE_DEFAULTS);
  }

  /**
   * Ask the primary for a fresh snapshot; resolves once it arrived. Rarely needed: the
   * primary sends one by itself when a share starts.
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
      this.stopTable();
      this.waiting?.reject(new Error('ClusterView closed before the snapshot arrived'));
    }
    return Promise.resolve();
  }

  /** Apply the first snapshot before the first read (and on the view's first timer tick). @internal */
  protected override sync(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    this.load(pending.settings, pending.servers);
    // Closed before its first read: the view keeps this table, without a timer.
    if (this.closed) this.stopTable();
  }

  private requestSnapshot(timeout: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('ClusterView is closed'));
    this.waiting?.reject(new Error('A newer snapshot request replaced this one'));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let retry: NodeJS.Timeout | undefined;
      const done = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(retry);
        if (this.waiting === waiting) this.waiting = undefined;
        settle();
      };
      const waiting = { resolve: () => done(resolve), reject: (error: Error) => done(() => reject(error)) };
      const timer = setTimeout(() => {
        waiting.reject(new Error(`No snapshot from the primary on channel ${JSON.stringify(this.channel)} within ${timeout} ms: is monitor.shareWithCluster() running there?`));
      }, timeout);
      this.waiting = waiting;
      const hello: HelloMessage = { heartmonitor: this.channel, type: 'hello' };
      let every = HELLO_RETRY_FIRST;
      const sayHello = (): void => {
        try {
          this.ipc.send?.(hello, (error) => {
            if (error !== null) waiting.reject(error);
          });
        } catch (error) {
          waiting.reject(error instanceof Error ? error : new Error(String(error)));
        }
        // A hello the primary got before it shared its table is lost: say it again.
        if (!settled) retry = setTimeout(sayHello, every);
        every = Math.min(every * 2, HELLO_RETRY_MAX);
      };
      sayHello();
    });
  }

  private receive(message: unknown): void {
    if (this.closed || !isOnChannel(message, this.channel)) return;
    const body = message as Record<string, unknown>;
    this.badRows = 0;
    if (body.type === 'snapshot') this.applySnapshot(body);
    else if (body.type === 'changes') this.applyChanges(body);
    // One report per message, however many of its rows were refused (never a storm of events).
    if (this.badRows > 0) this.reportFault(new Error(`ClusterView ignored ${this.badRows} malformed server row(s) from the primary`), this.badRows);
  }

  /** A snapshot: asked for (hello, resync) or not (the primary started a share); either way the whole table. */
  private applySnapshot(body: Record<string, unknown>): void {
    const settings = readSettings(body.settings);
    if (settings === undefined || !Array.isArray(body.servers)) {
      this.fault('a snapshot without valid settings or servers');
      return;
    }
    const servers = new Map<string, ServerStatus>();
    for (const row of body.servers as unknown[]) {
      const parsed = this.parse(row);
      if (parsed !== undefined) servers.set(parsed[0], parsed[1]);
    }
    const first = this.settingsNow === undefined;
    // Each snapshot's settings are the primary's monitor's now (it may have been replaced by
    // one configured otherwise); this view's own overrides still win.
    this.settingsNow = settings;
    if (first || this.pending !== undefined) {
      // The table (and its timer) starts now; the servers go in at the first read.
      this.startTable(settings);
      this.pending = { settings, servers };
    } else {
      this.load(settings, servers);
    }
    this.waiting?.resolve();
  }

  private applyChanges(body: Record<string, unknown>): void {
    if (this.settingsNow === undefined) return; // changes before our snapshot: the snapshot holds them
    if (!Array.isArray(body.put) || !Array.isArray(body.remove)) {
      this.fault('a change batch without put and remove lists');
      return;
    }
    const pending = this.pending?.servers;
    for (const row of body.put as unknown[]) {
      const parsed = this.parse(row);
      if (parsed === undefined) continue;
      if (pending === undefined) this.applyRecord(parsed[0], parsed[1]);
      else pending.set(parsed[0], parsed[1]);
    }
    for (const key of body.remove as unknown[]) {
      if (typeof key !== 'string') continue;
      if (pending === undefined) this.removeRecord(key);
      else pending.delete(key);
    }
  }

  /** Make the table what a snapshot says: its settings, its servers, nothing else. */
  private load(settings: SharedSettings, servers: ReadonlyMap<string, ServerStatus>): void {
    this.reload(settings, () => {
      for (const [key, server] of servers) this.applyRecord(key, server);
      for (const key of this.tableKeys()) if (!servers.has(key)) this.removeRecord(key);
    });
  }

  /** One row as key and status, or undefined (and reported) when malformed. */
  private parse(row: unknown): [string, ServerStatus] | undefined {
    const server = fromRow(row);
    const key = (row as unknown[] | undefined)?.[0];
    if (server === undefined || typeof key !== 'string') {
      this.badRows++;
      return undefined;
    }
    return [key, server];
  }

  private fault(what: string): void {
    this.reportFault(new Error(`ClusterView ignored ${what} from the primary`));
  }
}
