/**
 * The primary's side of the cluster view: keeps a copy of the monitor's table as wire
 * rows, answers every worker's hello with a snapshot and sends every subscribed worker
 * the changes of each event-loop turn as one batch.
 * @module
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import type { ServerStatus } from '../protocol/server-status.js';
import { expectBoolean, expectObject, expectString } from '../validate.js';
import { DEFAULT_CHANNEL, isOnChannel, toRow, type ChangesMessage, type ServerRow, type SharedSettings, type SnapshotMessage } from './cluster-messages.js';

/** Options of `monitor.shareWithCluster()`. */
export interface ClusterShareOptions {
  /**
   * Name of the channel, for more than one monitor per primary; workers pass the same
   * `channel` to `ClusterView.connect()`.
   * @default 'heartmonitor'
   */
  readonly channel?: string;
  /**
   * Serve `node:cluster` workers (every current and future one that connects).
   * `child_process.fork()` children are added with {@link ClusterShare.add}.
   * @default true in a cluster primary
   */
  readonly cluster?: boolean;
}

/** A process the primary can talk to over IPC: a cluster worker or a forked child. */
export interface IpcPeer {
  send(message: object, callback: (error: Error | null) => void): boolean;
  readonly connected?: boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect' | 'exit', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'disconnect' | 'exit', listener: () => void): unknown;
}

/** Counters of a {@link ClusterShare}. */
export interface ClusterShareStats {
  /** Workers receiving changes now. */
  readonly workers: number;
  /** Snapshots sent (one per hello). */
  readonly snapshots: number;
  /** Change batches sent, counted once per batch (not per worker). */
  readonly batches: number;
  /** Server rows sent in change batches, counted once per batch. */
  readonly rows: number;
}

/**
 * Shares a monitor's table with cluster workers and forked children; made by
 * `monitor.shareWithCluster()`. Workers read it through `ClusterView.connect()`.
 */
export class ClusterShare {
  /** The channel name. */
  readonly channel: string;
  private readonly rows = new Map<string, ServerRow>();
  private readonly subscribers = new Set<IpcPeer>();
  /** Peers added with add(): their listeners, to remove on close. */
  private readonly peers = new Map<IpcPeer, () => void>();
  private readonly pendingPut = new Map<string, ServerRow>();
  private readonly pendingRemove = new Set<string>();
  private scheduled: NodeJS.Immediate | undefined;
  private readonly onClusterMessage: ((worker: ClusterWorker, message: unknown) => void) | undefined;
  private closed = false;
  private counts = { snapshots: 0, batches: 0, rows: 0 };

  /**
   * @param settings - the monitor's selection settings, sent with every snapshot
   * @param onClose - called once by {@link ClusterShare.close} (the monitor stops feeding it)
   * @internal
   */
  constructor(
    private readonly settings: SharedSettings,
    options: ClusterShareOptions,
    private readonly onClose: (share: ClusterShare) => void,
  ) {
    expectObject('options', options);
    this.channel = expectString('channel', options.channel ?? DEFAULT_CHANNEL);
    if (options.cluster === undefined ? cluster.isPrimary : expectBoolean('cluster', options.cluster)) {
      this.onClusterMessage = (worker, message) => this.receive(worker, message);
      cluster.on('message', this.onClusterMessage);
    }
  }

  /** Counters since the share was made. */
  stats(): ClusterShareStats {
    return { workers: this.subscribers.size, ...this.counts };
  }

  /**
   * Serve a `child_process.fork()` child (or any IPC peer): it gets a snapshot when its
   * `ClusterView.connect()` says hello, then every change. Cluster workers need no call.
   */
  add(peer: IpcPeer): void {
    if (this.closed || this.peers.has(peer)) return;
    const onMessage = (message: unknown): void => this.receive(peer, message);
    const onGone = (): void => this.unsubscribe(peer);
    peer.on('message', onMessage);
    peer.on('disconnect', onGone);
    peer.on('exit', onGone);
    this.peers.set(peer, () => {
      peer.off('message', onMessage);
      peer.off('disconnect', onGone);
      peer.off('exit', onGone);
    });
  }

  /** Stop sharing: no more snapshots or changes; listeners on peers and `cluster` are removed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.onClusterMessage !== undefined) cluster.off('message', this.onClusterMessage);
    for (const detach of this.peers.values()) detach();
    this.peers.clear();
    this.subscribers.clear();
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.onClose(this);
  }

  /** A server was written to the table (the monitor calls this with what it stores). @internal */
  put(key: string, server: ServerStatus): void {
    const row = toRow(key, server);
    this.rows.set(key, row);
    if (this.subscribers.size === 0) return;
    this.pendingRemove.delete(key);
    this.pendingPut.set(key, row);
    this.schedule();
  }

  /** A server left the table. @internal */
  delete(key: string): void {
    if (!this.rows.delete(key) || this.subscribers.size === 0) return;
    this.pendingPut.delete(key);
    this.pendingRemove.add(key);
    this.schedule();
  }

  private receive(peer: IpcPeer, message: unknown): void {
    if (this.closed || !isOnChannel(message, this.channel) || message.type !== 'hello') return;
    if (!this.subscribers.has(peer) && isClusterWorker(peer)) {
      const onGone = (): void => this.unsubscribe(peer);
      peer.once('disconnect', onGone);
    }
    // The snapshot holds every pending change, so a new worker needs nothing older.
    const snapshot: SnapshotMessage = { heartmonitor: this.channel, type: 'snapshot', settings: this.settings, servers: [...this.rows.values()] };
    this.counts.snapshots++;
    this.subscribers.add(peer);
    this.sendTo(peer, snapshot);
  }

  private unsubscribe(peer: IpcPeer): void {
    this.subscribers.delete(peer);
  }

  private schedule(): void {
    // One batch per event-loop turn: every datagram read in this turn travels together.
    this.scheduled ??= setImmediate(() => this.sendChanges());
  }

  private sendChanges(): void {
    this.scheduled = undefined;
    if (this.pendingPut.size === 0 && this.pendingRemove.size === 0) return;
    const message: ChangesMessage = { heartmonitor: this.channel, type: 'changes', put: [...this.pendingPut.values()], remove: [...this.pendingRemove] };
    this.pendingPut.clear();
    this.pendingRemove.clear();
    this.counts.batches++;
    this.counts.rows += message.put.length;
    for (const peer of this.subscribers) this.sendTo(peer, message);
  }

  private sendTo(peer: IpcPeer, message: SnapshotMessage | ChangesMessage): void {
    if (peer.connected === false) {
      this.unsubscribe(peer);
      return;
    }
    try {
      // A failed send means the channel closed: the worker reconnects with a new hello.
      peer.send(message, (error) => {
        if (error !== null) this.unsubscribe(peer);
      });
    } catch {
      this.unsubscribe(peer);
    }
  }
}

function isClusterWorker(peer: IpcPeer): peer is IpcPeer & ClusterWorker {
  return typeof (peer as Partial<ClusterWorker>).isDead === 'function';
}
