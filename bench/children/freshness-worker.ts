/**
 * Worker thread of the freshness bench: attaches to the monitor's SlotStore and, for each
 * expected `ready` value the parent announces, spins on view.pickBackend() until the pick
 * reports it, then posts the time it saw it (process.hrtime, shared by all threads) and
 * how long this thread spent in garbage collection meanwhile (for the tail analysis).
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { SlotStore } from '../../src/index.js';

const view = SlotStore.attach(workerData as SharedArrayBuffer);
const port = parentPort;
if (port === null) throw new Error('freshness-worker.ts must run in a worker thread');

// GC entries arrive asynchronously: the spin loop below never yields, so the parent sends
// the next `expect` only after this thread went back to its event loop and the observer
// has delivered what happened during the previous sample.
const collections: { start: number; end: number }[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) collections.push({ start: entry.startTime, end: entry.startTime + entry.duration });
}).observe({ entryTypes: ['gc'] });
let previous: { armedAt: number; seenAt: number } | undefined;

port.on('message', (message: { expect: number; timeoutMs: number }) => {
  // GC time of the previous sample, now that its entries have been delivered.
  const gcMs = previous === undefined ? 0 : overlap(previous.armedAt, previous.seenAt);
  collections.length = 0;
  port.postMessage({ armed: true, previousGcMs: gcMs });
  const armedAt = performance.now();
  const deadline = process.hrtime.bigint() + BigInt(message.timeoutMs) * 1_000_000n;
  for (;;) {
    const now = process.hrtime.bigint();
    if (view.pickBackend()?.ready === message.expect) {
      previous = { armedAt, seenAt: performance.now() };
      port.postMessage({ seenAt: Number(now) });
      return;
    }
    if (now > deadline) {
      previous = undefined;
      port.postMessage({ seenAt: Number.NaN });
      return;
    }
  }
});

/** ms of collections overlapping [from, to]. */
function overlap(from: number, to: number): number {
  let total = 0;
  for (const { start, end } of collections) total += Math.max(0, Math.min(end, to) - Math.max(start, from));
  return total;
}
