/**
 * HeartMonitor: receives heartbeats, keeps the live server table, emits typed events and
 * picks backends with lbmethod=heartbeat (SPEC 1.4, 1.8, 2.1).
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import type { RemoteInfo } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { canonicalHost, canonicalSource, isIpLiteral, parseMember, type BackendMember, type MemberAddress } from '../protocol/address.js';
import { Balancer, ServerBalance, type BalancerHost, type MemberDraw } from '../balancer/balancer.js';
import type { Lease, MemberLease } from '../balancer/leases.js';
import type { AdminState, ServerFailure, ServerView } from '../balancer/server-state.js';
import { MistakeWatch, type MistakeWatchHost } from '../diagnostics/mistake-watch.js';
import { defaultInterfaceMessage } from '../diagnostics/multicast-interface.js';
import { WarnOnce, type HeartMonitorWarning } from '../diagnostics/warning.js';
import { DropReporter } from './drop-reporter.js';
import { createHttpHandler, type HttpHandler, type HttpHandlerOptions, type IngestOutcome } from '../http/http-handler.js';
import { ListenerError, NotConfiguredError, SocketError, StoreError, StoreFullError } from '../errors.js';
import { openHeartbeatSocket, type HeartbeatSocket } from './heartbeat-socket.js';
import { createDefaultStore, resolveOptions, type HeartMonitorOptions, type ResolvedOptions } from './options.js';
import { parseHeartbeat, type ParsedHeartbeat } from '../protocol/heartbeat.js';
import { buildMetrics, type HeartMonitorMetrics } from '../http/metrics.js';
import { MemberSetCache, WeightJournal, type ServerSlots } from '../picking/member-index.js';
import { drawWeighted } from '../picking/selection.js';
import { serverKey, type ServerStatus } from '../protocol/server-status.js';
import { createStatusHandler, type StatusHandler, type StatusPageOptions } from '../http/status-page.js';
import { SIGNATURE_FIELD, TIMESTAMP_FIELD, verifyHeartbeatSignature } from '../protocol/signature.js';
import { SlotNumbers } from '../picking/slot-numbers.js';
import { DEFAULT_MEMORY_MAX_SERVERS } from '../stores/memory-store.js';
import { sharedEjectionsOf, type HeartbeatStore, type SharedEjections } from '../stores/store.js';
import { show } from '../validate.js';
import { WeightedIndex } from '../picking/weighted-index.js';
import { ClusterShare, type ClusterShareOptions } from '../views/cluster-share.js';
import type { HeartbeatView } from '../views/view.js';

/** Where a heartbeat came from. */
export interface HeartbeatSource {
  /** Sender IP address. */
  readonly address: string;
  /** Sender port, when known. */
  readonly port?: number | undefined;
}

/** Payload of the `malformed` event: one dropped datagram or body. */
export interface MalformedHeartbeat {
  /** Sender. */
  readonly from: HeartbeatSource;
  /** Why it was dropped. */
  readonly reason: string;
  /** The message as text (bytes that are not UTF-8 are replaced). */
  readonly message: string;
}

/** Why a well-formed heartbeat was refused (see the `allow` and `secret` options). */
export type RefusalCode = 'not-allowed' | 'unsigned' | 'bad-signature' | 'skew' | 'replay' | 'store-full';

/** Payload of the `rejected` event: a heartbeat refused by the allowlist, the signature check, or a full store. */
export interface RejectedHeartbeatInfo {
  /** Sender. */
  readonly from: HeartbeatSource;
  /** Machine-readable cause. */
  readonly code: RefusalCode;
  /** Human-readable reason. */
  readonly reason: string;
}

/** Counters since the monitor was created; `received = accepted + malformed + rejected`. */
export interface HeartMonitorStats {
  /** Messages seen (datagrams, HTTP bodies, ingest calls). */
  readonly received: number;
  /** Messages applied to the table. */
  readonly accepted: number;
  /** Messages that failed parsing. */
  readonly malformed: number;
  /** Messages refused: source not allowed, bad or missing signature, replay, or the store was full. */
  readonly rejected: number;
  /** Servers in the table now. */
  readonly servers: number;
  /** Servers in the table that are fresh (pickable). */
  readonly fresh: number;
}

/** The events of {@link HeartMonitor}, with their payloads. */
export interface HeartMonitorEvents {
  /** The socket is bound (and the group joined). */
  listening: [address: AddressInfo];
  /** Every accepted heartbeat, one event per server. */
  update: [server: ServerStatus];
  /** First heartbeat of a server (emitted before its `update`). */
  add: [server: ServerStatus];
  /** A server was not heard from for `staleAfter` and is no longer picked. */
  stale: [server: ServerStatus];
  /** A server was not heard from for `expireAfter` and left the table. */
  remove: [server: ServerStatus];
  /** A datagram or body was dropped. */
  malformed: [info: MalformedHeartbeat];
  /** A heartbeat was refused by `allow` or `secret`, or because the table is full (never stored). */
  rejected: [info: RejectedHeartbeatInfo];
  /** A socket, store or listener fault; the monitor keeps running. */
  error: [error: Error];
  /**
   * A configuration that runs but cannot do what was meant (members matching no server,
   * origins sharing an IP under keyBy 'ip', every weight 0, multicast on the default
   * interface). Once per code; without a listener it goes to `process.emitWarning`.
   */
  warning: [warning: HeartMonitorWarning];
  /** `close()` finished. */
  close: [];
  /** Failures took a server out of rotation (`markFailed`, `release({ failed: true })`). */
  failed: [server: ServerStatus, failure: ServerFailure];
  /** A failed server's retry interval ended: it is back in rotation (through slow start). */
  recovered: [server: ServerStatus];
}

interface Entry {
  readonly key: string;
  readonly slot: number;
  status: ServerStatus;
  /** Monotonic time of the last heartbeat. */
  seenAt: number;
  stale: boolean;
  readonly balance: ServerBalance;
  /** `ts` of the last signed heartbeat accepted (replay protection). */
  signedAt: number;
}

const ACCEPTED: IngestOutcome = { ok: true };
const STORE_FULL_REASON = 'the store is full: heartbeat of a new server refused';
/** Fields never kept in a status: republished, they would hand out a signed datagram to replay. */
const UNPUBLISHED_FIELDS: ReadonlySet<string> = new Set([TIMESTAMP_FIELD, SIGNATURE_FIELD]);
const STORE_METHODS = ['put', 'delete', 'servers', 'flush', 'close'] as const;
const SWEEP_MIN_MS = 10;
const SWEEP_MAX_MS = 1000;
const MEMBER_CACHE_LIMIT = 10_000;

/**
 * Listens for heartbeats (UDP, or fed through {@link HeartMonitor.ingest}), keeps the live
 * table of origin servers and picks backends the way Apache's lbmethod=heartbeat does.
 *
 * @example
 * ```ts
 * const monitor = new HeartMonitor({ listen: '239.0.0.1:27999', interface: '127.0.0.1' });
 * monitor.on('add', (server) => console.log('new origin', server.ip));
 * await monitor.listen();
 * const target = monitor.pickBackend(['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
 * ```
 */
export class HeartMonitor extends EventEmitter<HeartMonitorEvents> implements HeartbeatView {
  /** The store the table is shared through. */
  readonly store: HeartbeatStore;
  private readonly options: ResolvedOptions;
  private readonly table = new Map<string, Entry>();
  private readonly index = new WeightedIndex();
  private readonly bySlot: (Entry | undefined)[] = [];
  /**
   * What a pick reads instead of the entry (see SlotNumbers): each slot's status, and its
   * monotonic seenAt while fresh (-Infinity once stale or free).
   */
  private readonly statusBySlot: (ServerStatus | undefined)[] = [];
  private readonly freshSeenAt = new SlotNumbers(-Infinity);
  /** How member indexes find a server's slot and weight. */
  private readonly serverSlots: ServerSlots = {
    slotOf: (key) => this.table.get(key)?.slot ?? -1,
    weightOf: (slot) => this.index.get(slot),
    keyAt: (slot) => this.bySlot[slot]?.key,
  };
  private readonly drops: DropReporter;
  private readonly balancer: Balancer<Entry>;
  private readonly memberCache = new Map<string, MemberAddress>();
  private readonly memberObjectCache = new WeakMap<object, MemberAddress>();
  private memberWeights = new Float64Array(16);
  private readonly memberSets = new MemberSetCache();
  private readonly weightChanges = new WeightJournal();
  /** Weight changes are journaled once a member index exists to read them. */
  private journaling = false;
  private socket: HeartbeatSocket | undefined;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** close() finished and nothing came since (no listen(), no accepted heartbeat): a further close() has nothing to do. */
  private closed = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  /** Signatures accepted within the last 2 × maxSkew (→ monotonic expiry), so a captured message cannot be replayed under another source address. */
  private readonly recentSignatures = new Map<string, number>();
  private counts = { received: 0, accepted: 0, malformed: 0, rejected: 0 };
  /** Cluster shares fed with every change of the table. */
  private readonly shares = new Set<ClusterShare>();
  private readonly warnings = new WarnOnce((warning) => {
    if (this.listenerCount('warning') === 0) return false;
    this.safeEmit('warning', warning);
    return true;
  });
  private readonly mistakes: MistakeWatch;
  /** Store failures (a throwing put/delete), reported like drops: the first at once, then a count per interval. */
  private readonly storeFaults: DropReporter;
  private lastStoreFault: { readonly cause: unknown; readonly action: 'put' | 'delete' } | undefined;
  /** The store's shared failure ejections, when it shares them (a SlotStore with `failures: 'shared'`). */
  private readonly sharedEjections: SharedEjections | undefined;
  /** Most entries the table holds, also when the store throws instead of refusing. */
  private readonly tableBound: number;
  /** Wall-clock start: a signed `ts` older than this was captured before the monitor (re)started. */
  private readonly startedAt: number;
  /** Smallest seenAt among servers not marked stale (a lower bound): picks take out stale ones first once it is due. */
  private oldestFreshSeenAt = Infinity;
  /** Picks in progress: events they cause wait until the pick's result is fixed. */
  private picking = 0;
  private deferredEvents: (() => void)[] = [];

  /**
   * @param options - see {@link HeartMonitorOptions}; invalid values throw TypeError or
   * RangeError naming the option
   */
  constructor(options: HeartMonitorOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.store = options.store === undefined ? createDefaultStore(this.options) : checkStore(options.store);
    this.tableBound = storeBound(this.store);
    this.sharedEjections = sharedEjectionsOf(this.store);
    this.startedAt = this.options.clock.now();
    this.storeFaults = new DropReporter(this.options.reportInterval, () => this.options.clock.monotonic(), ({ dropped, lastDropped }) => {
      const times = dropped === 1 ? '' : ` (${dropped} failures since the last report, last for ${lastDropped})`;
      this.safeEmit('error', asStoreError(this.lastStoreFault?.cause, `${this.lastStoreFault?.action ?? 'put'}${times}`));
    });
    this.drops = new DropReporter(this.options.reportInterval, () => this.options.clock.monotonic(), ({ dropped, lastDropped }) => {
      this.safeEmit('error', new StoreFullError(this.store.maxServers ?? this.table.size, dropped, lastDropped));
    });
    this.balancer = new Balancer(this.options.balancing, this.balancerHost());
    this.mistakes = new MistakeWatch(this.mistakeHost(), this.warnings);
    this.startTimers();
  }

  /** Whether the socket is bound. */
  get listening(): boolean {
    return this.socket !== undefined;
  }

  /** The bound socket address, or undefined when not listening. */
  address(): AddressInfo | undefined {
    return this.socket?.address();
  }

  /**
   * Bind the socket and join the multicast group (or bind the unicast address).
   * Resolves once bound; calling it again while listening returns the same promise.
   *
   * @throws NotConfiguredError when the monitor has no `listen` address
   * @throws ListenError naming the address and the cause (EADDRINUSE, join failure…)
   */
  listen(): Promise<void> {
    const { listen, listenText } = this.options;
    if (listen === undefined || listenText === undefined) return Promise.reject(new NotConfiguredError());
    if (this.opening !== undefined) return this.opening;
    this.closed = false;
    this.startTimers();
    const opening = (async (): Promise<void> => {
      await this.closing;
      const socket = await openHeartbeatSocket({
        address: listen,
        text: listenText,
        interface: this.options.interface,
        recvBufferSize: this.options.recvBufferSize,
        onMessage: (message, from) => this.receive(message, from),
        onError: (error) => this.safeEmit('error', new SocketError(error)),
      });
      this.socket = socket;
      this.safeEmit('listening', socket.address());
      if (listen.multicast && this.options.interface === undefined) this.warnings.warn('HM_DEFAULT_INTERFACE', defaultInterfaceMessage(listen.host));
    })();
    this.opening = opening;
    opening.catch(() => {
      if (this.opening === opening) this.opening = undefined;
    });
    return opening;
  }

  /**
   * Stop listening, stop the timers, flush and close the store. Idempotent: a call while
   * closing returns the same promise, a call after it finished resolves at once without
   * touching the store or emitting `close` again. `listen()` works again afterwards.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.closed) return Promise.resolve();
    this.stopTimers();
    for (const share of [...this.shares]) share.close();
    const opening = this.opening;
    this.opening = undefined;
    const closing = (async (): Promise<void> => {
      await opening?.catch(() => undefined);
      const socket = this.socket;
      this.socket = undefined;
      await socket?.close();
      try {
        await this.store.close();
      } catch (cause) {
        this.safeEmit('error', asStoreError(cause, 'close'));
      }
      this.safeEmit('close');
    })();
    this.closing = closing;
    void closing.finally(() => {
      if (this.closing === closing) this.closing = undefined;
      // A listen() that began while closing keeps the monitor open.
      if (this.opening === undefined) this.closed = true;
    });
    return closing;
  }

  /**
   * Feed one heartbeat, as if it had arrived from `from.address` (the HTTP handler and
   * tests use this).
   *
   * @param message - the datagram or body (text or bytes)
   * @param from - the sender
   * @returns true when the heartbeat was accepted into the table
   */
  ingest(message: string | Uint8Array, from: HeartbeatSource): boolean {
    return this.ingestWithReason(message, from).ok;
  }

  /**
   * Like {@link HeartMonitor.ingest}, but says why a message was refused.
   * @internal
   */
  ingestWithReason(message: string | Uint8Array, from: HeartbeatSource): IngestOutcome {
    const address: unknown = typeof from === 'object' && from !== null ? from.address : undefined;
    // Server identity becomes hb.dat text, page text and log text: only an IP literal may become one.
    if (!isIpLiteral(address)) {
      const shown = show(address).slice(0, 80);
      return this.dropUnusable({ address: shown }, `source address ${shown} is not an IP literal`, message);
    }
    if (typeof message !== 'string' && !(message instanceof Uint8Array)) {
      return this.dropUnusable({ address, port: from.port }, `message must be a string or bytes, got ${typeof message}`, '');
    }
    return this.accept(message, canonicalHost(address), from);
  }

  /** Count and report a message refused before parsing; keeps received = accepted + malformed + rejected. */
  private dropUnusable(from: HeartbeatSource, reason: string, message: unknown): IngestOutcome {
    this.counts.received++;
    this.reportMalformed(from, reason, typeof message === 'string' ? message.slice(0, this.options.maxMessageBytes) : '');
    return { ok: false, malformed: true, reason };
  }

  /**
   * Count and report a message dropped before it could be parsed (e.g. an oversized HTTP
   * body that was never read in full).
   * @internal
   */
  dropMalformed(from: HeartbeatSource, reason: string, message: string): void {
    this.counts.received++;
    this.reportMalformed(from, reason, message);
  }

  /**
   * A `(req, res)` listener that accepts heartbeats POSTed over HTTP, like
   * mod_heartmonitor's `heartbeat` handler (SPEC 1.3): `http.createServer(monitor.httpHandler())`.
   *
   * @param options - see {@link HttpHandlerOptions}
   */
  httpHandler(options: HttpHandlerOptions = {}): HttpHandler {
    return createHttpHandler(this, { maxBodyBytes: this.options.maxMessageBytes, ...options });
  }

  /** A snapshot of the live table (fresh and stale servers). */
  servers(): ServerStatus[] {
    const list: ServerStatus[] = [];
    for (const entry of this.table.values()) {
      const state = this.balancer.overrideOf(entry);
      list.push(state === undefined ? entry.status : { ...entry.status, state });
    }
    return list;
  }

  /** Counters of messages seen and servers held. */
  stats(): HeartMonitorStats {
    let fresh = 0;
    const now = this.options.clock.monotonic();
    for (const entry of this.table.values()) if (!entry.stale && now - entry.seenAt < this.options.staleAfter) fresh++;
    return { ...this.counts, servers: this.table.size, fresh };
  }

  /**
   * Pick a server among all live ones, in exact proportion to its heartbeat weight
   * (SPEC 1.8). O(log n) in the number of servers.
   *
   * @returns the server, or undefined when no fresh server has weight (Apache: 503)
   */
  pickBackend(): ServerStatus | undefined;
  /**
   * Pick one of `members` like lbmethod=heartbeat: a member weighs what the server with
   * its host (or host and port, with `keyBy: 'ip:port'`) weighs; members of unknown or
   * stale servers are skipped.
   *
   * Reuse one members array across picks: from its second use (its first when frozen with
   * `Object.freeze`) a pick costs O(log M) for the draw, plus for an array that is not frozen
   * a cheap O(M) check that it did not change. A new array per call is walked, O(M).
   *
   * @param members - URLs, `host:port` strings or `{ host, port }` objects
   * @returns the chosen member itself, or undefined when no member has weight
   */
  pickBackend<M extends BackendMember>(members: readonly M[]): M | undefined;
  pickBackend<M extends BackendMember>(members?: readonly M[]): ServerStatus | M | undefined {
    this.beginPick();
    try {
      if (members === undefined) {
        const slot = this.balancer.pickServer();
        return slot < 0 ? undefined : this.statusBySlot[slot];
      }
      this.mistakes.picking(members);
      const draw = this.balancer.pickMember(members);
      return draw === undefined ? undefined : members[draw.position];
    } finally {
      this.endPick();
    }
  }

  /**
   * Start a pick: servers that turned stale since the last sweep leave the weights first
   * (so a pick draws once, over the weights the pure pickBackend sees), and events wait
   * until the result is fixed (a listener cannot change the members array under it).
   */
  private beginPick(): void {
    this.takeSharedEjections();
    this.picking++;
    const now = this.options.clock.monotonic();
    if (now - this.oldestFreshSeenAt >= this.options.staleAfter) this.takeOutStaleServers(now);
  }

  private endPick(): void {
    if (--this.picking > 0 || this.deferredEvents.length === 0) return;
    const events = this.deferredEvents;
    this.deferredEvents = [];
    for (const emit of events) emit();
  }

  private takeOutStaleServers(now: number): void {
    let oldest = Infinity;
    for (const entry of this.table.values()) {
      if (entry.stale) continue;
      if (now - entry.seenAt >= this.options.staleAfter) this.markStale(entry);
      else if (entry.seenAt < oldest) oldest = entry.seenAt;
    }
    this.oldestFreshSeenAt = oldest;
  }

  /**
   * Pick like {@link HeartMonitor.pickBackend} and open a lease on the server: with
   * `inFlightCorrection`, the server's ready count is lowered by one until its next
   * heartbeat or the lease's `release()`. Release every lease exactly once; pass
   * `{ failed: true }` when the request failed (failure feedback).
   *
   * @returns the lease, or undefined when no server can be picked
   */
  acquire(): Lease | undefined;
  /**
   * Pick one of `members` and open a lease on its server.
   * @param members - URLs, `host:port` strings or `{ host, port }` objects
   */
  acquire<M extends BackendMember>(members: readonly M[]): MemberLease<M> | undefined;
  acquire<M extends BackendMember>(members?: readonly M[]): Lease | MemberLease<M> | undefined {
    if (members !== undefined) this.mistakes.picking(members);
    this.beginPick();
    try {
      return this.balancer.acquire(members);
    } finally {
      this.endPick();
    }
  }

  /**
   * Report a failed request to a server (`ip`, `ip:port` or its status). With the
   * `failure` options' threshold reached, the server leaves rotation for the retry
   * interval (doubling on each consecutive trip), whatever its heartbeats say.
   *
   * @returns the number of servers the failure was counted for (0 when unknown)
   */
  markFailed(server: string | ServerStatus): number {
    return this.balancer.markFailed(server);
  }

  /**
   * No new picks for `server` (`ip`, `ip:port` or status); open leases finish. Survives
   * heartbeats, and travels with the data: the store's views (and Apache reading hb.dat)
   * stop picking it too.
   */
  drain(server: string | ServerStatus): void {
    this.setAdmin(server, 'draining');
  }

  /** Take `server` out of rotation until {@link HeartMonitor.enable}. Survives heartbeats; reaches the store's views like {@link HeartMonitor.drain}. */
  disable(server: string | ServerStatus): void {
    this.setAdmin(server, 'disabled');
  }

  /** Undo {@link HeartMonitor.drain} / {@link HeartMonitor.disable}; the server ramps up through slow start. */
  enable(server: string | ServerStatus): void {
    this.setAdmin(server, undefined);
  }

  /**
   * Share the table with `node:cluster` workers (every current and future one) and, through
   * the returned share's `add()`, with `child_process.fork()` children: each gets a snapshot
   * when its `await ClusterView.connect()` says hello, then the changes of every event-loop
   * turn in one IPC message (administrative states included). Stops with the monitor's
   * `close()` or the share's own `close()`.
   *
   * @param options - channel name (for more than one monitor), whether to serve cluster workers
   */
  shareWithCluster(options: ClusterShareOptions = {}): ClusterShare {
    const { staleAfter, expireAfter, warmupDivisor, keyBy } = this.options;
    const share = new ClusterShare({ staleAfter, expireAfter, warmupDivisor, keyBy }, options, (closed) => this.shares.delete(closed));
    for (const entry of this.table.values()) share.put(entry.key, this.shared(entry.status, entry.key));
    this.shares.add(share);
    return share;
  }

  private setAdmin(server: string | ServerStatus, state: AdminState | undefined): void {
    const heldOut = state === undefined ? this.balancer.entriesOf(server).filter((entry) => this.balancer.adminOf(entry) !== undefined) : [];
    this.balancer.setAdmin(server, state);
    // Back from the operator, a server re-enters rotation now: its record says so, and views ramp it from here as this monitor does.
    for (const entry of heldOut) if (this.balancer.adminOf(entry) === undefined) this.reenterRotation(entry);
    // Rewrite the affected records so the store's readers learn the state now, not with the next heartbeat.
    for (const entry of this.balancer.entriesOf(server)) {
      const shared = this.shared(entry.status, entry.key);
      for (const share of this.shares) share.put(entry.key, shared);
      try {
        this.store.put(shared, entry.key);
      } catch (cause) {
        this.safeEmit('error', asStoreError(cause, 'put'));
      }
    }
  }

  /** With failures shared through the store (a SlotStore's `failures: 'shared'`): this monitor's ejection reaches every view. */
  private publishEjection(server: ServerStatus, failure: ServerFailure): void {
    this.sharedEjections?.publish(serverKey(server.ip, server.port, this.options.keyBy), this.options.clock.now() + failure.retryAfter);
  }

  /** Ejections the store's views shared since the last look: the monitor takes those servers out too. */
  private takeSharedEjections(): void {
    const ejected = this.sharedEjections?.poll();
    if (ejected === undefined) return;
    const { clock } = this.options;
    for (const [key, until] of ejected) {
      const entry = this.table.get(key);
      const failure = entry === undefined ? undefined : this.balancer.ejectUntil(entry, clock.monotonic() + (until - clock.now()));
      if (entry !== undefined && failure !== undefined) this.safeEmit('failed', entry.status, failure);
    }
  }

  private reenterRotation(entry: Entry): void {
    entry.status = Object.freeze({ ...entry.status, inRotationSince: this.options.clock.now() });
    this.statusBySlot[entry.slot] = entry.status;
  }

  /** The record the store keeps for a server: its status plus the operator's state, which travels with the data. */
  private shared(status: ServerStatus, key: string): ServerStatus {
    const admin = this.balancer.adminOfKey(key, status.ip);
    return admin === undefined ? status : Object.freeze({ ...status, state: admin });
  }

  /** The extended view of one server (`ip`, `ip:port` or status), or undefined when unknown. */
  serverState(server: string | ServerStatus): ServerView | undefined {
    this.takeSharedEjections();
    const entry = this.balancer.find(server);
    return entry === undefined ? undefined : this.balancer.describe(entry);
  }

  /** Extended views of every server: state, weights, age, picks, leases, failures. */
  describe(): ServerView[] {
    this.takeSharedEjections();
    return [...this.table.values()].map((entry) => this.balancer.describe(entry));
  }

  /** Counters and gauges, named after gRPC's WRR metrics (gRFC A78) where they match. */
  metrics(): HeartMonitorMetrics {
    return buildMetrics(this.stats(), this.balancer.counters, this.balancer.inFlight, this.describe());
  }

  /**
   * A `node:http` request listener serving the status page: HTML that refreshes itself,
   * or JSON with `Accept: application/json` or `?format=json`.
   */
  statusHandler(options?: StatusPageOptions): StatusHandler {
    return createStatusHandler(() => ({ time: this.options.clock.now(), servers: this.describe(), metrics: this.metrics() }), options);
  }

  private balancerHost(): BalancerHost<Entry> {
    const { clock, random, keyBy, warmupDivisor } = this.options;
    return {
      index: this.index,
      clock,
      random,
      keyBy,
      warmupDivisor,
      entries: () => this.table.values(),
      lookup: (key) => this.table.get(key),
      isFresh: (entry) => this.isFresh(entry),
      setWeight: (entry, weight) => this.setWeight(entry, weight),
      entryAt: (slot) => this.bySlot[slot],
      drawServer: () => this.drawServer(),
      drawMember: (members) => this.drawMember(members),
      entryForMember: (member) => this.entryForMember(member),
      onFailed: (server, failure) => {
        this.publishEjection(server, failure);
        this.safeEmit('failed', server, failure);
      },
      onRecovered: (server) => this.safeEmit('recovered', server),
    };
  }

  /** The slot of a fresh server drawn by weight, or -1. */
  private drawServer(): number {
    const index = this.index;
    // A server may have turned stale since the last sweep: drop it and draw again.
    while (index.total > 0) {
      const slot = index.find(Math.floor(this.options.random() * index.total));
      if (this.isSlotFresh(slot)) return slot;
      if (!this.takeOutStale(slot)) return -1;
    }
    return -1;
  }

  /** A member of a fresh server drawn by weight, or undefined. */
  private drawMember(members: readonly BackendMember[]): MemberDraw | undefined {
    const set = this.memberSets.get(members, this.weightChanges, (member) => this.keyOfMember(member), this.serverSlots);
    if (set === undefined) return this.walkMembers(members);
    this.journaling = true;
    for (;;) {
      const position = set.draw(this.options.random);
      if (position === undefined) return undefined;
      const slot = set.slotAt(position);
      if (this.isSlotFresh(slot)) return { position, slot };
      // Turned stale since the last sweep: take it out (journaled) and draw again.
      if (!this.takeOutStale(slot)) return undefined;
      set.catchUp(this.weightChanges, this.serverSlots);
    }
  }

  private isSlotFresh(slot: number): boolean {
    return this.options.clock.monotonic() - this.freshSeenAt.get(slot) < this.options.staleAfter;
  }

  /**
   * Mark the server in a drawn slot stale, which takes its weight away; false if it had
   * none to lose (a slot with weight always holds a server that is not yet marked stale,
   * so this only guards the draw loops against ever spinning).
   */
  private takeOutStale(slot: number): boolean {
    const entry = this.bySlot[slot];
    if (entry === undefined || entry.stale) return false;
    this.markStale(entry);
    return true;
  }

  private walkMembers(members: readonly BackendMember[]): MemberDraw | undefined {
    if (this.memberWeights.length < members.length) this.memberWeights = new Float64Array(members.length * 2);
    const weights = this.memberWeights;
    let total = 0;
    for (let i = 0; i < members.length; i++) {
      const entry = this.entryForMember(members[i] as BackendMember);
      let weight = 0;
      if (entry !== undefined) {
        if (this.isFresh(entry)) weight = this.index.get(entry.slot);
        else this.markStale(entry);
      }
      weights[i] = weight;
      total += weight;
    }
    const chosen = drawWeighted(weights, members.length, total, this.options.random);
    const slot = chosen === undefined ? undefined : this.entryForMember(members[chosen] as BackendMember)?.slot;
    return chosen === undefined || slot === undefined ? undefined : { position: chosen, slot };
  }

  private mistakeHost(): MistakeWatchHost {
    const { keyBy, staleAfter, warmupDivisor, clock } = this.options;
    return {
      keyBy,
      staleAfter,
      warmupDivisor,
      monotonic: () => clock.monotonic(),
      freshServers: () => [...this.table.values()].filter((entry) => this.isFresh(entry)).map((entry) => entry.status),
      serverCount: () => this.table.size,
      matches: (member) => this.entryForMember(member) !== undefined,
      failedPicks: () => this.balancer.counters.noServer,
    };
  }

  private entryForMember(member: BackendMember): Entry | undefined {
    return this.table.get(this.keyOfMember(member));
  }

  private keyOfMember(member: BackendMember): string {
    const address = this.memberAddress(member);
    return this.options.keyBy === 'ip' ? address.host : serverKey(address.host, address.port, this.options.keyBy);
  }

  private memberAddress(member: BackendMember): MemberAddress {
    if (typeof member === 'string') {
      let address = this.memberCache.get(member);
      if (address === undefined) {
        address = parseMember(member);
        if (this.memberCache.size >= MEMBER_CACHE_LIMIT) this.memberCache.clear();
        this.memberCache.set(member, address);
      }
      return address;
    }
    let address = this.memberObjectCache.get(member);
    if (address === undefined) {
      address = parseMember(member);
      this.memberObjectCache.set(member, address);
    }
    return address;
  }

  private receive(message: Buffer, from: RemoteInfo): void {
    try {
      this.accept(message, canonicalSource(from.address), from);
    } catch (error) {
      // Nothing a datagram does may stop the socket loop.
      this.safeEmit('error', error instanceof Error ? error : new Error(String(error)));
    }
  }

  private accept(message: string | Uint8Array, ip: string, from: HeartbeatSource): IngestOutcome {
    this.counts.received++;
    const { sourceFilter, secrets } = this.options;
    if (sourceFilter !== undefined && !sourceFilter.allows(ip)) return this.refuse(from, 'not-allowed', `source ${ip} is not allowed`);
    const parsed = parseHeartbeat(message, { maxMessageBytes: this.options.maxMessageBytes });
    if (!parsed.ok) {
      this.reportMalformed(from, parsed.reason, typeof message === 'string' ? message : Buffer.from(message).toString('utf8'));
      return { ok: false, malformed: true, reason: parsed.reason };
    }
    if (secrets === undefined) return this.apply(ip, parsed, undefined, from);
    const check = verifyHeartbeatSignature(message, secrets, parsed.fields[TIMESTAMP_FIELD]);
    if (!check.ok) return this.refuse(from, check.code, check.reason);
    const skew = check.timestamp - this.options.clock.now();
    if (Math.abs(skew) > this.options.maxSkew) {
      return this.refuse(from, 'skew', `\`ts\` is ${skew} ms off this monitor's clock (maxSkew ${this.options.maxSkew} ms)`);
    }
    if (check.timestamp < this.startedAt) {
      // The replay cache starts empty: without this, a datagram captured before a restart would pass again.
      return this.refuse(from, 'replay', `\`ts\` ${check.timestamp} is older than this monitor's start (${this.startedAt}): captured before a restart?`);
    }
    if (this.recentSignatures.has(check.signature)) {
      return this.refuse(from, 'replay', 'this signed heartbeat was already accepted (replayed, perhaps from another source address)');
    }
    const outcome = this.apply(ip, parsed, check.timestamp, from);
    // A `ts` stays within maxSkew for at most 2 × maxSkew of our time; after that the skew check refuses it.
    if (outcome.ok) this.recentSignatures.set(check.signature, this.options.clock.monotonic() + 2 * this.options.maxSkew);
    return outcome;
  }

  private reportMalformed(from: HeartbeatSource, reason: string, message: string): void {
    this.counts.malformed++;
    this.safeEmit('malformed', { from: { address: from.address, port: from.port }, reason, message });
  }

  private refuse(from: HeartbeatSource, code: RefusalCode, reason: string): IngestOutcome {
    this.counts.rejected++;
    this.safeEmit('rejected', { from: { address: from.address, port: from.port }, code, reason });
    return { ok: false, malformed: false, reason, code };
  }

  private apply(received: string, heartbeat: ParsedHeartbeat, signedAt: number | undefined, from: HeartbeatSource): IngestOutcome {
    const receivedKey = serverKey(received, heartbeat.port, this.options.keyBy);
    let entry = this.table.get(receivedKey);
    // A known server keeps the strings it already has (a key match means the same IP):
    // the fresh ones of this datagram die young instead of being retained, and the
    // store compares its keys by reference.
    const key = entry?.key ?? receivedKey;
    const ip = entry?.status.ip ?? received;
    if (signedAt !== undefined && entry !== undefined && signedAt <= entry.signedAt) {
      return this.refuse(from, 'replay', `\`ts\` ${signedAt} is not newer than the last accepted from ${key} (${entry.signedAt})`);
    }
    const { port, ready, busy, fields } = heartbeat;
    // Only possible under keyBy 'ip' (the key holds the port otherwise).
    if (entry !== undefined && entry.status.port !== port) this.mistakes.portChanged(ip, entry.status.port, port);
    const lastSeen = this.options.clock.now();
    // One clock read serves the freshness checks (here and below) and the new seenAt.
    const seenAt = this.options.clock.monotonic();
    const inRotationSince = this.enteredRotation(entry, lastSeen, seenAt);
    // Two literal shapes instead of a spread: this runs once per datagram.
    const published = publishedFields(fields);
    const status: ServerStatus =
      published !== undefined
        ? Object.freeze({ ip, port, ready, busy, lastSeen, inRotationSince, fields: published })
        : Object.freeze({ ip, port, ready, busy, lastSeen, inRotationSince });
    const shared = this.shared(status, key);
    let stored: boolean;
    try {
      stored = this.store.put(shared, key);
    } catch (cause) {
      // A faulty store must not make us forget servers: keep serving from memory, within
      // the table's bound, and report the faults throttled like drops.
      this.lastStoreFault = { cause, action: 'put' };
      this.storeFaults.drop(key);
      stored = entry !== undefined || this.table.size < this.tableBound;
    }
    if (!stored && entry === undefined) {
      // Counted (and `rejected` emitted) before the drop report, which reads the counters.
      const outcome = this.refuse(from, 'store-full', STORE_FULL_REASON);
      this.drops.drop(key);
      return outcome;
    }
    const isNew = entry === undefined;
    const returning = entry !== undefined && (entry.stale || seenAt - entry.seenAt >= this.options.staleAfter);
    if (isNew || returning) this.oldestFreshSeenAt = Math.min(this.oldestFreshSeenAt, seenAt);
    // Timers stop at close(): a heartbeat accepted afterwards starts them again, or it would never age.
    if (this.sweepTimer === undefined && this.closing === undefined) this.startTimers();
    if (entry === undefined) {
      entry = { key, slot: this.index.allocate(), status, seenAt: 0, stale: false, balance: new ServerBalance(), signedAt: -Infinity };
      this.table.set(key, entry);
      this.bySlot[entry.slot] = entry;
    }
    entry.status = status;
    entry.seenAt = seenAt;
    entry.stale = false;
    this.statusBySlot[entry.slot] = status;
    this.freshSeenAt.set(entry.slot, seenAt);
    if (signedAt !== undefined) entry.signedAt = signedAt;
    this.balancer.heartbeat(entry, isNew, returning);
    for (const share of this.shares) share.put(key, shared);
    this.counts.accepted++;
    // The table changed after a close: the next close() must flush it to the store again.
    this.closed = false;
    if (isNew) this.safeEmit('add', status);
    this.safeEmit('update', status);
    return ACCEPTED;
  }

  /**
   * When the server entered rotation, carried with its record so views ramp in step: now
   * for a new server or one returning from stale, else what its record already says.
   */
  private enteredRotation(entry: Entry | undefined, now: number, monotonic: number): number {
    const since = entry?.status.inRotationSince;
    if (entry === undefined || since === undefined || entry.stale || monotonic - entry.seenAt >= this.options.staleAfter) return now;
    return since;
  }

  private setWeight(entry: Entry, weight: number): void {
    // Most heartbeats repeat the weight: nothing for member indexes to catch up on.
    if (this.index.get(entry.slot) === weight) return;
    this.index.set(entry.slot, weight);
    if (this.journaling) this.weightChanges.record(entry.slot);
  }

  private isFresh(entry: Entry): boolean {
    return this.isSlotFresh(entry.slot);
  }

  private markStale(entry: Entry): void {
    if (entry.stale) return;
    entry.stale = true;
    this.freshSeenAt.set(entry.slot, -Infinity);
    this.setWeight(entry, 0);
    this.safeEmit('stale', entry.status);
  }

  private remove(entry: Entry): void {
    this.table.delete(entry.key);
    this.bySlot[entry.slot] = undefined;
    this.statusBySlot[entry.slot] = undefined;
    this.freshSeenAt.set(entry.slot, -Infinity);
    this.balancer.removed(entry);
    this.index.release(entry.slot);
    if (this.journaling) this.weightChanges.record(entry.slot);
    for (const share of this.shares) share.delete(entry.key);
    try {
      this.store.delete(entry.key);
    } catch (cause) {
      this.lastStoreFault = { cause, action: 'delete' };
      this.storeFaults.drop(entry.key);
    }
    this.safeEmit('remove', entry.status);
  }

  /** Mark servers stale, expire old ones and report pending drops. */
  private sweep(): void {
    const now = this.options.clock.monotonic();
    let oldest = Infinity;
    for (const entry of this.table.values()) {
      const age = now - entry.seenAt;
      if (age >= this.options.expireAfter) this.remove(entry);
      else if (age >= this.options.staleAfter) this.markStale(entry);
      else if (!entry.stale && entry.seenAt < oldest) oldest = entry.seenAt;
    }
    this.oldestFreshSeenAt = oldest;
    this.drops.tick();
    this.storeFaults.tick();
    this.takeSharedEjections();
    this.balancer.tick();
    this.mistakes.tick();
    // Insertion order is expiry order (a constant window on a monotonic clock).
    for (const [signature, expiresAt] of this.recentSignatures) {
      if (expiresAt > now) break;
      this.recentSignatures.delete(signature);
    }
  }

  private async flush(): Promise<void> {
    if (this.flushing) return; // a slow write is still running: skip, the next tick retries
    this.flushing = true;
    try {
      await this.store.flush();
    } catch (cause) {
      this.safeEmit('error', asStoreError(cause, 'flush'));
    } finally {
      this.flushing = false;
    }
  }

  private startTimers(): void {
    if (this.sweepTimer !== undefined) return;
    const { staleAfter, expireAfter, flushInterval } = this.options;
    const sweepEvery = Math.min(SWEEP_MAX_MS, Math.max(SWEEP_MIN_MS, Math.min(staleAfter, expireAfter) / 10));
    this.sweepTimer = setInterval(() => this.sweep(), sweepEvery).unref();
    this.flushTimer = setInterval(() => void this.flush(), flushInterval).unref();
  }

  private stopTimers(): void {
    clearInterval(this.sweepTimer);
    clearInterval(this.flushTimer);
    this.sweepTimer = undefined;
    this.flushTimer = undefined;
  }

  /** Emit without letting a throwing listener escape into the socket loop. */
  private safeEmit<E extends keyof HeartMonitorEvents>(event: E, ...args: HeartMonitorEvents[E]): void {
    if (this.picking > 0) {
      this.deferredEvents.push(() => this.safeEmit(event, ...args));
      return;
    }
    try {
      (this.emit as (event: E, ...args: HeartMonitorEvents[E]) => boolean)(event, ...args);
    } catch (cause) {
      if (event === 'error') {
        process.emitWarning(new ListenerError(event, cause));
        return;
      }
      this.safeEmit('error', new ListenerError(event, cause));
    }
  }
}

/** The extra fields a status carries (frozen), without `ts`/`sig`; undefined when none are left. */
function publishedFields(fields: Readonly<Record<string, string>>): Readonly<Record<string, string>> | undefined {
  let published: Record<string, string> | undefined;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key) || UNPUBLISHED_FIELDS.has(key)) continue;
    (published ??= {})[key] = fields[key] as string;
  }
  return published === undefined ? undefined : Object.freeze(published);
}

/** A `store` option must have the interface's methods: checked at construction, not at the first heartbeat. */
function checkStore(store: unknown): HeartbeatStore {
  const missing =
    typeof store !== 'object' || store === null ? [...STORE_METHODS] : STORE_METHODS.filter((name) => typeof (store as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) {
    throw new TypeError(`Expected \`store\` to be a HeartbeatStore (methods ${STORE_METHODS.join(', ')}), got ${show(store)} without ${missing.join(', ')}`);
  }
  const maxServers = (store as HeartbeatStore).maxServers;
  if (maxServers !== undefined && (typeof maxServers !== 'number' || !Number.isInteger(maxServers) || maxServers < 1)) {
    throw new RangeError(`Expected \`store.maxServers\` to be undefined or an integer >= 1, got ${show(maxServers)}`);
  }
  return store as HeartbeatStore;
}

/** The table's bound: the store's capacity, else MemoryStore's default. */
function storeBound(store: HeartbeatStore): number {
  return store.maxServers ?? DEFAULT_MEMORY_MAX_SERVERS;
}

function asStoreError(cause: unknown, action: string): Error {
  return cause instanceof StoreError ? cause : new StoreError(`Store ${action} failed`, { cause });
}
