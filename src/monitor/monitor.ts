/**
 * HeartMonitor: receives heartbeats, keeps the live server table, emits typed events and
 * picks backends with lbmethod=heartbeat (SPEC 1.4, 1.8, 2.1). A front: it wires the
 * socket, the admission checks (`admission.ts`), the store (`store-guard.ts`), cluster
 * shares, timers and events to the table every view uses (`BalancedTable`), which keeps
 * the servers, their freshness and weights, draws, and runs the `Balancer`.
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import type { RemoteInfo } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { canonicalHost, canonicalSource, isIpLiteral, type BackendMember } from '../protocol/address.js';
import type { Lease, MemberLease } from '../balancer/leases.js';
import type { AdminState, ServerFailure, ServerView } from '../balancer/server-state.js';
import { targetKey } from '../balancer/targets.js';
import { MistakeWatch, type MistakeWatchHost } from '../diagnostics/mistake-watch.js';
import { defaultInterfaceMessage } from '../diagnostics/multicast-interface.js';
import { WarnOnce } from '../diagnostics/warning.js';
import type { HeartbeatSource, HeartMonitorEvents, HeartMonitorStats } from './events.js';
import { createHttpHandler, type HttpHandler, type HttpHandlerOptions, type IngestOutcome } from '../http/http-handler.js';
import { ListenerError, NotConfiguredError, SocketError } from '../errors.js';
import { openHeartbeatSocket, type HeartbeatSocket } from './heartbeat-socket.js';
import { adoptMonitorSettings, createDefaultStore, resolveOptions, type HeartMonitorOptions, type ResolvedOptions } from './options.js';
import { parseHeartbeat, type ParsedHeartbeat } from '../protocol/heartbeat.js';
import { buildMetrics, type HeartMonitorMetrics } from '../http/metrics.js';
import { serverKey, type ServerStatus } from '../protocol/server-status.js';
import { createStatusHandler, type StatusHandler, type StatusPageOptions } from '../http/status-page.js';
import { sharedEjectionsOf, type HeartbeatStore, type SharedEjections } from '../stores/store.js';
import { expectObject, show } from '../validate.js';
import { Admission, isRefusal, publishedFields, type Refusal, type SignedHeartbeat } from './admission.js';
import { asStoreError, checkStore, StoreWriter } from './store-guard.js';
import { BalancedTable } from '../table/balanced-table.js';
import { toMonotonic } from '../table/carried-ramp.js';
import { ClusterShare, type ClusterShareOptions } from '../views/cluster-share.js';
import { DEFAULT_CHANNEL } from '../views/cluster-messages.js';
import type { HeartbeatView } from '../views/view.js';

const ACCEPTED: IngestOutcome = { ok: true };
const STORE_FULL_REASON = 'the store is full: heartbeat of a new server refused';
const SWEEP_MIN_MS = 10;
const SWEEP_MAX_MS = 1000;

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
  /** The servers, their freshness, weights and draws, and the balancing policy over them. */
  private readonly table: BalancedTable;
  /** The allowlist, signature and replay checks. */
  private readonly admission: Admission;
  /** Store writes, the table's bound, and fault and store-full reports. */
  private readonly writer: StoreWriter;
  private socket: HeartbeatSocket | undefined;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** close() finished and nothing came since (no listen(), no accepted heartbeat): a further close() has nothing to do. */
  private closed = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  private counts = { received: 0, accepted: 0, malformed: 0, rejected: 0 };
  /** Cluster shares fed with every change of the table. */
  private readonly shares = new Set<ClusterShare>();
  private readonly warnings = new WarnOnce((warning) => {
    if (this.listenerCount('warning') === 0) return false;
    this.safeEmit('warning', warning);
    return true;
  });
  private readonly mistakes: MistakeWatch;
  /** The store's shared failure ejections, when it shares them (a SlotStore with `failures: 'shared'`). */
  private readonly sharedEjections: SharedEjections | undefined;
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
    // Before anything reads the store's settings: its views must balance as this monitor does.
    adoptMonitorSettings(this.store, this.options);
    this.admission = new Admission(this.options);
    this.sharedEjections = sharedEjectionsOf(this.store);
    const monotonic = (): number => this.options.clock.monotonic();
    this.writer = new StoreWriter(this.store, this.options.reportInterval, monotonic, () => this.table.size, (error) => this.safeEmit('error', error));
    const { balancing, clock, random, keyBy, warmupDivisor, staleAfter, expireAfter } = this.options;
    this.table = new BalancedTable(
      { balancing, clock, random, keyBy, warmupDivisor, staleAfter, expireAfter, adminFrom: 'operator' },
      {
        add: (server) => this.safeEmit('add', server),
        update: (server) => this.safeEmit('update', server),
        stale: (server) => this.safeEmit('stale', server),
        remove: (server, key) => this.removed(server, key),
        failed: (server, failure, shared) => {
          if (!shared) this.publishEjection(server, failure);
          this.safeEmit('failed', server, failure);
        },
        recovered: (server) => this.safeEmit('recovered', server),
      },
    );
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
    return this.table.servers();
  }

  /** Counters of messages seen and servers held. */
  stats(): HeartMonitorStats {
    return { ...this.counts, ...this.table.counts() };
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
    if (members !== undefined) this.mistakes.picking(members);
    this.beginPick();
    try {
      return this.table.pick(members);
    } finally {
      this.endPick();
    }
  }

  /**
   * Start a pick: events it causes (servers found stale on the way) wait until the result
   * is fixed, so a listener cannot change the members array under it.
   */
  private beginPick(): void {
    this.takeSharedEjections();
    this.picking++;
  }

  private endPick(): void {
    if (--this.picking > 0 || this.deferredEvents.length === 0) return;
    const events = this.deferredEvents;
    this.deferredEvents = [];
    for (const emit of events) emit();
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
      return this.table.acquire(members);
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
    return this.table.markFailed(server);
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
   * when the share starts (or adds it) and whenever its `ClusterView` says hello, then the
   * changes of every event-loop turn in one IPC message (administrative states included).
   * A worker's view that connected to an earlier share (of a monitor closed since) follows
   * this one; a view still waiting in `ClusterView.connect()` gets its table now. Stops with
   * the monitor's `close()` or the share's own `close()`.
   *
   * Calling it again for a channel this monitor already shares returns that open share
   * (one stream per channel: workers never get a change twice).
   *
   * @param options - channel name (for more than one monitor), whether to serve cluster workers
   * @throws Error when this monitor shares the channel with another `cluster` setting, or
   *   another monitor of this process serves the cluster's workers on the channel
   */
  shareWithCluster(options: ClusterShareOptions = {}): ClusterShare {
    const channel = expectObject('options', options).channel ?? DEFAULT_CHANNEL;
    const open = [...this.shares].find((share) => share.channel === channel);
    if (open !== undefined) {
      if (options.cluster !== undefined && options.cluster !== open.cluster) {
        throw new Error(`This monitor already shares channel ${JSON.stringify(channel)} with \`cluster: ${open.cluster}\`: close that share first to share it with \`cluster: ${options.cluster}\``);
      }
      return open;
    }
    const { staleAfter, expireAfter, warmupDivisor, keyBy } = this.options;
    const share = new ClusterShare({ staleAfter, expireAfter, warmupDivisor, keyBy }, options, (closed) => this.shares.delete(closed));
    for (const entry of this.table.entries()) share.put(entry.key, this.shared(entry.status, entry.key));
    this.shares.add(share);
    share.start();
    return share;
  }

  private setAdmin(server: string | ServerStatus, state: AdminState | undefined): void {
    // A target that names no server (a host name, a typo) throws here, before any store hears of it.
    const key = targetKey(server, this.options.keyBy);
    this.shareAdmin(key, state);
    const heldOut = state === undefined ? this.table.entriesOf(server).filter((entry) => this.table.adminOf(entry.key, entry.status.ip) !== undefined) : [];
    const entries = this.table.setAdmin(server, state);
    // Back from the operator, a server re-enters rotation now: its record says so, and views ramp it from here as this monitor does.
    for (const entry of heldOut) {
      if (this.table.adminOf(entry.key, entry.status.ip) === undefined) this.table.restamp(entry.key, Object.freeze({ ...entry.status, inRotationSince: this.options.clock.now() }));
    }
    // Rewrite the affected records so the store's readers learn the state now, not with the next heartbeat.
    for (const entry of entries) {
      const shared = this.shared(entry.status, entry.key);
      for (const share of this.shares) share.put(entry.key, shared);
      this.writer.rewrite(shared, entry.key, (error) => this.safeEmit('error', error));
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
    for (const [key, until] of ejected) this.table.ejectShared(key, toMonotonic(until, this.options.clock));
  }

  /** The record the store keeps for a server: its status plus the operator's state, which travels with the data. */
  private shared(status: ServerStatus, key: string): ServerStatus {
    const admin = this.table.adminOf(key, status.ip);
    return admin === undefined ? status : Object.freeze({ ...status, state: admin });
  }

  /** The extended view of one server (`ip`, `ip:port` or status), or undefined when unknown. */
  serverState(server: string | ServerStatus): ServerView | undefined {
    this.takeSharedEjections();
    return this.table.serverState(server);
  }

  /** Extended views of every server: state, weights, age, picks, leases, failures. */
  describe(): ServerView[] {
    this.takeSharedEjections();
    return this.table.describe();
  }

  /** Counters and gauges, named after gRPC's WRR metrics (gRFC A78) where they match. */
  metrics(): HeartMonitorMetrics {
    return buildMetrics(this.stats(), this.table.counters, this.table.inFlight, this.describe());
  }

  /**
   * A `node:http` request listener serving the status page: HTML that refreshes itself,
   * or JSON with `Accept: application/json` or `?format=json`.
   */
  statusHandler(options?: StatusPageOptions): StatusHandler {
    return createStatusHandler(() => ({ time: this.options.clock.now(), servers: this.describe(), metrics: this.metrics() }), options);
  }

  /** Hand an administrative state to stores that share it with other processes or hosts (RedisStore). */
  private shareAdmin(key: string, state: AdminState | undefined): void {
    if (this.store.setAdmin === undefined) return;
    try {
      this.store.setAdmin(key, state);
    } catch (cause) {
      this.safeEmit('error', asStoreError(cause, 'setAdmin'));
    }
  }

  private mistakeHost(): MistakeWatchHost {
    const { keyBy, staleAfter, warmupDivisor, clock } = this.options;
    return {
      keyBy,
      staleAfter,
      warmupDivisor,
      monotonic: () => clock.monotonic(),
      freshServers: () => this.table.freshServers(),
      serverCount: () => this.table.size,
      matches: (member) => this.table.hasMember(member),
      failedPicks: () => this.table.counters.noServer,
    };
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
    const notAllowed = this.admission.refusesSource(ip);
    if (notAllowed !== undefined) return this.refuse(from, notAllowed);
    const parsed = parseHeartbeat(message, { maxMessageBytes: this.options.maxMessageBytes });
    if (!parsed.ok) {
      this.reportMalformed(from, parsed.reason, typeof message === 'string' ? message : Buffer.from(message).toString('utf8'));
      return { ok: false, malformed: true, reason: parsed.reason };
    }
    const signed = this.admission.verify(message, parsed);
    if (signed !== undefined && isRefusal(signed)) return this.refuse(from, signed);
    return this.apply(ip, parsed, signed, from);
  }

  private reportMalformed(from: HeartbeatSource, reason: string, message: string): void {
    this.counts.malformed++;
    this.safeEmit('malformed', { from: { address: from.address, port: from.port }, reason, message });
  }

  private refuse(from: HeartbeatSource, { code, reason }: Refusal): IngestOutcome {
    this.counts.rejected++;
    this.safeEmit('rejected', { from: { address: from.address, port: from.port }, code, reason });
    return { ok: false, malformed: false, reason, code };
  }

  private apply(received: string, heartbeat: ParsedHeartbeat, signed: SignedHeartbeat | undefined, from: HeartbeatSource): IngestOutcome {
    const receivedKey = serverKey(received, heartbeat.port, this.options.keyBy);
    const entry = this.table.get(receivedKey);
    // A known server keeps the strings it already has (a key match means the same IP):
    // the fresh ones of this datagram die young instead of being retained, and the
    // store compares its keys by reference.
    const key = entry?.key ?? receivedKey;
    const ip = entry?.status.ip ?? received;
    const replayed = signed === undefined ? undefined : this.admission.refusesFor(key, signed);
    if (replayed !== undefined) return this.refuse(from, replayed);
    const { port, ready, busy, fields } = heartbeat;
    // Only possible under keyBy 'ip' (the key holds the port otherwise).
    if (entry !== undefined && entry.status.port !== port) this.mistakes.portChanged(ip, entry.status.port, port);
    const lastSeen = this.options.clock.now();
    // One clock read: fresh from now (monotonic), and whether this heartbeat puts the server into rotation.
    const seenAt = this.options.clock.monotonic();
    // When it entered rotation travels with the record, so every view ramps it in step with this monitor.
    const inRotationSince = this.table.entersRotation(entry, seenAt) ? lastSeen : (entry?.status.inRotationSince ?? lastSeen);
    // Two literal shapes instead of a spread: this runs once per datagram.
    const published = publishedFields(fields);
    const status: ServerStatus =
      published !== undefined
        ? Object.freeze({ ip, port, ready, busy, lastSeen, inRotationSince, fields: published })
        : Object.freeze({ ip, port, ready, busy, lastSeen, inRotationSince });
    const shared = this.shared(status, key);
    if (!this.writer.put(shared, key, entry !== undefined, this.table.size)) {
      // Counted (and `rejected` emitted) before the store-full report, which reads the counters.
      const outcome = this.refuse(from, { code: 'store-full', reason: STORE_FULL_REASON });
      this.writer.refused(key);
      return outcome;
    }
    // Timers stop at close(): a heartbeat accepted afterwards starts them again, or it would never age.
    if (this.sweepTimer === undefined && this.closing === undefined) this.startTimers();
    if (signed !== undefined) this.admission.accepted(key, signed);
    for (const share of this.shares) share.put(key, shared);
    this.counts.accepted++;
    // The table changed after a close: the next close() must flush it to the store again.
    this.closed = false;
    // The table emits `add` (a new server) and `update`.
    this.table.receive(key, status, seenAt);
    return ACCEPTED;
  }

  /** A server expired from the table: forget it everywhere it was shared. */
  private removed(server: ServerStatus, key: string): void {
    this.admission.forget(key);
    for (const share of this.shares) share.delete(key);
    this.writer.delete(key);
    this.safeEmit('remove', server);
  }

  /** Expire and mark stale (the table), report pending drops, forget old signatures. */
  private sweep(): void {
    this.takeSharedEjections();
    this.table.sweep();
    this.writer.tick();
    this.mistakes.tick();
    this.admission.sweep();
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

