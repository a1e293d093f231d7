/**
 * The primary's side of the cluster view: keeps a copy of the monitor's table as wire
 * rows, sends a snapshot to every worker when it starts (and to every child `add()`ed) and
 * in answer to every hello, then sends every subscribed worker the changes of each
 * event-loop turn as one batch. One open share per channel and process serves the
 * cluster's workers, so no worker gets two streams on one channel.
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
   * Serve `node:cluster` workers: every current one gets a snapshot when the share starts,
   * every future one when its `ClusterView.connect()` says hello. `child_process.fork()`
   * children are added with {@link ClusterShare.add}.
   * @default true in a cluster primary
   */
  readonly cluster?: boolean;
}

/** A process the primary can talk to over IPC: a cluster worker or a forked child. */
export interface IpcPeer {
  /** Send a message to the worker or child; `callback` hears when it was written (or why not). */
  send(message: object, callback: (error: Error | null) => void): boolean;
  /** False once the IPC channel closed (a `ChildProcess` has it; a cluster worker's process does). */
  readonly connected?: boolean;
  /** Hear the worker's or child's messages (its view's `hello`). */
  on(event: 'message', listener: (message: unknown) => void): unknown;
  /** Hear it go away: the share then stops sending to it. */
  on(event: 'disconnect' | 'exit', listener: () => void): unknown;
  /** Stop hearing its messages. */
  off(event: 'message', listener: (message: unknown) => void): unknown;
  /** Stop hearing it go away. */
  off(event: 'disconnect' | 'exit', listener: () => void): unknown;
}

/** Counters of a {@link ClusterShare}. */
export interface ClusterShareStats {
  /** Workers receiving changes now. */
  readonly workers: number;
  /** Snapshots sent (one per hello, and one per worker or child when the share starts or adds it). */
  readonly snapshots: number;
  /** Change batches sent, counted once per batch (not per worker). */
  readonly batches: number;
  /** Server rows sent in change batches, counted once per batch. */
  readonly rows: number;
}

/** Open shares that serve `node:cluster` workers, by channel (one per channel and process). */
const clusterShares = new Map<string, ClusterShare>();

/**
 * Shares a monitor's table with cluster workers and forked children; made by
 * `monitor.shareWithCluster()`. Workers read it through `ClusterView.connect()`.
 */
export class ClusterShare {
  /** The channel name. */
  readonly channel: string;
  /** Whether it serves `node:cluster` workers (else only the peers given to {@link ClusterShare.add}). */
  readonly cluster: boolean;
  private readonly rows = new Map<string, ServerRow>();
  private readonly subscribers = new Set<IpcPeer>();
  /** Peers added with add(): their listeners, to remove on close. */
  private readonly peers = new Map<IpcPeer, () => void>();
  private readonly pendingPut = new Map<string, ServerRow>();
  private readonly pendingRemove = new Set<string>();
  /** Cluster workers subscribed, with their `disconnect` listener (removed on close). */
  private readonly workerListeners = new Map<IpcPeer & ClusterWorker, () => void>();
  /** Peers with a snapshot still being written: a hello from one of them gets that snapshot. */
  private readonly snapshotsInFlight = new Set<IpcPeer>();
  private scheduled: NodeJS.Immediate | undefined;
  private readonly onClusterMessage: ((worker: ClusterWorker, message: unknown) => void) | undefined;
  private closed = false;
  private counts = { snapshots: 0, batches: 0, rows: 0 };

  /**
   * @param settings - the monitor's selection settings, sent with every snapshot
   * @param onClose - called once by {@link ClusterShare.close} (the monitor stops feeding it)
   * @throws Error when another open share of this process serves cluster workers on the channel
   * @internal
   */
  constructor(
    private readonly settings: SharedSettings,
    options: ClusterShareOptions,
    private readonly onClose: (share: ClusterShare) => void,
  ) {
    expectObject('options', options);
    this.channel = expectString('channel', options.channel ?? DEFAULT_CHANNEL);
    this.cluster = options.cluster === undefined ? cluster.isPrimary : expectBoolean('cluster', options.cluster);
    if (this.cluster) {
      // Two shares on one channel would send every worker two snapshots and every change twice.
      if (clusterShares.has(this.channel)) {
        throw new Error(`Another monitor already shares its table with the cluster's workers on channel ${JSON.stringify(this.channel)}: close that share (or its monitor) first, or give this one another \`channel\``);
      }
      clusterShares.set(this.channel, this);
      this.onClusterMessage = (worker, message) => this.receive(worker, message);
      cluster.on('message', this.onClusterMessage);
    }
  }

  /**
   * Send the table to every current cluster worker (the monitor calls this once the share
   * holds its table): a worker whose view connected to an earlier share, or whose hello
   * came before this share existed, follows this one from now on. @internal
   */
  start(): void {
    if (this.closed || !this.cluster) return;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker !== undefined && worker.isConnected()) this.sendSnapshot(worker);
    }
  }

  /** Counters since the share was made. */
  stats(): ClusterShareStats {
    return { workers: this.subscribers.size, ...this.counts };
  }

  /**
   * Serve a `child_process.fork()` child (or any IPC peer): it gets a snapshot now (its
   * `ClusterView` takes it whether it is connecting, waiting for a primary that did not
   * share yet, or connected to an earlier share), another whenever its view says hello,
   * then every change. Cluster workers need no call. Adding a peer twice does nothing.
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
    this.sendSnapshot(peer);
  }

  /** Stop sharing: no more snapshots or changes; listeners on peers and `cluster` are removed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.onClusterMessage !== undefined) cluster.off('message', this.onClusterMessage);
    if (clusterShares.get(this.channel) === this) clusterShares.delete(this.channel);
    for (const detach of this.peers.values()) detach();
    this.peers.clear();
    for (const [worker, onGone] of this.workerListeners) worker.off('disconnect', onGone);
    this.workerListeners.clear();
    this.subscribers.clear();
    this.snapshotsInFlight.clear();
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
    // A view says hello again until a snapshot arrives. A snapshot still being written when
    // the hello came cannot have reached the view before it said hello, so the view (which
    // listens before it says hello) gets that one: no second copy of a large table.
    if (this.snapshotsInFlight.has(peer) && this.subscribers.has(peer)) return;
    this.sendSnapshot(peer);
  }

  /** Subscribe `peer` and send it the whole table. */
  private sendSnapshot(peer: IpcPeer): void {
    if (peer.connected === false) return;
    if (!this.subscribers.has(peer) && isClusterWorker(peer) && !this.workerListeners.has(peer)) {
      const onGone = (): void => this.unsubscribe(peer);
      peer.once('disconnect', onGone);
      this.workerListeners.set(peer, onGone);
    }
    // The snapshot holds every pending change, so a new worker needs nothing older.
    const snapshot: SnapshotMessage = { heartmonitor: this.channel, type: 'snapshot', settings: this.settings, servers: [...this.rows.values()] };
    this.counts.snapshots++;
    this.subscribers.add(peer);
    this.snapshotsInFlight.add(peer);
    this.sendTo(peer, snapshot, () => this.snapshotsInFlight.delete(peer));
  }

  private unsubscribe(peer: IpcPeer): void {
    this.subscribers.delete(peer);
    this.snapshotsInFlight.delete(peer);
    if (isClusterWorker(peer)) {
      const onGone = this.workerListeners.get(peer);
      if (onGone !== undefined) peer.off('disconnect', onGone);
      this.workerListeners.delete(peer);
    }
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

  private sendTo(peer: IpcPeer, message: SnapshotMessage | ChangesMessage, written?: () => void): void {
    if (peer.connected === false) {
      this.unsubscribe(peer);
      return;
    }
    try {
      // A failed send means the channel closed: the worker reconnects with a new hello.
      peer.send(message, (error) => {
        written?.();
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
