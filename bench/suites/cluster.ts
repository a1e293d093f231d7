/**
 * Bench: cluster view freshness — from `monitor.ingest()` of a heartbeat in the primary
 * to the `update` event of a `ClusterView` in a real `cluster.fork()` worker, while
 * `servers` origins beat once a second each (spread evenly over the second), and the IPC
 * bytes per heartbeat that cost. Targets (issue 13): p99 ≤ 5 ms at 1,000 servers and
 * ≤ 20 ms at 10,000.
 */
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { HeartMonitor } from '../../src/index.js';
import type { BenchContext } from '../lib/report.js';
import { percentile } from '../lib/stats.js';
import { sleep } from '../lib/timing.js';

const nowNs = (): number => Number(process.hrtime.bigint());
const TICK_MS = 10;
/** The probe server: beats every PROBE_EVERY_MS with `ready` = probe number. */
const PROBE_IP = '10.255.255.254';
const PROBE_EVERY_MS = 25;

/** The cluster bench. */
export async function clusterBench(ctx: BenchContext): Promise<void> {
  const sizes = ctx.smoke ? [200] : [1000, 10_000];
  const windowMs = ctx.smoke ? 500 : 4000;
  cluster.setupPrimary({ exec: fileURLToPath(new URL('../children/cluster-worker.ts', import.meta.url)), execArgv: ['--import', 'tsx/esm'] });
  for (const servers of sizes) {
    const p50: number[] = [];
    const p99: number[] = [];
    const max: number[] = [];
    const bytesPerBeat: number[] = [];
    const beatsPerMessage: number[] = [];
    for (let run = 0; run < ctx.repeats; run++) {
      const result = await measure(servers, windowMs);
      p50.push(percentile(result.latencies, 0.5));
      p99.push(percentile(result.latencies, 0.99));
      max.push(result.latencies.at(-1) ?? Number.NaN);
      bytesPerBeat.push(result.bytes / result.beats);
      beatsPerMessage.push(result.beats / result.messages);
      ctx.log(`${servers} servers, run ${run + 1}: p50 ${p50.at(-1)?.toFixed(2)} ms, p99 ${p99.at(-1)?.toFixed(2)} ms, ${bytesPerBeat.at(-1)?.toFixed(1)} IPC bytes per heartbeat`);
    }
    const benchCase = `${servers.toLocaleString('en-US')} servers × 1 beat/s, 1 worker`;
    ctx.record(benchCase, 'ingest in primary → ClusterView update in worker, p50', 'ms', p50);
    ctx.record(benchCase, 'ingest in primary → ClusterView update in worker, p99', 'ms', p99);
    ctx.record(benchCase, 'ingest in primary → ClusterView update in worker, max', 'ms', max);
    ctx.record(benchCase, 'IPC bytes per heartbeat (JSON, per worker)', 'bytes', bytesPerBeat);
    ctx.record(benchCase, 'heartbeats per IPC message', 'beats', beatsPerMessage);
  }
}

interface Measured {
  /** Sorted ms. */
  readonly latencies: number[];
  readonly bytes: number;
  readonly messages: number;
  readonly beats: number;
}

async function measure(servers: number, windowMs: number): Promise<Measured> {
  const monitor = new HeartMonitor({ maxServers: servers + 16 });
  const share = monitor.shareWithCluster();
  const addresses = Array.from({ length: servers }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const beat = (i: number): void => void monitor.ingest(`v=1&ready=${(i % 50) + 1}&busy=1`, { address: addresses[i] ?? '' });
  for (let i = 0; i < servers; i++) beat(i);
  const worker = cluster.fork({ HM_PROBE_IP: PROBE_IP });
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  worker.on('message', (message: { bench?: string; probe?: number; seenAt?: number }) => {
    if (message.bench !== 'probe' || message.probe === undefined || message.seenAt === undefined) return;
    const sent = sentAt.get(message.probe);
    if (sent !== undefined) latencies.push((message.seenAt - sent) / 1e6);
  });
  try {
    await waitForMessage(worker, 'ready', 30_000);
    // Warm up one second, then measure; every tick sends its share of the second's beats.
    let next = 0;
    let probe = 0;
    let beats = 0;
    let lastProbe = 0;
    let measuring = false;
    const perTick = Math.max(1, Math.round((servers * TICK_MS) / 1000));
    const started = performance.now();
    await drainBytes(worker);
    while (performance.now() - started < 1000 + windowMs) {
      if (!measuring && performance.now() - started >= 1000) {
        measuring = true;
        await drainBytes(worker);
        beats = 0;
      }
      for (let k = 0; k < perTick; k++) {
        beat(next);
        next = (next + 1) % servers;
        beats++;
      }
      if (measuring && performance.now() - lastProbe >= PROBE_EVERY_MS) {
        lastProbe = performance.now();
        probe++;
        sentAt.set(probe, nowNs());
        monitor.ingest(`v=1&ready=${probe}&busy=1`, { address: PROBE_IP });
        beats++;
      }
      await sleep(TICK_MS);
    }
    await sleep(200); // the last probes arrive
    const { bytes, messages } = await drainBytes(worker);
    assert.ok(latencies.length >= probe * 0.9, `the worker saw ${latencies.length} of ${probe} probes`);
    return { latencies: latencies.sort((a, b) => a - b), bytes, messages, beats };
  } finally {
    share.close();
    const exited = once(worker, 'exit');
    worker.kill();
    await exited;
    await monitor.close();
  }
}

async function waitForMessage(worker: Worker, kind: string, timeoutMs: number): Promise<Record<string, number>> {
  const signal = AbortSignal.timeout(timeoutMs);
  for (;;) {
    const [message] = (await once(worker, 'message', { signal })) as [{ bench?: string } & Record<string, number>];
    if (message.bench === kind) return message;
  }
}

/** The worker's byte and message counts since the last call (and resets them). */
async function drainBytes(worker: Worker): Promise<{ bytes: number; messages: number }> {
  const answer = waitForMessage(worker, 'bytes', 10_000);
  worker.send({ bench: 'bytes' });
  const { bytes = 0, messages = 0 } = await answer;
  return { bytes, messages };
}
