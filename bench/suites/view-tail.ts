/**
 * Bench 9: the tail of a worker's pick latency. A SlotStore holds `size` servers that each
 * beat once per (simulated) second, spread over the second in 100 batches; between
 * batches a SlotStore view picks 10 times, and every pick is timed. Simulated time (the
 * view's injected clock) runs 25 s, so every server's first heartbeat crosses `staleAfter`
 * (10 s) long after newer ones replaced it: a view that re-weighed everything whenever
 * some heartbeat grew old would show that in the slow picks. Writer and view share this
 * thread, so a full garbage collection runs once per simulated second outside the timed
 * picks (young-generation collections still land in them).
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { SlotStore, pickBackend } from '../../src/index.js';
import { seededRandom } from '../../test/helpers/random.js';
import { poolAddress, poolCounts, poolMembers } from '../lib/pool.js';
import { collectGarbage } from '../lib/gc.js';
import type { BenchContext } from '../lib/report.js';
import { percentile, sortSamples } from '../lib/stats.js';

const BATCHES_PER_SECOND = 100;
const PICKS_PER_BATCH = 10;
/** A pick slower than this counts as a stall (a full re-weigh of 100,000 servers took ~24 ms). */
const STALL_US = 5000;

/** Bench 9. */
export function viewTailBench(ctx: BenchContext): Promise<void> {
  const sizes = ctx.smoke ? [1000] : [10_000, 100_000];
  const seconds = ctx.smoke ? 12 : 25;
  for (const size of sizes) {
    const series = { p50: [] as number[], p99: [] as number[], p999: [] as number[], max: [] as number[], stalls: [] as number[] };
    for (let run = 0; run < ctx.repeats; run++) {
      const samples = simulate(size, seconds, run);
      series.p50.push(percentile(samples, 0.5));
      series.p99.push(percentile(samples, 0.99));
      series.p999.push(percentile(samples, 0.999));
      series.max.push(samples[samples.length - 1] ?? Number.NaN);
      series.stalls.push(samples.filter((us) => us > STALL_US).length);
    }
    const label = `n=${size.toLocaleString('en-US')}, ${seconds} s of 1 beat/s per server`;
    ctx.record(label, 'SlotStore view pickBackend(members), p50', 'µs', series.p50);
    ctx.record(label, 'SlotStore view pickBackend(members), p99', 'µs', series.p99);
    ctx.record(label, 'SlotStore view pickBackend(members), p99.9', 'µs', series.p999);
    ctx.record(label, 'SlotStore view pickBackend(members), max', 'µs', series.max);
    ctx.record(label, `SlotStore view pickBackend(members), picks over ${STALL_US / 1000} ms`, 'picks', series.stalls);
    ctx.log(`${label} done`);
  }
  return Promise.resolve();
}

/** Run the simulation once; returns the sorted pick times in µs. */
function simulate(size: number, seconds: number, seed: number): Float64Array {
  let now = 1_700_000_000_000;
  let nextRandom: number | undefined;
  const random = seededRandom(seed + 1);
  const store = new SlotStore({ maxServers: size });
  const view = SlotStore.attach(store.buffer, { clock: { now: () => now }, random: () => nextRandom ?? random() });
  const members = poolMembers(size);
  const beat = (i: number, round: number): void => {
    store.put({ ip: poolAddress(i), port: 80, ...poolCounts(i, round), lastSeen: now });
  };
  for (let i = 0; i < size; i++) beat(i, 0);
  view.pickBackend(members);
  const samples = new Float64Array(seconds * BATCHES_PER_SECOND * PICKS_PER_BATCH);
  let taken = 0;
  const perBatch = Math.ceil(size / BATCHES_PER_SECOND);
  for (let second = 1; second <= seconds; second++) {
    collectGarbage();
    for (let batch = 0; batch < BATCHES_PER_SECOND; batch++) {
      now += 1000 / BATCHES_PER_SECOND;
      for (let i = batch * perBatch; i < Math.min(size, (batch + 1) * perBatch); i++) beat(i, second);
      for (let p = 0; p < PICKS_PER_BATCH; p++) {
        const t0 = performance.now();
        const picked = view.pickBackend(members);
        samples[taken++] = (performance.now() - t0) * 1000;
        assert.ok(picked !== undefined, `n=${size}: every server is fresh, yet the view picked none`);
      }
    }
  }
  // Correctness: at the end the view picks what the pure function picks on its servers.
  const servers = view.servers();
  assert.equal(servers.length, size);
  for (const r of [0, 0.25, 0.5, 0.75, 0.999]) {
    nextRandom = r;
    assert.equal(view.pickBackend(members), pickBackend(servers, members, { random: () => r, now }), `n=${size}: the view disagrees with the pure function`);
  }
  return sortSamples(samples);
}
