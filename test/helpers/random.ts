/** Deterministic random numbers: the one seeded generator of the tests and benchmarks. */

/**
 * A seeded uniform generator in [0, 1) (mulberry32): the same seed always gives the same
 * sequence, so share assertions never flake.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Count how often `pick` returns each label over `rounds` calls; `undefined` counts as 'none'. */
export function countPicks<T>(rounds: number, pick: () => T | undefined, label: (value: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < rounds; i++) {
    const value = pick();
    const key = value === undefined ? 'none' : label(value);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Shares in percent of each label, from counts. */
export function shares(counts: Map<string, number>, rounds: number): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [key, count] of counts) result[key] = (100 * count) / rounds;
  return result;
}
