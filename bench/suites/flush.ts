/**
 * Bench 4: how long FileStore.flush() takes to write hb.dat for 1,000 / 10,000 / 100,000
 * servers, and how much it delays the event loop meanwhile (p99 and max of
 * perf_hooks.monitorEventLoopDelay while flushing), beside the delay of the same process
 * when idle, and beside the one-shot write FileStore did before (format the whole file with
 * the public formatHeartbeatFile, then one writeFile) as the baseline. Correctness: the
 * file read back holds every server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { FileStore, formatHeartbeatFile, readHeartbeatFile } from '../../src/index.js';
import { filledMonitor } from '../lib/pool.js';
import type { BenchContext } from '../lib/report.js';
import { sleep } from '../lib/timing.js';

/** Bench 4. */
export async function flushBench(ctx: BenchContext): Promise<void> {
  const sizes = ctx.smoke ? [1000] : [1000, 10_000, 100_000];
  const flushes = ctx.smoke ? 2 : 10;
  const dir = mkdtempSync(join(tmpdir(), 'hm-bench-flush-'));
  try {
    for (const size of sizes) {
      const store = new FileStore({ path: join(dir, `hb-${size}.dat`), maxServers: size });
      const monitor = filledMonitor(size, { store });
      const series = { ms: [] as number[], p99: [] as number[], max: [] as number[], idleP99: [] as number[], oneShotMs: [] as number[], oneShotP99: [] as number[] };
      const oneShotPath = join(dir, `one-shot-${size}.dat`);
      for (let run = 0; run < ctx.repeats; run++) {
        const idle = await delayWhile(() => sleep(100));
        const times: number[] = [];
        const busy = await delayWhile(async () => {
          for (let k = 0; k < flushes; k++) {
            const t0 = performance.now();
            await store.flush();
            times.push(performance.now() - t0);
          }
        });
        times.sort((a, b) => a - b);
        series.ms.push(times[times.length >> 1] ?? Number.NaN);
        series.p99.push(busy.p99);
        series.max.push(busy.max);
        series.idleP99.push(idle.p99);
        const oneShotTimes: number[] = [];
        const oneShot = await delayWhile(async () => {
          for (let k = 0; k < flushes; k++) {
            const t0 = performance.now();
            await writeFile(oneShotPath, formatHeartbeatFile(monitor.servers(), Date.now()));
            oneShotTimes.push(performance.now() - t0);
          }
        });
        oneShotTimes.sort((a, b) => a - b);
        series.oneShotMs.push(oneShotTimes[oneShotTimes.length >> 1] ?? Number.NaN);
        series.oneShotP99.push(oneShot.p99);
      }
      const read = await readHeartbeatFile(store.path);
      assert.equal(read.length, size, `hb.dat holds ${read.length} of ${size} servers`);
      await monitor.close();
      const label = `n=${size.toLocaleString('en-US')}`;
      ctx.record(label, 'FileStore.flush() time (median of the run)', 'ms', series.ms);
      ctx.record(label, 'event-loop delay while flushing, p99', 'ms', series.p99);
      ctx.record(label, 'event-loop delay while flushing, max', 'ms', series.max);
      ctx.record(label, 'event-loop delay idle (baseline), p99', 'ms', series.idleP99);
      ctx.record(label, 'baseline: whole file formatted, one writeFile: time', 'ms', series.oneShotMs);
      ctx.record(label, 'baseline: whole file formatted, one writeFile: delay p99', 'ms', series.oneShotP99);
      ctx.log(`${label} done`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Event-loop delay (ms) sampled every millisecond while `work` runs. */
async function delayWhile(work: () => Promise<void>): Promise<{ p99: number; max: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await work();
  // Let the sampling timer observe the end of the last blocking stretch.
  await sleep(5);
  histogram.disable();
  return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 };
}
