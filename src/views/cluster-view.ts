/**
 * ClusterView: the table of a monitor running in the cluster primary (or the parent of a
 * forked child), in a worker process. It starts from the snapshot the primary sends in
 * answer to its hello and applies the primary's change batches as they arrive.
 * @module
 */
import { TABLE_DEFAULTS } from '../table/settings.js';
import { expectInteger, expectString } from '../validate.js';
import { BalancedView, type ViewSettings } from './balanced-view.js';
import { DEFAULT_CHANNEL, fromRow, isOnChannel, readSettings, type HelloMessage, type SharedSettings } from './cluster-messages.js';
import type { HeartbeatView, HeartbeatViewEvents, HeartbeatViewOptions } from './view.js';

/** How long {@link ClusterView.connect} waits for the primary's snapshot by default. */
export const DEFAULT_CONNECT_TIMEOUT = 5000;

/** The IPC end of a worker or forked child: `process` itself unless a test passes another. */
export interface IpcChannel {
  send?: ((message: object, callback: (error: Error | null) => void) => boolean) | undefined;
  on(event: 'message', listener: (message: unknown) => void): unknown;
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
   * ms to wait for the primary's snapshot before `connect()` rejects.
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
export class ClusterView extends BalancedView implements HeartbeatView {
  /** The channel name. */
  readonly channel: string;
  private readonly ipc: IpcChannel;
  private settingsNow: SharedSettings | undefined;
  private readonly onMessage = (message: unknown): void => this.receive(message);
  private waiting: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private closed = false;

  private constructor(options: ClusterViewOptions) {
    super(options);
    this.channel = expectString('channel', options.channel ?? DEFAULT_CHANNEL);
    this.ipc = options.ipc ?? process;
  }

  /**
   * Connect to the primary's `monitor.shareWithCluster()` and resolve with its table.
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

  /** The selection settings in use: the primary's, with this view's overrides applied. */
  get settings(): ViewSettings {
    return this.effectiveSettings(this.settingsNow ?? TABLE_DEFAULTS);
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
      this.stopTable();
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
      this.waiting = { resolve: () => done(resolve), reject: (error) => done(() => reject(error)) };
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
    this.settingsNow ??= settings;
    this.startTable(this.settingsNow);
    const present = new Set<string>();
    for (const row of body.servers as unknown[]) {
      const key = this.put(row);
      if (key !== undefined) present.add(key);
    }
    for (const key of this.tableKeys()) if (!present.has(key)) this.removeRecord(key);
    this.waiting?.resolve();
  }

  private applyChanges(body: Record<string, unknown>): void {
    if (this.settingsNow === undefined) return; // changes before our snapshot: the snapshot holds them
    if (!Array.isArray(body.put) || !Array.isArray(body.remove)) {
      this.fault('a change batch without put and remove lists');
      return;
    }
    for (const row of body.put as unknown[]) this.put(row);
    for (const key of body.remove as unknown[]) if (typeof key === 'string') this.removeRecord(key);
  }

  /** Apply one row; returns its key, or undefined (and reports it) when malformed. */
  private put(row: unknown): string | undefined {
    const server = fromRow(row);
    const key = (row as unknown[] | undefined)?.[0];
    if (server === undefined || typeof key !== 'string') {
      this.fault('a malformed server row');
      return undefined;
    }
    this.applyRecord(key, server);
    return key;
  }

  private fault(what: string): void {
    this.reportFault(new Error(`ClusterView ignored ${what} from the primary`));
  }
}
