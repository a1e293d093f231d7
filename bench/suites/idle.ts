/**
 * Bench 7: the CPU a monitor costs in steady state: 1,000 origins at 1 heartbeat/s each
 * (a beater child process on 127.0.0.x sources → unicast 127.0.0.1), measured with
 * process.cpuUsage() of this process over a bounded window, beside a bare dgram socket
 * receiving the same stream (the baseline).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { HeartMonitor } from '../../src/index.js';
import { startChild } from '../lib/child.js';
import type { BenchContext } from '../lib/report.js';
import { sleep, waitFor } from '../lib/timing.js';

interface Receiver {
  readonly port: number;
  readonly received: () => number;
  readonly tracked: () => number;
  close(): Promise<void>;
}

/** Bench 7. */
export async function idleBench(ctx: BenchContext): Promise<void> {
  const sources = ctx.smoke ? 50 : 1000;
  const windowMs = ctx.smoke ? 1500 : 5000;
  const warmupMs = ctx.smoke ? 500 : 1500;
  const series = { monitor: [] as number[], bare: [] as number[], monitorUs: [] as number[], bareUs: [] as number[] };
  for (let run = 0; run < ctx.repeats; run++) {
    const bare = await measure(await bareReceiver(), sources, warmupMs, windowMs, false);
    const monitor = await measure(await monitorReceiver(), sources, warmupMs, windowMs, true);
    series.bare.push(bare.percent);
    series.monitor.push(monitor.percent);
    series.bareUs.push(bare.perBeat);
    series.monitorUs.push(monitor.perBeat);
    ctx.log(`run ${run + 1}: monitor ${monitor.percent.toFixed(2)} % CPU, bare socket ${bare.percent.toFixed(2)} %`);
  }
  const label = `${sources} origins × 1 beat/s, ${windowMs / 1000} s window`;
  ctx.record(label, 'HeartMonitor: CPU', '% of a core', series.monitor);
  ctx.record(label, 'bare dgram socket (baseline): CPU', '% of a core', series.bare);
  ctx.record(label, 'HeartMonitor: CPU per heartbeat', 'µs', series.monitorUs);
  ctx.record(label, 'bare dgram socket (baseline): CPU per heartbeat', 'µs', series.bareUs);
}

async function bareReceiver(): Promise<Receiver> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind({ address: '127.0.0.1', port: 0 }, () => resolve()));
  let count = 0;
  socket.on('message', () => void count++);
  return { port: socket.address().port, received: () => count, tracked: () => 0, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}

async function monitorReceiver(): Promise<Receiver> {
  const monitor = new HeartMonitor({ listen: '127.0.0.1:0', maxServers: 2000 });
  await monitor.listen();
  return {
    port: monitor.address()?.port ?? 0,
    received: () => monitor.stats().received,
    tracked: () => monitor.stats().fresh,
    close: () => monitor.close(),
  };
}

async function measure(receiver: Receiver, sources: number, warmupMs: number, windowMs: number, isMonitor: boolean): Promise<{ percent: number; perBeat: number }> {
  const beater = startChild('beater.ts', [String(receiver.port), String(sources), String(warmupMs + windowMs + 1000)]);
  try {
    assert.equal(await beater.nextLine(15_000), 'ready');
    beater.send('go');
    // Every origin has been heard (and, for the monitor, added) before the window opens.
    if (isMonitor) await waitFor(() => receiver.tracked() === sources, warmupMs + 3000, `all ${sources} origins in the table`);
    await sleep(warmupMs);
    const beforeCpu = process.cpuUsage();
    const beforeAt = performance.now();
    const beforeCount = receiver.received();
    await sleep(windowMs);
    const cpu = process.cpuUsage(beforeCpu);
    const elapsedUs = (performance.now() - beforeAt) * 1000;
    const beats = receiver.received() - beforeCount;
    assert.ok(beats > 0.8 * sources * (windowMs / 1000), `only ${beats} heartbeats arrived in the window`);
    if (isMonitor) assert.equal(receiver.tracked(), sources, 'every origin stays fresh');
    return { percent: ((cpu.user + cpu.system) / elapsedUs) * 100, perBeat: (cpu.user + cpu.system) / beats };
  } finally {
    await beater.stop();
    await receiver.close();
  }
}
