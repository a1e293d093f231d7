/**
 * Small timing helpers: time per operation over a bounded budget, and sleeping.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/**
 * Run `op` in batches until `budgetMs` has passed (and at least `minOps` ran); returns
 * nanoseconds per operation. `op` receives the operation's sequence number.
 */
export function nsPerOp(op: (i: number) => void, budgetMs: number, minOps = 1): number {
  // Warm up first so the optimizing compiler has settled before the clock runs.
  const warmUntil = performance.now() + budgetMs / 5;
  for (let i = 0; i < minOps || performance.now() < warmUntil; i++) op(i);
  let ops = 0;
  let batch = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs || ops < minOps) {
    for (let i = 0; i < batch; i++) op(ops + i);
    ops += batch;
    elapsed = performance.now() - start;
    // Grow batches so the clock is read rarely once an operation proves cheap.
    if (elapsed < budgetMs / 20) batch = Math.min(batch * 2, 1 << 16);
  }
  return (elapsed * 1e6) / ops;
}

/** Resolve when `condition()` is true, polling every `everyMs`; reject after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string, everyMs = 5): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
