/**
 * The table every picker balances over — the monitor's own and each view's: servers by
 * key, each in a slot of a weighted index, freshness by slot, member-set indexes, and the
 * draws. The monitor feeds it heartbeats as they arrive (`receive`); a view feeds it the
 * records it reads (`applyRecord`, `remove`). The policy — slow start, leases, p2c,
 * failures, fallbacks, admin states — is a {@link Balancer} the table owns: it sets the
 * weights and answers the table's questions during a pick, so every view balances the
 * way the monitor does and the rules exist once.
 * @module
 */
import type { BackendMember } from '../protocol/address.js';
import { Balancer, ServerBalance, type BalancerTable } from '../balancer/balancer.js';
import type { Lease, MemberLease } from '../balancer/leases.js';
import type { ResolvedBalancingOptions } from '../balancer/options.js';
import type { AdminState, ServerFailure, ServerView } from '../balancer/server-state.js';
import type { Clock } from '../clock.js';
import { heardWithin } from '../picking/freshness.js';
import { expectMembers, MemberKeys } from '../picking/member-key.js';
import { MemberSetCache, WeightJournal, type ServerSlots } from '../picking/member-index.js';
import { drawWeighted } from '../picking/selection.js';
import { SlotNumbers } from '../picking/slot-numbers.js';
import { WeightedIndex } from '../picking/weighted-index.js';
import type { KeyBy, ServerStatus } from '../protocol/server-status.js';
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
  /**
   * Where administrative states come from: the records a view reads (set on the monitor,
   * they travel with the data, and leave with the record), or the operator of this table
   * (the monitor's: heartbeats carry none, and a state outlives its server's expiry).
   */
  readonly adminFrom: 'records' | 'operator';
}

/** What the table tells its owner (the monitor or a view), as it happens. @internal */
export interface BalancedTableEvents {
  add(server: ServerStatus): void;
  update(server: ServerStatus): void;
  stale(server: ServerStatus): void;
  /** `key` left the table (expired, or gone from the data). */
  remove(server: ServerStatus, key: string): void;
  /** `shared`: the ejection came from another view through the store (not this table's evidence). */
  failed(server: ServerStatus, failure: ServerFailure, shared: boolean): void;
  recovered(server: ServerStatus): void;
}

/** A server in the table, as its owner may read it. @internal */
export interface TableEntry {
  /** Table key (`ip` or `ip:port`); the same string object while the server stays. */
  readonly key: string;
  /** Its last status (as received: without the administrative state). */
  readonly status: ServerStatus;
}

interface Entry extends TableEntry {
  readonly slot: number;
  status: ServerStatus;
  /** Monotonic time of the last heartbeat. */
  seenAt: number;
  stale: boolean;
  readonly balance: ServerBalance;
}

/** A member pick: where the member is in the members array, and its server's index slot. */
interface MemberDraw {
  readonly position: number;
  readonly slot: number;
}

/** A keyed server table balanced by a {@link Balancer}. @internal */
export class BalancedTable {
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
  private readonly balancer: Balancer<Entry>;
  private readonly memberKeys: MemberKeys;
  private memberWeights = new Float64Array(16);
  private readonly memberSets = new MemberSetCache();
  private readonly weightChanges = new WeightJournal();
  /** Weight changes are journaled once a member index exists to read them. */
  private journaling = false;
  /** Smallest seenAt among servers not marked stale (a lower bound): picks take out stale ones first once it is due. */
  private oldestFreshSeenAt = Infinity;
  /** Smallest seenAt of any server (a lower bound): picks let expired servers go first once it is due. */
  private oldestSeenAt = Infinity;

  constructor(
    private readonly settings: BalancedTableSettings,
    private readonly events: BalancedTableEvents,
  ) {
    this.memberKeys = new MemberKeys(settings.keyBy);
    const { clock, random, keyBy, warmupDivisor } = settings;
    this.balancer = new Balancer(settings.balancing, { clock, random, keyBy, warmupDivisor }, this.balancerTable(), {
      failed: (server, failure) => events.failed(server, failure, false),
      recovered: (server) => events.recovered(server),
    });
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

  /** The server with `key`, if it is in the table. */
  get(key: string): TableEntry | undefined {
    return this.table.get(key);
  }

  /** Keys in the table. */
  keys(): IterableIterator<string> {
    return this.table.keys();
  }

  /** Servers in the table, in the order they joined. */
  entries(): IterableIterator<TableEntry> {
    return this.table.values();
  }

  /**
   * A heartbeat of the server with `key` arrived (the monitor's table): it is fresh from
   * `seenAt` (monotonic). The administrative state is not touched — heartbeats carry none;
   * the operator sets it with {@link BalancedTable.setAdmin}.
   */
  receive(key: string, server: ServerStatus, seenAt: number): void {
    let entry = this.table.get(key);
    const isNew = entry === undefined;
    const returning = entry !== undefined && (entry.stale || !heardWithin(entry.seenAt, seenAt, this.settings.staleAfter));
    if (isNew || returning) this.oldestFreshSeenAt = Math.min(this.oldestFreshSeenAt, seenAt);
    if (entry === undefined) entry = this.insert(key, server);
    entry.status = server;
    entry.seenAt = seenAt;
    entry.stale = false;
    this.statusBySlot[entry.slot] = server;
    this.freshSeenAt.set(entry.slot, seenAt);
    this.balancer.heartbeat(entry, isNew, returning);
    if (isNew) this.events.add(server);
    this.events.update(server);
  }

  /**
   * Apply a record read from the data (a view's table). Its `state` (draining, disabled)
   * is the operator's, set on the monitor: it replaces this view's administrative state
   * for the key.
   * @returns false when `server` is the record the table already holds (nothing changed)
   */
  applyRecord(key: string, server: ServerStatus): boolean {
    let entry = this.table.get(key);
    if (entry !== undefined && entry.status === server) return false;
    const { clock, staleAfter } = this.settings;
    const now = clock.monotonic();
    // Ages come with the data as wall time; the table runs on the monotonic clock.
    const seenAt = now - Math.max(0, clock.now() - server.lastSeen);
    const isNew = entry === undefined;
    const wasFresh = entry !== undefined && !entry.stale;
    // A new report, unless only the operator's state changed (setAdmin below re-weighs that).
    const before = entry?.status;
    const heartbeat = before === undefined || before.lastSeen !== server.lastSeen || before.ready !== server.ready || before.busy !== server.busy || before.port !== server.port;
    const returning = entry !== undefined && (entry.stale || !heardWithin(entry.seenAt, now, staleAfter));
    if (entry === undefined) entry = this.insert(key, server);
    entry.status = server;
    entry.seenAt = seenAt;
    const fresh = heardWithin(seenAt, now, staleAfter);
    entry.stale = !fresh;
    if (fresh) this.oldestFreshSeenAt = Math.min(this.oldestFreshSeenAt, seenAt);
    if (seenAt < this.oldestSeenAt) this.oldestSeenAt = seenAt;
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

  /**
   * Whether a heartbeat at monotonic `seenAt` puts the server of `entry` (as `get()`
   * returned it; undefined: not in the table) into rotation: it is new, or returns after
   * going stale (the monitor records the moment with the data).
   */
  entersRotation(entry: TableEntry | undefined, seenAt: number): boolean {
    // Every TableEntry is one of this table's entries: no second lookup per heartbeat.
    const known = entry as Entry | undefined;
    return known === undefined || known.stale || !heardWithin(known.seenAt, seenAt, this.settings.staleAfter);
  }

  /** Replace the status of the server with `key` without a heartbeat (the monitor's `enable()` restamps `inRotationSince`). */
  restamp(key: string, server: ServerStatus): void {
    const entry = this.table.get(key);
    if (entry === undefined) return;
    entry.status = server;
    this.statusBySlot[entry.slot] = server;
  }

  /** Servers `target` (`ip`, `ip:port` or a status) names now. */
  entriesOf(target: string | ServerStatus): TableEntry[] {
    return this.balancer.entriesOf(target);
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

  /** A key left the data (or expired). */
  remove(key: string): void {
    const entry = this.table.get(key);
    if (entry === undefined) return;
    this.table.delete(key);
    this.bySlot[entry.slot] = undefined;
    this.statusBySlot[entry.slot] = undefined;
    this.freshSeenAt.set(entry.slot, -Infinity);
    this.balancer.removed(entry);
    if (this.settings.adminFrom === 'records' && this.balancer.adminState(key) !== undefined) this.balancer.setAdmin(key, undefined);
    this.index.release(entry.slot);
    if (this.journaling) this.weightChanges.record(entry.slot);
    this.events.remove(entry.status, key);
  }

  /**
   * Set (or with undefined clear) the operator's state of `target` (`ip`, `ip:port` or a
   * status). It holds until changed: later heartbeats keep it.
   * @returns the servers in the table it applies to now
   */
  setAdmin(target: string | ServerStatus, state: AdminState | undefined): TableEntry[] {
    this.balancer.setAdmin(target, state);
    return this.balancer.entriesOf(target);
  }

  /** The operator's state for the server with `key` on `ip`, in the table or not yet. */
  adminOf(key: string, ip: string): AdminState | undefined {
    return this.balancer.adminOfKey(key, ip);
  }

  /** Mark servers stale, remove expired ones, run the balancer's timed work. */
  sweep(): void {
    const now = this.settings.clock.monotonic();
    const { staleAfter, expireAfter } = this.settings;
    let oldest = Infinity;
    let oldestKept = Infinity;
    for (const entry of this.table.values()) {
      if (!heardWithin(entry.seenAt, now, expireAfter)) {
        this.remove(entry.key);
        continue;
      }
      if (entry.seenAt < oldestKept) oldestKept = entry.seenAt;
      if (!heardWithin(entry.seenAt, now, staleAfter)) this.markStale(entry);
      else if (!entry.stale && entry.seenAt < oldest) oldest = entry.seenAt;
    }
    this.oldestFreshSeenAt = oldest;
    this.oldestSeenAt = oldestKept;
    this.balancer.tick();
  }

  /**
   * The records in slot order (the order draws walk, so the pure `pickBackend` over this
   * list draws what the table draws), with the state of servers out of rotation (the
   * operator's, or failures').
   */
  servers(): ServerStatus[] {
    const list: ServerStatus[] = [];
    const now = this.settings.clock.monotonic();
    for (const entry of this.bySlot) {
      if (entry === undefined || !heardWithin(entry.seenAt, now, this.settings.expireAfter)) continue;
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

  /** The statuses of the fresh servers. */
  freshServers(): ServerStatus[] {
    const list: ServerStatus[] = [];
    for (const entry of this.table.values()) if (this.isFresh(entry)) list.push(entry.status);
    return list;
  }

  /** Whether `member` names a server in the table (fresh or not). */
  hasMember(member: BackendMember): boolean {
    return this.table.has(this.memberKeys.keyOf(member));
  }

  /** Pick a server or one of `members` (the balancer's policy; counted). */
  pick<M extends BackendMember>(members: readonly M[] | undefined): ServerStatus | M | undefined {
    expectMembers(members);
    this.takeOutStaleServers();
    if (members === undefined) {
      const slot = this.pickServer();
      return slot < 0 ? undefined : this.statusBySlot[slot];
    }
    const draw = this.pickMember(members);
    return draw === undefined ? undefined : members[draw.position];
  }

  /** Pick and open a lease. */
  acquire<M extends BackendMember>(members: readonly M[] | undefined): MemberLease<M> | Lease | undefined {
    expectMembers(members);
    this.takeOutStaleServers();
    if (members === undefined) {
      const entry = this.bySlot[this.pickServer()];
      return entry === undefined ? undefined : this.balancer.openLease(entry, undefined);
    }
    const draw = this.pickMember(members);
    const entry = draw === undefined ? undefined : this.bySlot[draw.slot];
    return draw === undefined || entry === undefined ? undefined : this.balancer.openLease(entry, members[draw.position]);
  }

  /** Report a failure; returns the servers it counted for. */
  markFailed(target: string | ServerStatus): number {
    return this.balancer.markFailed(target);
  }

  /** The extended view of one server, or undefined (as of now: see {@link BalancedTable.describe}). */
  serverState(target: string | ServerStatus): ServerView | undefined {
    this.catchUp();
    const entry = this.balancer.find(target);
    return entry === undefined ? undefined : this.balancer.describe(entry);
  }

  /**
   * Extended views of every server, as of now: ramps, retries and staleness are brought up
   * to date first, as a pick does, so a status page or a metrics scrape between picks never
   * shows the weights of the last pick (up to a sweep interval old).
   */
  describe(): ServerView[] {
    this.catchUp();
    return [...this.table.values()].map((entry) => this.balancer.describe(entry));
  }

  /** Bring time-driven state up to now without picking: servers turned stale, slow-start ramps, retries due. */
  private catchUp(): void {
    this.takeOutStaleServers();
    this.balancer.beforePick();
  }

  /**
   * A pick among all servers: draw by weight (twice under p2c, keeping the draw with more
   * headroom), else the balancer's fallbacks. Allocation-free on the common path, and it
   * reads nothing of the server but its slot's weight, freshness and pick count.
   * @returns the server's slot, or -1
   */
  private pickServer(): number {
    const balancer = this.balancer;
    balancer.beforePick();
    let slot = this.drawServer();
    if (slot < 0) return balancer.fallback(undefined)?.entry.slot ?? -1;
    if (balancer.twoChoices) {
      const other = this.drawServer();
      if (other >= 0 && balancer.prefers(other, slot)) slot = other;
    }
    balancer.picked(slot);
    return slot;
  }

  /** A pick among `members`, like {@link BalancedTable.pickServer}. */
  private pickMember(members: readonly BackendMember[]): MemberDraw | undefined {
    const balancer = this.balancer;
    balancer.beforePick();
    let draw = this.drawMember(members);
    if (draw === undefined) {
      const chosen = balancer.fallback(members);
      return chosen === undefined ? undefined : { position: chosen.position, slot: chosen.entry.slot };
    }
    if (balancer.twoChoices) {
      const other = this.drawMember(members);
      if (other !== undefined && balancer.prefers(other.slot, draw.slot)) draw = other;
    }
    balancer.picked(draw.slot);
    return draw;
  }

  /**
   * Servers that turned stale since the last sweep leave the weights before a draw, so
   * a pick draws once, over the weights the pure pickBackend sees (cheap until one is due).
   */
  private takeOutStaleServers(): void {
    const now = this.settings.clock.monotonic();
    const { staleAfter, expireAfter } = this.settings;
    // An expired server is already out of servers(): it must not be drawn either (the last-known
    // fallback draws among servers in the table) in the moments before the next sweep.
    if (!heardWithin(this.oldestSeenAt, now, expireAfter)) {
      this.sweep();
      return;
    }
    if (heardWithin(this.oldestFreshSeenAt, now, staleAfter)) return;
    let oldest = Infinity;
    for (const entry of this.table.values()) {
      if (entry.stale) continue;
      if (!heardWithin(entry.seenAt, now, staleAfter)) this.markStale(entry);
      else if (entry.seenAt < oldest) oldest = entry.seenAt;
    }
    this.oldestFreshSeenAt = oldest;
  }

  /** What the balancer reads of this table (and the weights it sets). */
  private balancerTable(): BalancerTable<Entry> {
    return {
      entries: () => this.table.values(),
      lookup: (key) => this.table.get(key),
      entryAt: (slot) => this.bySlot[slot],
      entryForMember: (member) => this.table.get(this.memberKeys.keyOf(member)),
      isFresh: (entry) => this.isFresh(entry),
      weightAt: (slot) => this.index.get(slot),
      setWeight: (entry, weight) => this.setWeight(entry, weight),
    };
  }

  private insert(key: string, server: ServerStatus): Entry {
    const entry: Entry = { key, slot: this.index.allocate(), status: server, seenAt: -Infinity, stale: false, balance: new ServerBalance() };
    this.table.set(key, entry);
    this.bySlot[entry.slot] = entry;
    return entry;
  }

  /** The slot of a fresh server drawn by weight, or -1. */
  private drawServer(): number {
    const index = this.index;
    // A server may have turned stale since the last sweep: drop it and draw again.
    while (index.total > 0) {
      const slot = index.find(Math.floor(this.settings.random() * index.total));
      if (this.isSlotFresh(slot)) return slot;
      if (!this.takeOutStale(slot)) return -1;
    }
    return -1;
  }

  /** A member of a fresh server drawn by weight, or undefined. */
  private drawMember(members: readonly BackendMember[]): MemberDraw | undefined {
    const set = this.memberSets.get(members, this.weightChanges, (member) => this.memberKeys.keyOf(member), this.serverSlots);
    if (set === undefined) return this.walkMembers(members);
    this.journaling = true;
    for (;;) {
      const position = set.draw(this.settings.random);
      if (position === undefined) return undefined;
      const slot = set.slotAt(position);
      if (this.isSlotFresh(slot)) return { position, slot };
      // Turned stale since the last sweep: take it out (journaled) and draw again.
      if (!this.takeOutStale(slot)) return undefined;
      set.catchUp(this.weightChanges, this.serverSlots);
    }
  }

  /** A members array seen once: weigh each member (O(M)) and draw. */
  private walkMembers(members: readonly BackendMember[]): MemberDraw | undefined {
    if (this.memberWeights.length < members.length) this.memberWeights = new Float64Array(members.length * 2);
    const weights = this.memberWeights;
    let total = 0;
    for (let i = 0; i < members.length; i++) {
      const entry = this.table.get(this.memberKeys.keyOf(members[i] as BackendMember));
      let weight = 0;
      if (entry !== undefined) {
        if (this.isFresh(entry)) weight = this.index.get(entry.slot);
        else this.markStale(entry);
      }
      weights[i] = weight;
      total += weight;
    }
    const chosen = drawWeighted(weights, members.length, total, this.settings.random);
    const slot = chosen === undefined ? undefined : this.table.get(this.memberKeys.keyOf(members[chosen] as BackendMember))?.slot;
    return chosen === undefined || slot === undefined ? undefined : { position: chosen, slot };
  }

  private isSlotFresh(slot: number): boolean {
    return heardWithin(this.freshSeenAt.get(slot), this.settings.clock.monotonic(), this.settings.staleAfter);
  }

  private isFresh(entry: Entry): boolean {
    return this.isSlotFresh(entry.slot);
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

  private markStale(entry: Entry): void {
    if (entry.stale) return;
    entry.stale = true;
    this.freshSeenAt.set(entry.slot, -Infinity);
    this.setWeight(entry, 0);
    this.events.stale(entry.status);
  }

  private setWeight(entry: Entry, weight: number): void {
    // Most heartbeats repeat the weight: nothing for member indexes to catch up on.
    if (this.index.get(entry.slot) === weight) return;
    this.index.set(entry.slot, weight);
    if (this.journaling) this.weightChanges.record(entry.slot);
  }
}

