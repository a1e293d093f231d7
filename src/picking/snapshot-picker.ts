/**
 * Fast picks from a snapshot of servers (the SlotStore view's, the hb.dat reader's): the
 * same choices as the pure {@link pickBackend} over that snapshot, from weighted indexes
 * updated in place where a new snapshot differs from the last one (or at the positions
 * its caller edited in place), and where a server turned stale or expired with time (the
 * next such moment of every position is kept in a heap), instead of walked on every pick.
 * @module
 */
import { parseMember, type BackendMember } from '../protocol/address.js';
import { DeadlineHeap } from './deadline-heap.js';
import { MemberSetCache, WeightJournal, type ServerSlots } from './member-index.js';
import { DEFAULT_STALE_AFTER, DEFAULT_WARMUP_DIVISOR, pickBackend, pickWeight, type PickOptions } from './selection.js';
import { serverKey, type KeyBy, type ServerStatus } from '../protocol/server-status.js';
import { SlotNumbers } from './slot-numbers.js';
import { WeightedIndex } from './weighted-index.js';

/**
 * A snapshot of servers by position. A position may be empty (undefined): a caller that
 * keeps servers at fixed positions, such as the SlotStore view by slot, then adds and
 * removes servers by editing positions in place instead of building a new array.
 * @internal
 */
export type Snapshot = readonly (ServerStatus | undefined)[];

/**
 * Positions a caller overwrote in its snapshot array since it last passed it to
 * {@link SnapshotPicker.pick}, each with the server it held before (a position may be
 * listed more than once).
 * @internal
 */
export interface SnapshotEdits {
  readonly positions: readonly number[];
  /** `previous[i]` is the server that was at `positions[i]` before that overwrite (undefined: it was empty). */
  readonly previous: readonly (ServerStatus | undefined)[];
}

/**
 * Picks like `pickBackend(snapshot, members, options)` where `snapshot` is an array the
 * caller either replaces when its servers change, or overwrites in place and reports
 * the overwritten positions as {@link SnapshotEdits} to the next pick.
 * @internal
 */
export class SnapshotPicker {
  private readonly random: () => number;
  private readonly staleAfter: number;
  private readonly divisor: number;
  private readonly keyBy: KeyBy;
  private snapshot: Snapshot | undefined;
  /** The time the weights were last brought up to date for; an earlier `now` (the clock went back) rebuilds. */
  private weighedAt = -Infinity;
  /**
   * By position: when its weight next changes with time alone (stale, then expired), and
   * the deadline it is queued under in `due` (Infinity: not queued). A deadline that moves
   * later stays queued under the earlier one and is re-queued when that one comes.
   */
  private nextChange = new SlotNumbers(Infinity);
  private queuedAt = new SlotNumbers(Infinity);
  private readonly due = new DeadlineHeap();
  /**
   * Snapshot position of each key (its weight is the server index's at that position); a
   * key seen twice forces full rebuilds (`duplicates`).
   */
  private readonly positionByKey = new Map<string, number>();
  /** The member indexes read a key's position in the snapshot and the weight there. */
  private readonly slots: ServerSlots = {
    slotOf: (key) => this.positionByKey.get(key) ?? -1,
    weightOf: (position) => this.serverIndex.get(position),
    keyAt: (position) => this.keyAtPosition[position],
  };
  /** By position: the key of its server while it is that key's position in `positionByKey`. */
  private keyAtPosition: (string | undefined)[] = [];
  private duplicates = false;
  /** Positions whose weight or server changed, for the member indexes. */
  private readonly journal = new WeightJournal();
  private serverIndex = new WeightedIndex(1);
  /** Positions in `serverIndex`: the snapshot's length when it was last indexed or extended. */
  private indexed = 0;
  private readonly memberSets = new MemberSetCache();

  /**
   * @param options - the pick options of the pure function (`now` is passed per pick)
   * @param expireAfter - servers this old count as absent, as if filtered out first
   */
  constructor(
    options: Omit<PickOptions, 'now'>,
    private readonly expireAfter = Infinity,
  ) {
    this.random = options.random ?? Math.random;
    this.staleAfter = options.staleAfter ?? DEFAULT_STALE_AFTER;
    this.divisor = options.warmupDivisor ?? DEFAULT_WARMUP_DIVISOR;
    this.keyBy = options.keyBy ?? 'ip';
  }

  /**
   * Pick among all servers of `snapshot` (or among `members`) at wall time `now`.
   * @param edits - positions of `snapshot` overwritten in place since the last pick;
   *   required for such edits, because the array is then the same one as last time
   *   (which may also have grown: positions past its old end count as edited only
   *   where they are listed, the others as empty)
   */
  pick<M extends BackendMember>(snapshot: Snapshot, members: readonly M[] | undefined, now: number, edits?: SnapshotEdits): ServerStatus | M | undefined {
    if (snapshot === this.snapshot) this.extend(snapshot.length);
    if (edits !== undefined && edits.positions.length > 0) this.applyEdits(snapshot, edits, now);
    this.update(snapshot, now);
    if (members === undefined) {
      const total = this.serverIndex.total;
      return total > 0 ? snapshot[this.serverIndex.find(Math.floor(this.random() * total))] : undefined;
    }
    const set = this.memberSets.get(members, this.journal, (member) => this.keyOf(member), this.slots);
    if (set === undefined) {
      const live = snapshot.filter((server): server is ServerStatus => server !== undefined && now - server.lastSeen < this.expireAfter);
      return pickBackend(live, members, { random: this.random, now, staleAfter: this.staleAfter, warmupDivisor: this.divisor, keyBy: this.keyBy });
    }
    const position = set.draw(this.random);
    return position === undefined ? undefined : members[position];
  }

  /**
   * Drop what is known of the caller's snapshot, so that the next pick re-weighs it fully:
   * for edits made in place that the caller no longer lists.
   */
  forget(): void {
    this.snapshot = undefined;
  }

  /**
   * Re-weigh the positions whose server crossed staleAfter or expireAfter since the last
   * pick, and when the snapshot was replaced the positions whose server object changed
   * (when the length is the same); fully for another snapshot, or when the clock went back.
   */
  private update(snapshot: Snapshot, now: number): void {
    const clockKept = now >= this.weighedAt;
    const previous = this.snapshot;
    this.snapshot = snapshot;
    // A snapshot with a key twice is rebuilt rather than patched, but only when something changed.
    const current =
      clockKept &&
      (previous === snapshot
        ? this.due.peek() > now || (!this.duplicates && this.weighDue(snapshot, now))
        : !this.duplicates && previous?.length === snapshot.length && this.patch(previous, snapshot, now) && this.weighDue(snapshot, now));
    this.weighedAt = now;
    if (current) return;
    this.due.clear();
    this.nextChange = new SlotNumbers(Infinity);
    this.queuedAt = new SlotNumbers(Infinity);
    this.positionByKey.clear();
    this.keyAtPosition = [];
    this.duplicates = false;
    this.serverIndex = new WeightedIndex(Math.max(1, snapshot.length));
    this.indexed = snapshot.length;
    // Not forEach: it skips the holes of a sparse snapshot, which still take a position.
    for (let position = 0; position < snapshot.length; position++) {
      this.serverIndex.allocate();
      this.place(snapshot[position], position, now);
    }
    // Every position may hold another server now: member indexes map everything afresh.
    this.journal.reset();
  }

  /** Empty positions up to `length`, for a snapshot that grew in place. */
  private extend(length: number): void {
    for (; this.indexed < length; this.indexed++) this.serverIndex.allocate();
  }

  /**
   * Re-weigh the positions whose next change came by `now`, in deadline order.
   * @returns false when that needs a full rebuild instead (a key appeared twice)
   */
  private weighDue(snapshot: Snapshot, now: number): boolean {
    const due = this.due;
    while (due.peek() <= now) {
      const deadline = due.peek();
      const position = due.peekItem();
      due.pop();
      // An entry left behind by a deadline that moved earlier.
      if (this.queuedAt.get(position) !== deadline) continue;
      this.queuedAt.set(position, Infinity);
      const server = snapshot[position];
      if (this.nextChange.get(position) > now) this.schedule(position);
      else if (!this.replace(server, server, position, now)) return false;
    }
    // Left-behind entries only pile up when deadlines keep moving earlier: start the heap afresh.
    if (due.size > 2 * this.indexed + 64) this.requeueAll();
    return true;
  }

  /** Queue `position` under its next change, unless it is queued for an earlier one already. */
  private schedule(position: number): void {
    const next = this.nextChange.get(position);
    if (next === Infinity || next >= this.queuedAt.get(position)) return;
    this.queuedAt.set(position, next);
    this.due.push(next, position);
  }

  private requeueAll(): void {
    this.due.clear();
    this.queuedAt = new SlotNumbers(Infinity);
    for (let position = 0; position < this.indexed; position++) this.schedule(position);
  }

  /** Give `position` to `server` (or leave it empty): its weight, its key, and when that weight next changes. */
  private place(server: ServerStatus | undefined, position: number, now: number): void {
    const age = server === undefined ? Infinity : now - server.lastSeen;
    if (server === undefined || age >= this.expireAfter) {
      this.serverIndex.set(position, 0);
      this.keyAtPosition[position] = undefined;
      this.nextChange.set(position, Infinity);
      return;
    }
    const weight = pickWeight(server, now, this.staleAfter, this.divisor);
    // A weighted server next turns stale; one without weight can only expire.
    this.nextChange.set(position, weight > 0 ? server.lastSeen + this.staleAfter : server.lastSeen + this.expireAfter);
    this.schedule(position);
    this.serverIndex.set(position, weight);
    const key = serverKey(server.ip, server.port, this.keyBy);
    const known = this.positionByKey.get(key);
    // As in the pure function, a later server with the same key replaces an earlier one;
    // rather than track that order through patches, such snapshots are always rebuilt.
    if (known !== undefined && known !== position) this.duplicates = true;
    if (known === undefined || known <= position) {
      if (known !== undefined) this.keyAtPosition[known] = undefined;
      this.positionByKey.set(key, position);
      this.keyAtPosition[position] = key;
    }
  }

  /**
   * Re-weigh the edited positions of the snapshot the indexes were built from. Anything
   * else (another array, a window that closed, duplicate keys) forgets the snapshot, so
   * that `update` rebuilds: diffing an array edited in place against itself finds nothing.
   */
  private applyEdits(snapshot: Snapshot, edits: SnapshotEdits, now: number): void {
    if (snapshot === this.snapshot && now >= this.weighedAt && !this.duplicates && this.patchEdits(snapshot, edits, now)) return;
    this.forget();
  }

  /** Apply `edits` one by one; false when a full rebuild is needed instead. */
  private patchEdits(snapshot: Snapshot, edits: SnapshotEdits, now: number): boolean {
    for (let i = 0; i < edits.positions.length; i++) {
      const position = edits.positions[i] ?? -1;
      if (position < 0 || position >= snapshot.length || !this.replace(edits.previous[i], snapshot[position], position, now)) return false;
    }
    return true;
  }

  /** Apply the positions whose server changed; false when a full rebuild is needed instead. */
  private patch(previous: Snapshot, snapshot: Snapshot, now: number): boolean {
    for (let position = 0; position < snapshot.length; position++) {
      const before = previous[position];
      const after = snapshot[position];
      if (before !== after && !this.replace(before, after, position, now)) return false;
    }
    return true;
  }

  /** `after` takes `position` from `before` (either may be empty); false when that made a key appear twice. */
  private replace(before: ServerStatus | undefined, after: ServerStatus | undefined, position: number, now: number): boolean {
    const oldKey = before === undefined ? undefined : serverKey(before.ip, before.port, this.keyBy);
    if (oldKey !== undefined && this.positionByKey.get(oldKey) === position) {
      this.positionByKey.delete(oldKey);
      this.keyAtPosition[position] = undefined;
    }
    this.place(after, position, now);
    if (this.duplicates) return false;
    this.journal.record(position);
    return true;
  }

  private keyOf(member: BackendMember): string {
    const { host, port } = parseMember(member);
    return this.keyBy === 'ip' ? host : serverKey(host, port, this.keyBy);
  }
}
