/**
 * The table a view balances over: servers by key, each in a slot of a weighted index whose
 * weights the {@link Balancer} sets, freshness by slot, member-set indexes, and the draws
 * the balancer asks for. A view feeds it the records it reads (`apply`, `remove`) and
 * asks it for picks; the policy — slow start, leases, p2c, failures, fallbacks, admin
 * states — is the monitor's own Balancer, so every view balances the way the monitor does.
 * @module
 */
import { parseMember, type BackendMember, type MemberAddress } from '../protocol/address.js';
import { Balancer, ServerBalance, type BalancerHost, type MemberDraw } from '../balancer/balancer.js';
import type { Lease, MemberLease } from '../balancer/leases.js';
import type { ResolvedBalancingOptions } from '../balancer/options.js';
import type { ServerFailure, ServerView } from '../balancer/server-state.js';
import type { Clock } from '../clock.js';
import { MemberSetCache, WeightJournal, type ServerSlots } from '../picking/member-index.js';
import { drawWeighted } from '../picking/selection.js';
import { SlotNumbers } from '../picking/slot-numbers.js';
import { WeightedIndex } from '../picking/weighted-index.js';
import { serverKey, type KeyBy, type ServerStatus } from '../protocol/server-status.js';
import { carriedRampStart } from './carried-ramp.js';

/** What a table needs to know. @internal */
export interface BalancedTableSettings {
  readonly balancing: ResolvedBalancingOptions;
  readonly clock: Clock;
  readonly random: () => number;
  readonly keyBy: KeyBy;
  readonly warmupDivisor: number;
  readonly staleAfter: number;
  readonly expireAfter: number;
}

/** What the table tells its view. @internal */
export interface BalancedTableEvents {
  add(server: ServerStatus): void;
  update(server: ServerStatus): void;
  stale(server: ServerStatus): void;
  remove(server: ServerStatus): void;
  /** `shared`: the ejection came from another view through the store (not this view's evidence). */
  failed(server: ServerStatus, failure: ServerFailure, shared: boolean): void;
  recovered(server: ServerStatus): void;
}

interface Entry {
  readonly key: string;
  readonly slot: number;
  status: ServerStatus;
  /** Monotonic time of the last heartbeat (from the record's lastSeen). */
  seenAt: number;
  stale: boolean;
  readonly balance: ServerBalance;
}

const MEMBER_CACHE_LIMIT = 10_000;

/** A keyed server table balanced by a {@link Balancer}. @internal */
export class BalancedTable {
  private readonly table = new Map<string, Entry>();
  private readonly index = new WeightedIndex();
  private readonly bySlot: (Entry | undefined)[] = [];
  private readonly statusBySlot: (ServerStatus | undefined)[] = [];
  /** Monotonic seenAt of each slot while fresh (-Infinity once stale or free). */
  private readonly freshSeenAt = new SlotNumbers(-Infinity);
  private readonly serverSlots: ServerSlots = {
    slotOf: (key) => this.table.get(key)?.slot ?? -1,
    weightOf: (slot) => this.index.get(slot),
    keyAt: (slot) => this.bySlot[slot]?.key,
  };
  private readonly balancer: Balancer<Entry>;
  private readonly memberCache = new Map<string, MemberAddress>();
  private readonly memberObjectCache = new WeakMap<object, MemberAddress>();
  private memberWeights = new Float64Array(16);
  private readonly memberSets = new MemberSetCache();
  private readonly weightChanges = new WeightJournal();
  private journaling = false;
  /** Smallest seenAt among servers not marked stale (a lower bound): picks take out stale ones first once it is due. */
  private oldestFreshSeenAt = Infinity;

  constructor(
    private readonly settings: BalancedTableSettings,
    private readonly events: BalancedTableEvents,
  ) {
    this.balancer = new Balancer(settings.balancing, this.host());
  }

  /** Servers in the table. */
  get size(): number {
    return this.table.size;
  }

  /** Balancer counters and open leases. */
  get counters(): Balancer<Entry>['counters'] {
    return this.balancer.counters;
  }

  /** Leases open now. */
  get inFlight(): number {
    return this.balancer.inFlight;
  }

  /** Whether `key` is in the table. */
  has(key: string): boolean {
    return this.table.has(key);
  }

  /** Keys in the table. */
  keys(): IterableIterator<string> {
    return this.table.keys();
  }

  /**
   * Apply a record read from the data. Its `state` (draining, disabled) is the operator's,
   * set on the monitor: it replaces this view's administrative state for the key.
   * @returns false when `server` is the record the table already holds (nothing changed)
   */
  apply(key: string, server: ServerStatus): boolean {
    let entry = this.table.get(key);
    if (entry !== undefined && entry.status === server) return false;
    const { clock, staleAfter } = this.settings;
    // Ages come with the data as wall time; the table runs on the monotonic clock.
    const seenAt = clock.monotonic() - Math.max(0, clock.now() - server.lastSeen);
    const isNew = entry === undefined;
    const wasFresh = entry !== undefined && !entry.stale;
    // A new report, unless only the operator's state changed (setAdmin below re-weighs that).
    const before = entry?.status;
    const heartbeat = before === undefined || before.lastSeen !== server.lastSeen || before.ready !== server.ready || before.busy !== server.busy || before.port !== server.port;
    const returning = entry !== undefined && (entry.stale || clock.monotonic() - entry.seenAt >= staleAfter);
    if (entry === undefined) {
      entry = { key, slot: this.index.allocate(), status: server, seenAt, stale: false, balance: new ServerBalance() };
      this.table.set(key, entry);
      this.bySlot[entry.slot] = entry;
    }
    entry.status = server;
    entry.seenAt = seenAt;
    const fresh = clock.monotonic() - seenAt < staleAfter;
    entry.stale = !fresh;
    if (fresh) this.oldestFreshSeenAt = Math.min(this.oldestFreshSeenAt, seenAt);
    this.statusBySlot[entry.slot] = server;
    this.freshSeenAt.set(entry.slot, fresh ? seenAt : -Infinity);
    const admin = server.state === 'draining' || server.state === 'disabled' ? server.state : undefined;
    if (this.balancer.adminState(key) !== admin) this.balancer.setAdmin(key, admin);
    // A record carrying when the monitor put its server into rotation ramps from that moment
    // (in step with the monitor), not from what this view happened to see.
    const carried = server.inRotationSince !== undefined;
    if (heartbeat) this.balancer.heartbeat(entry, isNew, returning && fresh && !carried);
    const rampSince = carried ? carriedRampStart(before, server, this.settings.balancing.slowStart, clock) : undefined;
    if (rampSince !== undefined) this.balancer.rampFrom(entry, rampSince);
    if (isNew) this.events.add(server);
    this.events.update(server);
    // A record can arrive already stale (an hb.dat rewritten while its server is silent).
    if (wasFresh && !fresh) this.events.stale(server);
    return true;
  }

  /** A key left the data. */
  remove(key: string): void {
    const entry = this.table.get(key);
    if (entry === undefined) return;
    this.table.delete(key);
    this.bySlot[entry.slot] = undefined;
    this.statusBySlot[entry.slot] = undefined;
    this.freshSeenAt.set(entry.slot, -Infinity);
    this.balancer.removed(entry);
    if (this.balancer.adminState(key) !== undefined) this.balancer.setAdmin(key, undefined);
    this.index.release(entry.slot);
    if (this.journaling) this.weightChanges.record(entry.slot);
    this.events.remove(entry.status);
  }

  /** Mark servers stale, remove expired ones, run the balancer's timed work. */
  sweep(): void {
    const now = this.settings.clock.monotonic();
    let oldest = Infinity;
    for (const entry of this.table.values()) {
      const age = now - entry.seenAt;
      if (age >= this.settings.expireAfter) this.remove(entry.key);
      else if (age >= this.settings.staleAfter) this.markStale(entry);
      else if (!entry.stale && entry.seenAt < oldest) oldest = entry.seenAt;
    }
    this.oldestFreshSeenAt = oldest;
    this.balancer.tick();
  }

  /**
   * The records in slot order (the order draws walk, so the pure `pickBackend` over this
   * list draws what the view draws), with the state of servers out of rotation (the
   * operator's, or this view's failures).
   */
  servers(): ServerStatus[] {
    const list: ServerStatus[] = [];
    const now = this.settings.clock.monotonic();
    for (const entry of this.bySlot) {
      if (entry === undefined || now - entry.seenAt >= this.settings.expireAfter) continue;
      const state = this.balancer.overrideOf(entry);
      list.push(state === undefined || entry.status.state === state ? entry.status : { ...entry.status, state });
    }
    return list;
  }

  /** Servers in the table and how many are fresh. */
  counts(): { servers: number; fresh: number } {
    let fresh = 0;
    for (const entry of this.table.values()) if (this.isFresh(entry)) fresh++;
    return { servers: this.table.size, fresh };
  }

  /** Pick a server or one of `members` (the balancer's policy; counted). */
  pick<M extends BackendMember>(members: readonly M[] | undefined): ServerStatus | M | undefined {
    this.takeOutStaleServers();
    if (members === undefined) {
      const slot = this.balancer.pickServer();
      return slot < 0 ? undefined : this.statusBySlot[slot];
    }
    const draw = this.balancer.pickMember(members);
    return draw === undefined ? undefined : members[draw.position];
  }

  /** Pick and open a lease. */
  acquire<M extends BackendMember>(members: readonly M[] | undefined): MemberLease<M> | Lease | undefined {
    this.takeOutStaleServers();
    return this.balancer.acquire(members);
  }

  /** Report a failure; returns the servers it counted for. */
  markFailed(target: string | ServerStatus): number {
    return this.balancer.markFailed(target);
  }

  /**
   * Another view's failures took the server under `key` out of rotation until monotonic
   * time `until` (failures shared through the store).
   */
  ejectShared(key: string, until: number): void {
    const entry = this.table.get(key);
    const failure = entry === undefined ? undefined : this.balancer.ejectUntil(entry, until);
    if (entry !== undefined && failure !== undefined) this.events.failed(entry.status, failure, true);
  }

  /** The extended view of one server, or undefined. */
  serverState(target: string | ServerStatus): ServerView | undefined {
    const entry = this.balancer.find(target);
    return entry === undefined ? undefined : this.balancer.describe(entry);
  }

  /** Extended views of every server. */
  describe(): ServerView[] {
    return [...this.table.values()].map((entry) => this.balancer.describe(entry));
  }

  /**
   * Servers that turned stale since the last sweep leave the weights before a draw, so
   * a pick draws once, over the weights the pure pickBackend sees (cheap until one is due).
   */
  private takeOutStaleServers(): void {
    const now = this.settings.clock.monotonic();
    if (now - this.oldestFreshSeenAt < this.settings.staleAfter) return;
    let oldest = Infinity;
    for (const entry of this.table.values()) {
      if (entry.stale) continue;
      if (now - entry.seenAt >= this.settings.staleAfter) this.markStale(entry);
      else if (entry.seenAt < oldest) oldest = entry.seenAt;
    }
    this.oldestFreshSeenAt = oldest;
  }

  private host(): BalancerHost<Entry> {
    const { clock, random, keyBy, warmupDivisor } = this.settings;
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
      entryForMember: (member) => this.table.get(this.keyOfMember(member)),
      onFailed: (server, failure) => this.events.failed(server, failure, false),
      onRecovered: (server) => this.events.recovered(server),
    };
  }

  private drawServer(): number {
    const index = this.index;
    while (index.total > 0) {
      const slot = index.find(Math.floor(this.settings.random() * index.total));
      if (this.isSlotFresh(slot)) return slot;
      if (!this.takeOutStale(slot)) return -1;
    }
    return -1;
  }

  private drawMember(members: readonly BackendMember[]): MemberDraw | undefined {
    const set = this.memberSets.get(members, this.weightChanges, (member) => this.keyOfMember(member), this.serverSlots);
    if (set === undefined) return this.walkMembers(members);
    this.journaling = true;
    for (;;) {
      const position = set.draw(this.settings.random);
      if (position === undefined) return undefined;
      const slot = set.slotAt(position);
      if (this.isSlotFresh(slot)) return { position, slot };
      if (!this.takeOutStale(slot)) return undefined;
      set.catchUp(this.weightChanges, this.serverSlots);
    }
  }

  private walkMembers(members: readonly BackendMember[]): MemberDraw | undefined {
    if (this.memberWeights.length < members.length) this.memberWeights = new Float64Array(members.length * 2);
    const weights = this.memberWeights;
    let total = 0;
    for (let i = 0; i < members.length; i++) {
      const entry = this.table.get(this.keyOfMember(members[i] as BackendMember));
      let weight = 0;
      if (entry !== undefined) {
        if (this.isFresh(entry)) weight = this.index.get(entry.slot);
        else this.markStale(entry);
      }
      weights[i] = weight;
      total += weight;
    }
    const chosen = drawWeighted(weights, members.length, total, this.settings.random);
    const slot = chosen === undefined ? undefined : this.table.get(this.keyOfMember(members[chosen] as BackendMember))?.slot;
    return chosen === undefined || slot === undefined ? undefined : { position: chosen, slot };
  }

  private isSlotFresh(slot: number): boolean {
    return this.settings.clock.monotonic() - this.freshSeenAt.get(slot) < this.settings.staleAfter;
  }

  private isFresh(entry: Entry): boolean {
    return this.isSlotFresh(entry.slot);
  }

  private takeOutStale(slot: number): boolean {
    const entry = this.bySlot[slot];
    if (entry === undefined || entry.stale) return false;
    this.markStale(entry);
    return true;
  }

  private markStale(entry: Entry): void {
    if (entry.stale) return;
    entry.stale = true;
    this.freshSeenAt.set(entry.slot, -Infinity);
    this.setWeight(entry, 0);
    this.events.stale(entry.status);
  }

  private setWeight(entry: Entry, weight: number): void {
    if (this.index.get(entry.slot) === weight) return;
    this.index.set(entry.slot, weight);
    if (this.journaling) this.weightChanges.record(entry.slot);
  }

  private keyOfMember(member: BackendMember): string {
    const address = this.memberAddress(member);
    return this.settings.keyBy === 'ip' ? address.host : serverKey(address.host, address.port, this.settings.keyBy);
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
}
