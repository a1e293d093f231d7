/**
 * The balancing policy beyond lbmethod=heartbeat: slow start, in-flight correction with
 * leases, power-of-two-choices, the all-busy and no-fresh-server fallbacks, failure
 * feedback and administrative states. The table (`BalancedTable`, the monitor's and every
 * view's) owns the entries, the weighted index and the draws; this class decides each
 * server's effective weight, which the table keeps in that index so picks stay O(log n),
 * and answers the table's questions during a pick (which of two draws, what to fall back
 * to). Calls go one way: the balancer reads the table through {@link BalancerTable} and
 * never draws or emits through it. With every option at its default the weight is
 * exactly Apache's.
 * @module
 */
import type { BackendMember } from '../protocol/address.js';
import type { Clock } from '../clock.js';
import { heartbeatWeight } from '../picking/selection.js';
import type { KeyBy, ServerStatus } from '../protocol/server-status.js';
import { SlotNumbers } from '../picking/slot-numbers.js';
import { newFailureRecord, recordFailure, recordSuccess, type FailureRecord } from './failure.js';
import { FallbackPicker } from './fallback.js';
import type { Lease, LeaseResult, MemberLease } from './leases.js';
import type { ResolvedBalancingOptions } from './options.js';
import type { AdminState, ServerFailure, ServerState, ServerView } from './server-state.js';
import { SlowStartRamps } from './slow-start.js';
import { isBareIp, lookupKey, targetKey } from './targets.js';

/**
 * Weights are scaled by this factor while slow start or a shared pool (`proxies` > 1) is
 * configured, so a ramping or shared weight stays an integer (the index draws integers)
 * without changing anyone's proportion.
 */
const FINE_SCALE = 1000;

/** Per-server balancing state, attached to its table entry. @internal */
export class ServerBalance {
  /** Monotonic time the current slow-start ramp began, while ramping. */
  rampSince: number | undefined = undefined;
  /** Leases open to this server. */
  inFlight = 0;
  /**
   * What the last report's ready count is corrected by: this proxy's leases open now
   * minus those the report counted on workers. Each lease opened adds 1 and each lease
   * released takes 1 away, whichever heartbeat it straddles, so a worker a report counted
   * busy with our request is given back when that request ends (negative values).
   */
  sinceHeartbeat = 0;
  /** The entry left the table: its index slot is no longer ours. */
  removed = false;
}

/** What the balancer reads of a table entry. @internal */
export interface BalancedEntry {
  readonly key: string;
  readonly slot: number;
  readonly status: ServerStatus;
  readonly stale: boolean;
  readonly seenAt: number;
  readonly balance: ServerBalance;
}

/**
 * What the balancer reads of the table it balances: lookups and freshness, plus the one
 * write it owns, each entry's effective weight. No draws, no events: the table draws and
 * asks the balancer; the balancer reports failures and recoveries to its listener.
 * @internal
 */
export interface BalancerTable<E extends BalancedEntry> {
  /** Every entry. */
  entries(): Iterable<E>;
  /** The entry with `key`. */
  lookup(key: string): E | undefined;
  /** The entry in an index slot. */
  entryAt(slot: number): E | undefined;
  /** The entry a balancer member names (the member-key rule). */
  entryForMember(member: BackendMember): E | undefined;
  /** Whether an entry's last heartbeat is recent enough to pick it. */
  isFresh(entry: E): boolean;
  /** The effective weight in an index slot. */
  weightAt(slot: number): number;
  /** Set an entry's effective weight (the table also tells its member-set indexes). */
  setWeight(entry: E, weight: number): void;
}

/** The settings the balancer shares with its table. @internal */
export interface BalancerSettings {
  readonly clock: Clock;
  readonly random: () => number;
  readonly keyBy: KeyBy;
  readonly warmupDivisor: number;
}

/** What the balancer reports as it happens (the table passes it on as events). @internal */
export interface BalancerListener {
  failed(server: ServerStatus, failure: ServerFailure): void;
  recovered(server: ServerStatus): void;
}

/** Counters of the balancer since its table (the monitor or a view) was created. */
export interface BalancerCounters {
  /** Picks that returned a server (including fallbacks). */
  picks: number;
  /** Picks that found nothing (Apache's 503). */
  noServer: number;
  /** Picks served by the round-robin fallback. */
  roundRobinFallbacks: number;
  /** Picks served by the last-known-weights fallback. */
  lastKnownFallbacks: number;
  /** Picks served by `whenAllBusy: 'most-headroom'` (every fresh server's weight was 0). */
  mostHeadroomFallbacks: number;
  /** Failures reported (`markFailed`, failed releases). */
  failures: number;
  /** Times a server was taken out of rotation. */
  ejections: number;
  /** Times a server returned after its retry interval. */
  recoveries: number;
  /** Leases handed out. */
  leases: number;
}

/** A fallback's choice: the entry, and its member's position. @internal */
export interface Candidate<E> {
  readonly entry: E;
  /** Position in the members array (-1 for picks among all servers). */
  readonly position: number;
}

/** Balancing policy over a table (the monitor's or a view's). @internal */
export class Balancer<E extends BalancedEntry> {
  readonly counters: BalancerCounters = {
    picks: 0,
    noServer: 0,
    roundRobinFallbacks: 0,
    lastKnownFallbacks: 0,
    mostHeadroomFallbacks: 0,
    failures: 0,
    ejections: 0,
    recoveries: 0,
    leases: 0,
  };
  private readonly admin = new Map<string, AdminState>();
  private readonly failures = new Map<string, FailureRecord>();
  private readonly ramps: SlowStartRamps<E>;
  /** Picks of the server in each index slot since it joined the table (by slot: see SlotNumbers). */
  private readonly picks = new SlotNumbers();
  private nextRetryAt = Infinity;
  private openLeases = 0;
  private readonly fallbackPicker: FallbackPicker | undefined;

  constructor(
    private readonly options: ResolvedBalancingOptions,
    private readonly settings: BalancerSettings,
    private readonly table: BalancerTable<E>,
    private readonly listener: BalancerListener,
  ) {
    this.ramps = new SlowStartRamps(options.slowStart, (entry) => entry.balance, () => settings.clock.monotonic());
    const policy = options.noFreshServer;
    this.fallbackPicker = policy === 'fail' ? undefined : new FallbackPicker(policy, settings.random, settings.warmupDivisor);
  }

  /** Leases open now, over all servers. */
  get inFlight(): number {
    return this.openLeases;
  }

  /** Weight scale of the index (1 unless slow start or a shared pool is configured). */
  get scale(): number {
    return this.options.slowStart === undefined && this.options.proxies === 1 ? 1 : FINE_SCALE;
  }

  /** A heartbeat was applied to `entry`; `returning` when it was stale before. */
  heartbeat(entry: E, isNew: boolean, returning: boolean): void {
    const balance = entry.balance;
    // The report counts our open requests busy, but at most `busy` of them: any beyond
    // that were still queued (or on the wire) and hold no worker it counted, so they
    // stay subtracted until they end.
    balance.sinceHeartbeat = this.options.inFlightCorrection ? Math.max(0, balance.inFlight - entry.status.busy) : 0;
    if (isNew) this.picks.set(entry.slot, 0);
    if (isNew || returning) this.ramps.start(entry);
    this.setWeight(entry);
  }

  /**
   * Run `entry`'s slow-start ramp from monotonic time `since` instead of from when this
   * table saw it: the monitor's moment the server entered rotation, carried with the data,
   * so every view ramps a server in step with the monitor.
   */
  rampFrom(entry: E, since: number): void {
    this.ramps.start(entry, since);
    this.setWeight(entry);
  }

  /**
   * Take `entry` out of rotation until monotonic time `until` on another view's evidence
   * (failures shared through the store). It counts as an ejection and a trip here (so this
   * view's next trip backs off further, as the other's does), unless this view already has
   * the server out: then it only stays out until the later of the two times.
   * @returns the `failed` payload when this took the server out, else undefined
   */
  ejectUntil(entry: E, until: number): ServerFailure | undefined {
    const now = this.settings.clock.monotonic();
    if (until <= now) return undefined;
    let record = this.failures.get(entry.key);
    if (record === undefined) {
      record = newFailureRecord();
      this.failures.set(entry.key, record);
    }
    if (record.outUntil !== undefined) {
      record.outUntil = Math.max(record.outUntil, until);
      return undefined;
    }
    record.consecutive = 0;
    record.trips++;
    record.outUntil = until;
    this.counters.ejections++;
    this.nextRetryAt = Math.min(this.nextRetryAt, until);
    this.ramps.stop(entry);
    this.setWeight(entry);
    return { failures: record.total, trips: record.trips, retryAfter: until - now };
  }

  /** `entry` left the table. */
  removed(entry: E): void {
    entry.balance.removed = true;
    this.ramps.stop(entry);
    // Forget its failures, unless it is serving a time out it must finish if it comes back.
    if (this.failures.get(entry.key)?.outUntil === undefined) this.failures.delete(entry.key);
  }

  /** Periodic work (the table's sweep): returns from failure, ramp steps. */
  tick(): void {
    this.refresh(true);
  }

  /** A pick begins: bring back servers whose retry interval is over, step the ramps. */
  beforePick(): void {
    this.refresh(false);
  }

  /** Whether a pick draws twice and keeps the draw with more headroom (`pickMode: 'p2c'`). */
  get twoChoices(): boolean {
    return this.options.pickMode === 'p2c';
  }

  /**
   * p2c's comparison: whether the server in slot `other` has more headroom than the one in
   * `current` — the share of its reported weight it still offers after correction (and
   * slow start). Relative, so both draws — already proportional to size — are judged by
   * how loaded they are, not by how large.
   */
  prefers(other: number, current: number): boolean {
    return this.headroom(other) > this.headroom(current);
  }

  /** The table drew the server in `slot` for a pick: count it. */
  picked(slot: number): void {
    this.picks.add(slot, 1);
    this.counters.picks++;
  }

  /**
   * Nothing fresh had weight: the `whenAllBusy` and `noFreshServer` policies choose among
   * the entries (or `members`), counted; undefined (counted as no server) when they refuse.
   */
  fallback(members: readonly BackendMember[] | undefined): Candidate<E> | undefined {
    return this.mostHeadroom(members) ?? this.lastResort(members);
  }

  /** Open a lease on `entry` (picked for `member`, if any). */
  openLease<M>(entry: E, member: M | undefined): MemberLease<M> | Lease {
    const balance = entry.balance;
    balance.inFlight++;
    this.openLeases++;
    this.counters.leases++;
    if (this.options.inFlightCorrection) {
      balance.sinceHeartbeat++;
      this.setWeight(entry);
    }
    let open = true;
    const release = (result?: LeaseResult): void => {
      if (!open) return;
      open = false;
      balance.inFlight--;
      this.openLeases--;
      // Whichever heartbeat it straddles, a release gives back the worker its lease took:
      // opened since the last report, it undoes its own count; opened before, the report
      // counted it busy and that worker is free again.
      if (this.options.inFlightCorrection) balance.sinceHeartbeat--;
      if (result?.failed === true) this.fail(entry);
      else this.succeed(entry);
      this.setWeight(entry);
    };
    const server = entry.status;
    return member === undefined ? { server, release } : { server, member, release };
  }

  /**
   * Report a failure of `target` (a server, `ip` or `ip:port`).
   * @returns the number of servers the failure was counted for
   */
  markFailed(target: string | ServerStatus): number {
    const entries = this.resolve(target);
    for (const entry of entries) this.fail(entry);
    return entries.length;
  }

  /** Set (or with undefined clear) the administrative state of `target`. */
  setAdmin(target: string | ServerStatus, state: AdminState | undefined): void {
    const key = targetKey(target, this.settings.keyBy);
    const before = new Map(this.resolve(target).map((entry) => [entry, this.adminOf(entry)]));
    if (state === undefined) this.admin.delete(key);
    else this.admin.set(key, state);
    for (const [entry, previous] of before) {
      // A server coming back from the operator ramps up like any returning server.
      if (previous !== undefined && this.adminOf(entry) === undefined) this.ramps.start(entry);
      this.setWeight(entry);
    }
  }

  /** The administrative state set for `target` itself (not inherited from its IP). */
  adminState(target: string | ServerStatus): AdminState | undefined {
    // Tables ask once per record applied: no operator state is the common case, and resolving the target costs more than the lookup.
    if (this.admin.size === 0) return undefined;
    return this.admin.get(targetKey(target, this.settings.keyBy));
  }

  /** The effective administrative state of an entry (its own key first, then its IP). */
  adminOf(entry: E): AdminState | undefined {
    return this.adminOfKey(entry.key, entry.status.ip);
  }

  /** The effective administrative state of the server with `key` on `ip`, in the table or not yet. */
  adminOfKey(key: string, ip: string): AdminState | undefined {
    if (this.admin.size === 0) return undefined;
    return this.admin.get(key) ?? this.admin.get(ip);
  }

  /** Entries `target` names now (a status, `ip` — every port on it — or `ip:port`). */
  entriesOf(target: string | ServerStatus): E[] {
    return this.resolve(target);
  }

  /** The state `servers()` reports for an entry: set by the operator or by failures, else undefined. */
  overrideOf(entry: E): AdminState | 'failed' | undefined {
    return this.adminOf(entry) ?? (this.isOut(entry) ? 'failed' : undefined);
  }

  /** The entry `target` names, if it is in the table. */
  find(target: string | ServerStatus): E | undefined {
    return this.resolve(target)[0];
  }

  /** State of an entry as shown to operators. */
  stateOf(entry: E): ServerState {
    const admin = this.adminOf(entry);
    if (admin !== undefined) return admin;
    if (this.isOut(entry)) return 'failed';
    if (!this.table.isFresh(entry)) return 'stale';
    if (this.ramps.progress(entry) < 1) return 'warming';
    return 'active';
  }

  /** The extended view of one entry. */
  describe(entry: E): ServerView {
    const now = this.settings.clock.monotonic();
    const balance = entry.balance;
    const outUntil = this.failures.get(entry.key)?.outUntil;
    const view: ServerView = {
      key: entry.key,
      server: entry.status,
      state: this.stateOf(entry),
      age: Math.max(0, now - entry.seenAt),
      reportedWeight: heartbeatWeight(entry.status, this.settings.warmupDivisor),
      weight: this.table.weightAt(entry.slot) / this.scale,
      slowStart: this.ramps.progress(entry),
      inFlight: balance.inFlight,
      inFlightSinceHeartbeat: balance.sinceHeartbeat,
      picks: this.picks.get(entry.slot),
      failures: this.failures.get(entry.key)?.total ?? 0,
    };
    return outUntil === undefined ? view : { ...view, retryIn: Math.max(0, outUntil - now) };
  }

  /** What p2c compares (see {@link Balancer.prefers}). */
  private headroom(slot: number): number {
    const entry = this.table.entryAt(slot);
    const reported = entry === undefined ? 0 : heartbeatWeight(entry.status, this.settings.warmupDivisor);
    return reported <= 0 ? 0 : this.table.weightAt(slot) / (reported * this.scale);
  }

  /**
   * `whenAllBusy: 'most-headroom'`: every fresh candidate's weight is 0, so take the one
   * whose corrected ready count (below 0 once this proxy sent more than the report
   * allowed) is largest relative to its capacity; among equals, draw in proportion to
   * capacity. Walks the candidates (O(n)), which only happens while the whole pool is busy.
   */
  private mostHeadroom(members: readonly BackendMember[] | undefined): Candidate<E> | undefined {
    if (this.options.whenAllBusy === 'refuse') return undefined;
    let best: Candidate<E> | undefined;
    let bestScore = -Infinity;
    let tiedCapacity = 0;
    const consider = (entry: E | undefined, position: number): void => {
      if (entry === undefined || entry.stale || !this.table.isFresh(entry) || !this.usable(entry)) return;
      const capacity = entry.status.ready + entry.status.busy;
      if (capacity <= 0) return;
      // The whole report, not this proxy's share of it: once every share is spent, the
      // report's idle count says best where queues are shortest (bench/suites/balancing-sim.ts,
      // 10 proxies at 85 % load, 10 seeds: p99 203 ms ranking by share, 136 ms by report).
      const score = this.unclampedReady(entry, 1) / capacity;
      if (score > bestScore) {
        best = { entry, position };
        bestScore = score;
        tiedCapacity = capacity;
      } else if (score === bestScore) {
        // A weighted reservoir draw among equals: several proxies at the same score (often
        // 0, nothing of their own in flight) spread by capacity, neither piling onto one
        // server nor spreading evenly over unequal ones.
        tiedCapacity += capacity;
        if (this.settings.random() * tiedCapacity < capacity) best = { entry, position };
      }
    };
    if (members === undefined) for (const entry of this.table.entries()) consider(entry, -1);
    else for (let position = 0; position < members.length; position++) consider(this.table.entryForMember(members[position] as BackendMember), position);
    if (best === undefined) return undefined;
    this.counters.mostHeadroomFallbacks++;
    this.picked(best.entry.slot);
    return best;
  }

  private lastResort(members: readonly BackendMember[] | undefined): Candidate<E> | undefined {
    const picker = this.fallbackPicker;
    if (picker === undefined) {
      this.counters.noServer++;
      return undefined;
    }
    // Fallbacks still honour the operator and failure feedback; only freshness is waived.
    const candidates: Candidate<E>[] = [];
    if (members === undefined) {
      for (const entry of this.table.entries()) if (this.usable(entry)) candidates.push({ entry, position: -1 });
    } else {
      members.forEach((member, position) => {
        const entry = this.table.entryForMember(member);
        if (entry !== undefined && this.usable(entry)) candidates.push({ entry, position });
      });
    }
    const chosen = picker.choose(candidates);
    if (chosen === undefined) {
      this.counters.noServer++;
      return undefined;
    }
    if (picker.policy === 'round-robin') this.counters.roundRobinFallbacks++;
    else this.counters.lastKnownFallbacks++;
    this.picked(chosen.entry.slot);
    return chosen;
  }

  private usable(entry: E): boolean {
    return this.adminOf(entry) === undefined && !this.isOut(entry);
  }

  private isOut(entry: E): boolean {
    return this.failures.size > 0 && this.failures.get(entry.key)?.outUntil !== undefined;
  }

  private fail(entry: E): void {
    this.counters.failures++;
    let record = this.failures.get(entry.key);
    if (record === undefined) {
      record = newFailureRecord();
      this.failures.set(entry.key, record);
    }
    const outcome = recordFailure(record, this.settings.clock.monotonic(), this.options.failure);
    if (!outcome.tripped) return;
    this.counters.ejections++;
    this.nextRetryAt = Math.min(this.nextRetryAt, record.outUntil ?? Infinity);
    this.ramps.stop(entry);
    this.setWeight(entry);
    this.listener.failed(entry.status, { failures: record.total, trips: record.trips, retryAfter: outcome.retryAfter });
  }

  private succeed(entry: E): void {
    const record = this.failures.get(entry.key);
    if (record !== undefined) recordSuccess(record);
  }

  /** Bring back servers whose retry interval is over and step the ramps. */
  private refresh(force: boolean): void {
    if (this.nextRetryAt === Infinity && !this.ramps.active) return; // the common case: nothing time-dependent
    const now = this.settings.clock.monotonic();
    if (now >= this.nextRetryAt) this.recoverDue(now);
    this.ramps.step(force, (entry) => this.setWeight(entry));
  }

  private recoverDue(now: number): void {
    let next = Infinity;
    for (const [key, record] of this.failures) {
      if (record.outUntil === undefined) continue;
      if (record.outUntil > now) {
        next = Math.min(next, record.outUntil);
        continue;
      }
      record.outUntil = undefined;
      record.recoveredAt = now;
      this.counters.recoveries++;
      const entry = this.table.lookup(key);
      if (entry === undefined) {
        this.failures.delete(key);
        continue;
      }
      this.ramps.start(entry);
      this.setWeight(entry);
      this.listener.recovered(entry.status);
    }
    this.nextRetryAt = next;
  }

  private setWeight(entry: E): void {
    if (entry.balance.removed) return;
    this.table.setWeight(entry, this.weight(entry));
  }

  /** The effective weight of an entry, in index units. */
  private weight(entry: E): number {
    if (entry.stale || this.adminOf(entry) !== undefined || this.isOut(entry)) return 0;
    const { status } = entry;
    // Never below 0, never above the capacity the report shows.
    const ready = Math.min(status.ready + status.busy, Math.max(0, this.unclampedReady(entry)));
    const warming = status.busy === 0 && ready > 0;
    if (this.scale === 1) return warming ? Math.floor(ready / this.settings.warmupDivisor) : ready; // Apache's rule, in integers
    const base = warming ? ready / this.settings.warmupDivisor : ready;
    // Apache floors the warm-up share; a shared pool's fractional share is kept as is.
    const whole = this.options.proxies === 1 ? Math.floor(base) : base;
    return Math.round(whole * FINE_SCALE * this.ramps.factor(entry));
  }

  /**
   * The ready count of `1 / proxies` of the last report, corrected by this proxy's own
   * leases since (may be negative, or above the report, before clamping).
   */
  private unclampedReady(entry: E, proxies = this.options.proxies): number {
    const { status, balance } = entry;
    if (!this.options.inFlightCorrection) return status.ready;
    return status.ready / proxies - balance.sinceHeartbeat;
  }

  /** Entries `target` names: a status, `ip` (every port on it) or `ip:port`. */
  private resolve(target: string | ServerStatus): E[] {
    const key = lookupKey(target, this.settings.keyBy);
    if (key === undefined) return [];
    const exact = this.table.lookup(key);
    if (exact !== undefined) return [exact];
    if (this.settings.keyBy === 'ip' || !isBareIp(key)) return [];
    return [...this.table.entries()].filter((entry) => entry.status.ip === key);
  }
}
