/**
 * One number per index slot, in a typed array that grows with the slots.
 *
 * Why: a pick reads a little per-server state (when it was last heard from, how often it
 * was picked). Kept in a server's own object, that is a cache miss into a large heap for
 * every pick at 100,000 servers; kept side by side by slot number, it is one read from a
 * compact array that stays in the CPU caches.
 * @module
 */

/** Numbers by slot; slots never written read as `initial`. @internal */
export class SlotNumbers {
  private values: Float64Array;

  /**
   * @param initial - the value of a slot never written
   * @param initialCapacity - slots reserved up front (grows by doubling)
   */
  constructor(
    private readonly initial = 0,
    initialCapacity = 16,
  ) {
    this.values = new Float64Array(Math.max(1, initialCapacity)).fill(initial);
  }

  /** The value of `slot`. */
  get(slot: number): number {
    return this.values[slot] ?? this.initial;
  }

  /** Set the value of `slot`. */
  set(slot: number, value: number): void {
    if (slot >= this.values.length) this.grow(slot);
    this.values[slot] = value;
  }

  /** Add `delta` to the value of `slot`. */
  add(slot: number, delta: number): void {
    this.set(slot, this.get(slot) + delta);
  }

  private grow(slot: number): void {
    let length = this.values.length * 2;
    while (length <= slot) length *= 2;
    const values = new Float64Array(length).fill(this.initial, this.values.length);
    values.set(this.values);
    this.values = values;
  }
}
