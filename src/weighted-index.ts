/**
 * A Fenwick (binary indexed) tree over integer weights: O(log n) weight updates and
 * O(log n) proportional draws, so picking stays cheap however large the pool grows.
 * @module
 */

/** Slots with integer weights, drawn in exact proportion to their weight. */
export class WeightedIndex {
  private tree: Float64Array;
  private weights: Float64Array;
  private capacity: number;
  private highWater = 0;
  private readonly freeSlots: number[] = [];
  private sum = 0;

  /** @param initialCapacity - slots reserved up front (grows by doubling) */
  constructor(initialCapacity = 16) {
    this.capacity = Math.max(1, initialCapacity);
    this.tree = new Float64Array(this.capacity + 1);
    this.weights = new Float64Array(this.capacity);
  }

  /** Sum of all weights. */
  get total(): number {
    return this.sum;
  }

  /** Reserve a slot with weight 0 and return its number. */
  allocate(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.highWater === this.capacity) this.grow();
    return this.highWater++;
  }

  /** Give a slot back (its weight becomes 0). */
  release(slot: number): void {
    this.set(slot, 0);
    this.freeSlots.push(slot);
  }

  /** Weight of a slot. */
  get(slot: number): number {
    return this.weights[slot] ?? 0;
  }

  /** Set a slot's weight (a non-negative integer). */
  set(slot: number, weight: number): void {
    const delta = weight - (this.weights[slot] ?? 0);
    if (delta === 0) return;
    this.weights[slot] = weight;
    this.sum += delta;
    for (let i = slot + 1; i <= this.capacity; i += i & -i) this.tree[i] = (this.tree[i] ?? 0) + delta;
  }

  /**
   * The slot whose cumulative weight range contains `target`, for an integer
   * `0 <= target < total`: each slot is found for exactly `weight` targets.
   */
  find(target: number): number {
    let position = 0;
    let remaining = target;
    for (let step = highestPowerOfTwo(this.capacity); step > 0; step >>= 1) {
      const next = position + step;
      const partial = this.tree[next];
      if (next <= this.capacity && partial !== undefined && partial <= remaining) {
        position = next;
        remaining -= partial;
      }
    }
    return position;
  }

  private grow(): void {
    this.capacity *= 2;
    const weights = new Float64Array(this.capacity);
    weights.set(this.weights);
    this.weights = weights;
    // Linear-time rebuild: each node pushes its partial sum to its parent once.
    const tree = new Float64Array(this.capacity + 1);
    for (let i = 1; i <= this.capacity; i++) {
      tree[i] = (tree[i] ?? 0) + (weights[i - 1] ?? 0);
      const parent = i + (i & -i);
      if (parent <= this.capacity) tree[parent] = (tree[parent] ?? 0) + (tree[i] ?? 0);
    }
    this.tree = tree;
  }
}

function highestPowerOfTwo(n: number): number {
  let power = 1;
  while (power * 2 <= n) power *= 2;
  return power;
}
