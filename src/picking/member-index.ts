/**
 * Fast `pickBackend(members)`: a weighted index over one members array, kept in member
 * order and brought up to date from a journal of the slots whose weight or server
 * changed, so a pick costs O(log M) instead of a walk over every member (SPEC 2.2).
 *
 * The journal holds slot numbers, not server keys: catching up on a heartbeat is then a
 * few reads of compact arrays by slot, where a key would cost two string-keyed map
 * lookups, each a string of cache misses at 100,000 servers.
 * @module
 */
import { SlotNumbers } from './slot-numbers.js';
import { WeightedIndex } from './weighted-index.js';

/** Entries kept before the oldest half is dropped; an index older than that rebuilds. */
const JOURNAL_LIMIT = 65_536;

/**
 * The slots whose weight or server changed, in order, numbered by a version counter.
 * @internal
 */
export class WeightJournal {
  private slots: number[] = [];
  /** Version of `slots[0]`. */
  private base = 0;

  /** The version after the latest change. */
  get version(): number {
    return this.base + this.slots.length;
  }

  /** Note that the weight of `slot`, or the server in it, changed. */
  record(slot: number): void {
    this.slots.push(slot);
    if (this.slots.length > JOURNAL_LIMIT) this.drop(this.slots.length - JOURNAL_LIMIT / 2);
  }

  /** Everything may have changed: every reader starts over (the version moves on, out of reach). */
  reset(): void {
    this.base = this.version + 1;
    this.slots = [];
  }

  /**
   * Visit every slot changed since `version`.
   * @returns false when the journal no longer reaches back to `version` (nothing visited)
   */
  since(version: number, visit: (slot: number) => void): boolean {
    if (version < this.base) return false;
    for (let i = version - this.base; i < this.slots.length; i++) visit(this.slots[i] as number);
    return true;
  }

  private drop(count: number): void {
    this.slots = this.slots.slice(count);
    this.base += count;
  }
}

/**
 * Where a member set reads its servers: the slot a server key has in the caller's own
 * weighted index (or snapshot), the weight in a slot and the key of the server in it.
 * @internal
 */
export interface ServerSlots {
  /** Slot of the server with `key`, or -1 when it is unknown. */
  slotOf(key: string): number;
  /** Current weight of the server in `slot`. */
  weightOf(slot: number): number;
  /**
   * Key of the server in `slot`, or undefined for a free slot. A slot that got another
   * server must answer with another string object: the set compares references.
   */
  keyAt(slot: number): string | undefined;
}

/** `soloPosition` of a slot mapped to several member positions (see `sharedPositions`). */
const SHARED = -2;

/**
 * The weights of one members array, in member order, and the slot of each member's
 * server, so that a pick reads no per-server object at all.
 * @internal
 */
export class MemberSetIndex<M> {
  private readonly members: readonly M[];
  /** Member positions of each server key. */
  private readonly positionsByKey = new Map<string, number[]>();
  private readonly index: WeightedIndex;
  /** Server slot of each member position (-1: unknown server). */
  private readonly slotOfPosition: Int32Array;
  /** By slot: the key it was mapped for (compared by reference to notice a new server). */
  private keyOfSlot: (string | undefined)[] = [];
  /** By slot: its only member position, -1 for none, or SHARED. */
  private soloPosition = new SlotNumbers(-1);
  private sharedPositions = new Map<number, readonly number[]>();
  private version: number;

  /**
   * @param members - the members array (copied, to detect later changes to it)
   * @param keyOf - server key a member routes to (throws for an invalid member)
   * @param servers - slots and weights of the servers, read now and on {@link MemberSetIndex.catchUp}
   * @param version - journal version the weights are read at
   */
  constructor(members: readonly M[], keyOf: (member: M) => string, servers: ServerSlots, version: number) {
    this.members = members.slice();
    this.index = new WeightedIndex(this.members.length);
    this.slotOfPosition = new Int32Array(this.members.length).fill(-1);
    this.members.forEach((member, position) => {
      const key = keyOf(member);
      this.index.allocate();
      const list = this.positionsByKey.get(key);
      if (list === undefined) this.positionsByKey.set(key, [position]);
      else list.push(position);
    });
    this.version = version;
    this.remapAll(servers);
  }

  /** Whether `members` still holds exactly the members this index was built from. */
  matches(members: readonly M[]): boolean {
    if (members.length !== this.members.length) return false;
    for (let i = 0; i < members.length; i++) if (members[i] !== this.members[i]) return false;
    return true;
  }

  /** Apply the changes journaled since this index was last brought up to date. */
  catchUp(journal: WeightJournal, servers: ServerSlots): void {
    if (this.version === journal.version) return;
    if (!journal.since(this.version, (slot) => this.refresh(slot, servers))) this.remapAll(servers);
    this.version = journal.version;
  }

  /** Slot of the server of the member at `position` (-1: unknown server). */
  slotAt(position: number): number {
    return this.slotOfPosition[position] ?? -1;
  }

  /**
   * Draw a member position in exact proportion to its weight: the same position a walk
   * over the members subtracting weights from `floor(random() * total)` would reach.
   * Like that walk, `random` is not called when no member has weight.
   */
  draw(random: () => number): number | undefined {
    const total = this.index.total;
    return total > 0 ? this.index.find(Math.floor(random() * total)) : undefined;
  }

  /** Re-read one slot: its weight, and whose it is when its server changed. */
  private refresh(slot: number, servers: ServerSlots): void {
    const key = servers.keyAt(slot);
    if (key !== this.keyOfSlot[slot]) this.remap(slot, key);
    const solo = this.soloPosition.get(slot);
    if (solo === -1) return;
    const weight = servers.weightOf(slot);
    if (solo !== SHARED) this.index.set(solo, weight);
    else for (const position of this.sharedPositions.get(slot) ?? []) this.index.set(position, weight);
  }

  /** `slot` now holds the server with `key` (or none): move the members of the old one out. */
  private remap(slot: number, key: string | undefined): void {
    for (const position of this.positionsAt(slot)) {
      // Unless they already moved with their server to another slot.
      if (this.slotOfPosition[position] !== slot) continue;
      this.slotOfPosition[position] = -1;
      this.index.set(position, 0);
    }
    this.sharedPositions.delete(slot);
    this.soloPosition.set(slot, -1);
    this.keyOfSlot[slot] = key;
    const positions = key === undefined ? undefined : this.positionsByKey.get(key);
    if (positions !== undefined) this.assign(slot, positions);
  }

  /** Map every member afresh (first use, or the journal no longer reaches back). */
  private remapAll(servers: ServerSlots): void {
    this.keyOfSlot = [];
    this.soloPosition = new SlotNumbers(-1);
    this.sharedPositions = new Map();
    for (const [key, positions] of this.positionsByKey) {
      const slot = servers.slotOf(key);
      const weight = slot < 0 ? 0 : servers.weightOf(slot);
      for (const position of positions) {
        this.slotOfPosition[position] = slot;
        this.index.set(position, weight);
      }
      if (slot < 0) continue;
      // The slot's own key object, so refresh() sees the same reference.
      this.keyOfSlot[slot] = servers.keyAt(slot);
      this.assign(slot, positions);
    }
  }

  private assign(slot: number, positions: readonly number[]): void {
    for (const position of positions) this.slotOfPosition[position] = slot;
    if (positions.length === 1) this.soloPosition.set(slot, positions[0] as number);
    else {
      this.soloPosition.set(slot, SHARED);
      this.sharedPositions.set(slot, positions);
    }
  }

  private positionsAt(slot: number): readonly number[] {
    const solo = this.soloPosition.get(slot);
    if (solo === -1) return [];
    return solo === SHARED ? (this.sharedPositions.get(slot) ?? []) : [solo];
  }
}

/**
 * The indexes of the members arrays a picker is called with, by array identity. An array
 * that is not frozen is indexed from its second use (one built per call is walked instead)
 * and compared with the index's copy on each use, since it may have changed in place.
 * @internal
 */
export class MemberSetCache {
  private readonly sets = new WeakMap<readonly unknown[], MemberSetIndex<unknown> | null>();

  /**
   * The index of `members`, brought up to date from `journal`; undefined on the first
   * use of an array that is not frozen.
   */
  get<M>(members: readonly M[], journal: WeightJournal, keyOf: (member: M) => string, servers: ServerSlots): MemberSetIndex<M> | undefined {
    const frozen = Object.isFrozen(members);
    const cached = this.sets.get(members) as MemberSetIndex<M> | null | undefined;
    if (cached === undefined && !frozen) {
      this.sets.set(members, null);
      return undefined;
    }
    if (cached && (frozen || cached.matches(members))) {
      cached.catchUp(journal, servers);
      return cached;
    }
    const set = new MemberSetIndex(members, keyOf, servers, journal.version);
    this.sets.set(members, set);
    return set;
  }
}
