/**
 * Fast `pickBackend(members)`: a weighted index over one members array, kept in member
 * order and brought up to date from a journal of the servers whose weight changed, so a
 * pick costs O(log M) instead of a walk over every member (SPEC 2.2).
 * @module
 */
import { WeightedIndex } from './weighted-index.js';

/** Entries kept before the oldest half is dropped; an index older than that rebuilds. */
const JOURNAL_LIMIT = 65_536;

/**
 * The keys of servers whose weight changed, in order, numbered by a version counter.
 * @internal
 */
export class WeightJournal {
  private keys: string[] = [];
  /** Version of `keys[0]`. */
  private base = 0;

  /** The version after the latest change. */
  get version(): number {
    return this.base + this.keys.length;
  }

  /** Note that the weight of the server with `key` changed. */
  record(key: string): void {
    this.keys.push(key);
    if (this.keys.length > JOURNAL_LIMIT) {
      const dropped = this.keys.length - JOURNAL_LIMIT / 2;
      this.keys = this.keys.slice(dropped);
      this.base += dropped;
    }
  }

  /**
   * Visit every key changed since `version`.
   * @returns false when the journal no longer reaches back to `version` (nothing visited)
   */
  since(version: number, visit: (key: string) => void): boolean {
    if (version < this.base) return false;
    for (let i = version - this.base; i < this.keys.length; i++) visit(this.keys[i] as string);
    return true;
  }
}

/**
 * The weights of one members array, in member order.
 * @internal
 */
export class MemberSetIndex<M> {
  /** Server key of each member position. */
  readonly keys: readonly string[];
  private readonly members: readonly M[];
  private readonly positions = new Map<string, number[]>();
  private readonly index: WeightedIndex;
  private version: number;

  /**
   * @param members - the members array (copied, to detect later changes to it)
   * @param keyOf - server key a member routes to (throws for an invalid member)
   * @param weightOf - current weight of the server with a key (0 when unknown)
   * @param version - journal version the weights are read at
   */
  constructor(members: readonly M[], keyOf: (member: M) => string, weightOf: (key: string) => number, version: number) {
    this.members = members.slice();
    this.keys = this.members.map(keyOf);
    this.index = new WeightedIndex(this.members.length);
    this.keys.forEach((key, position) => {
      this.index.allocate();
      const list = this.positions.get(key);
      if (list === undefined) this.positions.set(key, [position]);
      else list.push(position);
    });
    this.version = version;
    this.reweigh(weightOf);
  }

  /** Whether `members` still holds exactly the members this index was built from. */
  matches(members: readonly M[]): boolean {
    if (members.length !== this.members.length) return false;
    for (let i = 0; i < members.length; i++) if (members[i] !== this.members[i]) return false;
    return true;
  }

  /** Apply the weight changes journaled since this index was last brought up to date. */
  catchUp(journal: WeightJournal, weightOf: (key: string) => number): void {
    if (this.version === journal.version) return;
    if (!journal.since(this.version, (key) => this.refresh(key, weightOf(key)))) this.reweigh(weightOf);
    this.version = journal.version;
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

  private reweigh(weightOf: (key: string) => number): void {
    for (const key of this.positions.keys()) this.refresh(key, weightOf(key));
  }

  private refresh(key: string, weight: number): void {
    const list = this.positions.get(key);
    if (list !== undefined) for (const position of list) this.index.set(position, weight);
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
  get<M>(members: readonly M[], journal: WeightJournal, keyOf: (member: M) => string, weightOf: (key: string) => number): MemberSetIndex<M> | undefined {
    const frozen = Object.isFrozen(members);
    const cached = this.sets.get(members) as MemberSetIndex<M> | null | undefined;
    if (cached === undefined && !frozen) {
      this.sets.set(members, null);
      return undefined;
    }
    if (cached && (frozen || cached.matches(members))) {
      cached.catchUp(journal, weightOf);
      return cached;
    }
    const set = new MemberSetIndex(members, keyOf, weightOf, journal.version);
    this.sets.set(members, set);
    return set;
  }
}
