/**
 * A binary min-heap of small integers (positions) keyed by a time: the next position whose
 * weight changes with time alone, found in O(1) and removed in O(log n).
 * @module
 */

/** Positions ordered by deadline, earliest first; a position may be pushed more than once. @internal */
export class DeadlineHeap {
  private keys = new Float64Array(16);
  private items = new Int32Array(16);
  private length = 0;

  /** Entries held. */
  get size(): number {
    return this.length;
  }

  /** The earliest deadline, or Infinity when empty. */
  peek(): number {
    return this.length === 0 ? Infinity : (this.keys[0] as number);
  }

  /** The item of the earliest deadline (only when not empty). */
  peekItem(): number {
    return this.items[0] as number;
  }

  /** Add `item` due at `deadline`. */
  push(deadline: number, item: number): void {
    if (this.length === this.keys.length) this.grow();
    let at = this.length++;
    // Sift up: move parents with later deadlines down until the new entry's place is found.
    while (at > 0) {
      const parent = (at - 1) >> 1;
      const parentKey = this.keys[parent] as number;
      if (parentKey <= deadline) break;
      this.keys[at] = parentKey;
      this.items[at] = this.items[parent] as number;
      at = parent;
    }
    this.keys[at] = deadline;
    this.items[at] = item;
  }

  /** Remove the earliest entry (only when not empty). */
  pop(): void {
    const last = --this.length;
    if (last === 0) return;
    const key = this.keys[last] as number;
    const item = this.items[last] as number;
    let at = 0;
    // Sift down the last entry from the root.
    for (;;) {
      let child = 2 * at + 1;
      if (child >= last) break;
      if (child + 1 < last && (this.keys[child + 1] as number) < (this.keys[child] as number)) child++;
      const childKey = this.keys[child] as number;
      if (childKey >= key) break;
      this.keys[at] = childKey;
      this.items[at] = this.items[child] as number;
      at = child;
    }
    this.keys[at] = key;
    this.items[at] = item;
  }

  /** Remove every entry. */
  clear(): void {
    this.length = 0;
  }

  private grow(): void {
    const keys = new Float64Array(this.keys.length * 2);
    keys.set(this.keys);
    this.keys = keys;
    const items = new Int32Array(this.items.length * 2);
    items.set(this.items);
    this.items = items;
  }
}
