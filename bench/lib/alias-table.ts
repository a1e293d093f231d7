/**
 * Walker's alias method (Vose's construction): O(1) weighted draws over fixed weights,
 * O(n) to build. The pick bench's baseline for what a draw can cost at best; the library
 * keeps a weighted index instead because heartbeats change weights all the time and an
 * alias table would have to be rebuilt (O(n)) for each of them.
 */

/** An alias table over non-negative weights. */
export class AliasTable {
  private readonly threshold: Float64Array;
  private readonly alias: Int32Array;
  readonly size: number;

  /** @throws RangeError when no weight is positive */
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i] ?? 0;
    if (!(total > 0)) throw new RangeError('Expected at least one positive weight');
    this.size = n;
    this.threshold = new Float64Array(n);
    this.alias = new Int32Array(n);
    // Scaled so the mean is 1: a column below 1 is topped up from one above.
    const scaled = new Float64Array(n);
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = ((weights[i] ?? 0) * n) / total;
      ((scaled[i] ?? 0) < 1 ? small : large).push(i);
    }
    for (;;) {
      const less = small.pop();
      const more = large.pop();
      if (less === undefined || more === undefined) {
        // What is left is 1 up to rounding.
        for (const i of [...small, ...large, ...(less === undefined ? [] : [less]), ...(more === undefined ? [] : [more])]) {
          this.threshold[i] = 1;
          this.alias[i] = i;
        }
        break;
      }
      this.threshold[less] = scaled[less] ?? 0;
      this.alias[less] = more;
      scaled[more] = (scaled[more] ?? 0) + (scaled[less] ?? 0) - 1;
      ((scaled[more] ?? 0) < 1 ? small : large).push(more);
    }
  }

  /** An index drawn in proportion to its weight, from one uniform number in [0, 1). */
  pick(random: number): number {
    const scaled = random * this.size;
    const column = Math.floor(scaled);
    return scaled - column < (this.threshold[column] ?? 0) ? column : (this.alias[column] ?? column);
  }
}
