/**
 * Child process of the redis bench: attaches `views` RedisViews (each with its own client
 * and subscriber) and records, for every update carrying a `t` field, the time from that
 * heartbeat's ingest (process.hrtime µs: CLOCK_MONOTONIC, shared by all processes on
 * Linux) to the update in the view. `report` prints the sorted latencies' percentiles.
 *
 * Usage: redis-view-child.ts <url> <prefix> <views>
 */
import { createInterface } from 'node:readline';
import { createClient } from 'redis';
import { RedisStore } from '../../src/redis.js';
import { percentile } from '../lib/stats.js';

const [url = '', prefix = '', count = '1'] = process.argv.slice(2);
const samples: number[] = [];
let updates = 0;
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
const closers: (() => void)[] = [];
const snapshotCounts: (() => number)[] = [];
let snapshotsAtReset = 0;
let cpuAtReset = process.cpuUsage();
for (let v = 0; v < Number(count); v++) {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  const view = await RedisStore.attach({ client, prefix, maxServers: 200_000 });
  view.on('error', (error) => process.env.HM_BENCH_DEBUG && process.stderr.write(`view error: ${error.message}\n`));
  // The first read announces the servers the view opened with: before the samples start.
  view.servers();
  view.on('update', (server) => {
    updates++;
    const sent = server.fields?.t;
    if (sent !== undefined) samples.push(nowUs() - Number(sent));
  });
  snapshotCounts.push(() => view.metrics().source_snapshots);
  closers.push(() => {
    view.close();
    client.destroy();
  });
}
process.stdout.write('ready\n');

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'reset') {
    samples.length = 0;
    updates = 0;
    cpuAtReset = process.cpuUsage();
    snapshotsAtReset = snapshotCounts.reduce((sum, count) => sum + count(), 0);
    process.stdout.write('ok\n');
  } else if (line === 'report') {
    const sorted = [...samples].sort((a, b) => a - b);
    process.stdout.write(`${JSON.stringify({ cpu: ((used) => used.user + used.system)(process.cpuUsage(cpuAtReset)), updates, samples: sorted.length, snapshots: snapshotCounts.reduce((sum, count) => sum + count(), 0) - snapshotsAtReset, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN })}\n`);
  } else if (line === 'stop') {
    break;
  }
}
for (const close of closers) close();
process.exit(0);
