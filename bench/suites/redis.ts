/**
 * Bench: the table shared through Redis (heartmonitor/redis) against a real redis-server
 * on loopback, beside the SlotStore path in the same run:
 * 1. heartbeat → view latency with `origins` servers beating once a second and `views`
 *    views spread over child processes (ingest time to each view's `update` event);
 * 2. Redis commands and bytes per heartbeat (from INFO, and from the store's counters);
 * 3. monitor CPU per heartbeat with a RedisStore vs a SlotStore;
 * 4. the cost of a pick in a RedisView vs a SlotStore view over the same servers.
 * The machine is shared: compare the ratios, not the absolute figures.
 */
import assert from 'node:assert/strict';
import { createClient } from 'redis';
import { HeartMonitor, SlotStore, type HeartbeatStore } from '../../src/index.js';
import { RedisStore, tableKeys } from '../../src/redis.js';
import { encodeRecord } from '../../src/stores/redis/record.js';
import { RedisServer } from '../../test/helpers/redis-server.js';
import { seededRandom } from '../../test/helpers/random.js';
import { startChild, type LineChild } from '../lib/child.js';
import { poolAddress, poolCounts, poolHeartbeat, poolMembers } from '../lib/pool.js';
import type { BenchContext } from '../lib/report.js';
import { nsPerOp, sleep } from '../lib/timing.js';

type Client = ReturnType<typeof createClient>;

/** Bench redis. */
export async function redisBench(ctx: BenchContext): Promise<void> {
  const origins = ctx.smoke ? 500 : 10_000;
  // The target case (10,000 origins, 20 views), then fewer views and fewer origins: all views
  // share this machine's cores here, where in production each would run on its own host.
  // HM_REDIS_CASES narrows it: `origins×views` pairs, comma-separated (e.g. `10000x20,1000x20`).
  const allCases = ctx.smoke
    ? [{ origins, views: 2, processes: 1 }]
    : [
        { origins, views: 20, processes: 4 },
        { origins, views: 4, processes: 2 },
        { origins: 1000, views: 20, processes: 4 },
      ];
  const only = process.env.HM_REDIS_CASES?.split(',').map((pair) => pair.trim());
  const cases = only === undefined ? allCases : allCases.filter((shape) => only.includes(`${shape.origins}x${shape.views}`));
  const windowMs = ctx.smoke ? 1500 : 5000;
  const redis = await RedisServer.start();
  const client = createClient({ url: redis.url });
  client.on('error', () => undefined);
  await client.connect();
  const latency = cases.map(() => ({
    p50: [] as number[],
    p99: [] as number[],
    max: [] as number[],
    delivered: [] as number[],
    resyncs: [] as number[],
    viewCpu: [] as number[],
    redisCpu: [] as number[],
    commands: [] as number[],
    scripts: [] as number[],
    bytesIn: [] as number[],
    bytesOut: [] as number[],
  }));
  const series = {
    cpuRedis: [] as number[],
    cpuSlot: [] as number[],
    pickRedis: [] as number[],
    pickSlot: [] as number[],
    pickMembersRedis: [] as number[],
    pickMembersSlot: [] as number[],
    applyView: [] as number[],
    applyBare: [] as number[],
  };
  try {
    for (let run = 0; run < ctx.repeats; run++) {
      for (const [c, shape] of cases.entries()) {
        const figures = await viewLatency(ctx, redis, client, `bench-${run}-${c}`, shape.origins, shape.views, shape.processes, windowMs);
        const into = latency[c];
        if (into === undefined) continue;
        into.p50.push(figures.p50 / 1000);
        into.p99.push(figures.p99 / 1000);
        into.max.push(figures.max / 1000);
        into.delivered.push(figures.delivered * 100);
        into.resyncs.push(figures.resyncs);
        into.viewCpu.push(figures.viewCpuPerUpdate);
        into.redisCpu.push(figures.redisCpuPercent);
        into.commands.push(figures.commandsPerBeat);
        into.scripts.push(figures.scriptsPerBeat);
        into.bytesIn.push(figures.bytesInPerBeat);
        into.bytesOut.push(figures.bytesOutPerBeat / shape.views);
        ctx.log(`run ${run + 1}, ${shape.origins} origins, ${shape.views} views: p99 ${(figures.p99 / 1000).toFixed(1)} ms, ${(figures.delivered * 100).toFixed(1)} % delivered in the window, ${figures.resyncs} resyncs`);
      }
      const cpu = await ingestCpu(client, `cpu-${run}`, origins, ctx.smoke ? 2 : 5);
      series.cpuRedis.push(cpu.redis);
      series.cpuSlot.push(cpu.slot);
      const apply = await applyCost(client, `apply-${run}`, origins, ctx.smoke ? 2 : 10);
      series.applyView.push(apply.view);
      series.applyBare.push(apply.bare);
      ctx.log(`run ${run + 1}: CPU per record received: view ${apply.view.toFixed(2)} µs, bare subscriber ${apply.bare.toFixed(2)} µs`);
      const picks = await pickCost(client, `pick-${run}`, origins, ctx.smoke ? 20 : 200);
      series.pickRedis.push(picks.redis);
      series.pickSlot.push(picks.slot);
      series.pickMembersRedis.push(picks.redisMembers);
      series.pickMembersSlot.push(picks.slotMembers);
      ctx.log(`run ${run + 1}: CPU/beat redis ${cpu.redis.toFixed(2)} µs vs slot ${cpu.slot.toFixed(2)} µs`);
    }
  } finally {
    client.destroy();
    await redis.stop();
  }
  for (const [c, shape] of cases.entries()) {
    const into = latency[c];
    if (into === undefined) continue;
    const label = `${shape.origins.toLocaleString('en-US')} origins × 1/s, ${shape.views} views in ${shape.processes} processes`;
    ctx.record(label, 'heartbeat → RedisView update, p50', 'ms', into.p50);
    ctx.record(label, 'heartbeat → RedisView update, p99', 'ms', into.p99);
    ctx.record(label, 'heartbeat → RedisView update, max', 'ms', into.max);
    ctx.record(label, 'updates delivered within the window', '%', into.delivered);
    ctx.record(label, 'view resyncs in the window', 'n', into.resyncs);
    ctx.record(label, 'view CPU per update (all views on this machine)', 'µs', into.viewCpu);
    ctx.record(label, 'redis-server CPU', '% core', into.redisCpu);
    ctx.record(label, 'script runs (EVALSHA round trips) per heartbeat', 'cmd', into.scripts);
    ctx.record(label, "Redis commands per heartbeat (INFO: inside scripts too, views' probes)", 'cmd', into.commands);
    ctx.record(label, 'bytes into Redis per heartbeat', 'B', into.bytesIn);
    ctx.record(label, 'bytes out of Redis per heartbeat, per view', 'B', into.bytesOut);
  }
  const cpuCase = `${origins.toLocaleString('en-US')} servers, ingest + store`;
  ctx.record(cpuCase, 'monitor CPU per heartbeat, RedisStore', 'µs', series.cpuRedis);
  ctx.record(cpuCase, 'monitor CPU per heartbeat, SlotStore', 'µs', series.cpuSlot);
  ctx.record(cpuCase, 'RedisStore / SlotStore CPU ratio', '×', series.cpuRedis.map((value, i) => value / (series.cpuSlot[i] ?? NaN)));
  const applyCase = `${origins.toLocaleString('en-US')} servers, batches of 100 reports`;
  ctx.record(applyCase, 'CPU per report received: a RedisView applying it (decode, check, re-weigh, update event)', 'µs', series.applyView);
  ctx.record(applyCase, 'CPU per report received: a bare subscriber (node-redis only)', 'µs', series.applyBare);
  ctx.record(applyCase, "the view's own cost per report (view − bare)", 'µs', series.applyView.map((value, i) => value - (series.applyBare[i] ?? NaN)));
  const pickCase = `${origins.toLocaleString('en-US')} servers`;
  ctx.record(pickCase, 'RedisView pickBackend()', 'ns', series.pickRedis);
  ctx.record(pickCase, 'SlotStore view pickBackend()', 'ns', series.pickSlot);
  ctx.record(pickCase, 'RedisView / SlotStore view pick ratio', '×', series.pickRedis.map((value, i) => value / (series.pickSlot[i] ?? NaN)));
  ctx.record(pickCase, 'RedisView pickBackend(100 members)', 'ns', series.pickMembersRedis);
  ctx.record(pickCase, 'SlotStore view pickBackend(100 members)', 'ns', series.pickMembersSlot);
  ctx.record(pickCase, 'RedisView / SlotStore view pick ratio (members)', '×', series.pickMembersRedis.map((value, i) => value / (series.pickMembersSlot[i] ?? NaN)));
}

async function info(client: Client): Promise<{ commands: number; bytesIn: number; bytesOut: number; cpu: number }> {
  const text = await client.info();
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? NaN);
  // used_cpu_* are seconds: µs here.
  const cpu = (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
  return { commands: field('total_commands_processed'), bytesIn: field('total_net_input_bytes'), bytesOut: field('total_net_output_bytes'), cpu };
}

async function viewLatency(
  ctx: BenchContext,
  redis: RedisServer,
  client: Client,
  prefix: string,
  origins: number,
  viewCount: number,
  processes: number,
  windowMs: number,
): Promise<{
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  resyncs: number;
  viewCpuPerUpdate: number;
  redisCpuPercent: number;
  commandsPerBeat: number;
  scriptsPerBeat: number;
  bytesInPerBeat: number;
  bytesOutPerBeat: number;
}> {
  const store = new RedisStore({ client, prefix, monitorId: 'bench' });
  const monitor = new HeartMonitor({ store });
  const children: LineChild[] = [];
  const tickMs = 10;
  let next = 0;
  let beats = 0;
  let startedAt = -1;
  // Beats due by now at `origins` per second: a late tick catches up instead of lowering the rate.
  const beat = (): void => {
    const t = Number(process.hrtime.bigint() / 1000n);
    if (startedAt < 0) startedAt = t;
    const due = Math.min(origins, Math.floor(((t - startedAt) * origins) / 1e6) - beats);
    for (let k = 0; k < due; k++) {
      const i = next;
      next = (next + 1) % origins;
      monitor.ingest(`${poolHeartbeat(i, 0)}&t=${t}`, { address: poolAddress(i) });
      beats++;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    for (let i = 0; i < origins; i++) monitor.ingest(poolHeartbeat(i, 0), { address: poolAddress(i) });
    await store.flush();
    for (let p = 0; p < processes; p++) {
      const views = Math.floor(viewCount / processes) + (p < viewCount % processes ? 1 : 0);
      children.push(startChild('redis-view-child.ts', [redis.url, prefix, String(views)]));
    }
    for (const child of children) assert.equal(await child.nextLine(30_000), 'ready');
    timer = setInterval(beat, tickMs);
    await sleep(Math.min(1000, windowMs / 2)); // warm up
    for (const child of children) {
      child.send('reset');
      // A view far behind answers only after its backlog (the latency figures show that).
      assert.equal(await child.nextLine(60_000), 'ok');
    }
    const before = await info(client);
    const writesBefore = store.stats().writes;
    const beatsBefore = beats;
    await sleep(windowMs);
    const after = await info(client);
    const writes = store.stats().writes - writesBefore;
    const counted = beats - beatsBefore;
    clearInterval(timer);
    timer = undefined;
    const reports: { cpu: number; updates: number; samples: number; snapshots: number; p50: number; p99: number; max: number }[] = [];
    for (const child of children) {
      child.send('report');
      reports.push(JSON.parse(await child.nextLine(10_000)) as (typeof reports)[number]);
    }
    // Percentiles per process, worst taken: a conservative summary without shipping every sample.
    const p50 = Math.max(...reports.map((r) => r.p50));
    const p99 = Math.max(...reports.map((r) => r.p99));
    const max = Math.max(...reports.map((r) => r.max));
    const seen = reports.reduce((sum, r) => sum + r.samples, 0);
    const snapshots = reports.reduce((sum, r) => sum + r.snapshots, 0);
    const viewCpu = reports.reduce((sum, r) => sum + r.cpu, 0);
    const redisCpu = after.cpu - before.cpu;
    ctx.log(`store: ${JSON.stringify(store.stats())}`);
    ctx.log(`${counted} heartbeats in ${windowMs} ms, ${seen} view updates (${(seen / Math.max(1, counted)).toFixed(1)} per heartbeat), ${snapshots} resyncs; CPU: views ${(viewCpu / 1000 / windowMs * 100).toFixed(0)} % of a core (${(viewCpu / Math.max(1, seen)).toFixed(2)} µs per update), redis-server ${(redisCpu / windowMs / 10).toFixed(0)} %`);
    if (ctx.smoke) {
      assert.ok(seen >= counted * viewCount * 0.9, `views saw ${seen} updates of ${counted} heartbeats × ${viewCount}`);
      assert.equal(snapshots, 0, 'no view resynchronised during the window');
    }
    return {
      p50,
      p99,
      max,
      delivered: seen / Math.max(1, counted * viewCount),
      resyncs: snapshots,
      viewCpuPerUpdate: viewCpu / Math.max(1, seen),
      redisCpuPercent: redisCpu / windowMs / 10,
      // INFO itself is one command; the rest are this bench's EVALSHA runs.
      commandsPerBeat: (after.commands - before.commands - 1) / counted,
      scriptsPerBeat: writes / counted,
      bytesInPerBeat: (after.bytesIn - before.bytesIn) / counted,
      bytesOutPerBeat: (after.bytesOut - before.bytesOut) / counted,
    };
  } finally {
    clearInterval(timer);
    for (const child of children) await child.stop();
    await monitor.close();
  }
}

/** CPU (user + system) of this process per heartbeat ingested, with the write path of each store included. */
async function ingestCpu(client: Client, prefix: string, size: number, rounds: number): Promise<{ redis: number; slot: number }> {
  const measure = async (store: HeartbeatStore): Promise<number> => {
    const monitor = new HeartMonitor({ store, staleAfter: 3_600_000, expireAfter: 7_200_000 });
    for (let i = 0; i < size; i++) monitor.ingest(poolHeartbeat(i, 0), { address: poolAddress(i) });
    await store.flush();
    const start = process.cpuUsage();
    for (let round = 1; round <= rounds; round++) {
      for (let i = 0; i < size; i++) monitor.ingest(poolHeartbeat(i, round), { address: poolAddress(i) });
      // Let the store's batches go out as they would between datagrams.
      await store.flush();
    }
    const used = process.cpuUsage(start);
    await monitor.close();
    return (used.user + used.system) / (size * rounds);
  };
  const slot = await measure(new SlotStore({ maxServers: size }));
  const redis = await measure(new RedisStore({ client, prefix }));
  return { redis, slot };
}

/**
 * CPU of this process per report received, from change batches published through the real
 * Redis: once into a RedisView holding `size` servers (every report applied: decoded,
 * checked, re-weighed, an `update` event) and once into a bare subscriber that only counts,
 * with the same messages. The difference is the view's own cost, which sizing multiplies
 * by the reports per second each view receives.
 */
async function applyCost(client: Client, prefix: string, size: number, rounds: number): Promise<{ view: number; bare: number }> {
  const keys = tableKeys(prefix);
  const store = new RedisStore({ client, prefix, expireAfter: 3_600_000, monitorId: 'bench' });
  for (let i = 0; i < size; i++) store.put({ ip: poolAddress(i), port: 80, ready: 1, busy: 0, lastSeen: Date.now() });
  await store.close();
  const perMessage = 100;
  const records: string[][] = [];
  for (let round = 0; round < rounds; round++) {
    for (let start = 0; start < size; start += perMessage) {
      const batch: string[] = [];
      for (let i = start; i < Math.min(size, start + perMessage); i++) {
        const { ready, busy } = poolCounts(i, round + 1);
        batch.push(encodeRecord({ ip: poolAddress(i), port: 80, ready, busy, lastSeen: 0, fields: { t: String(round * size + i) } }, 'bench'));
      }
      records.push(batch);
    }
  }
  const reports = records.reduce((sum, batch) => sum + batch.length, 0);
  // Publish in slices the receiver catches up with (a subscriber far behind would hit Redis's output buffer limit).
  const publishAll = async (first: number, received: () => number): Promise<void> => {
    for (let at = 0; at < records.length; at += 50) {
      const slice = records.slice(at, at + 50);
      // The write script's format: a header, then `P <key> <age> <record>` per report.
      await Promise.all(slice.map((batch, k) => client.sPublish(keys.changes, [`${first + at + k} 0`, ...batch.map((record, j) => `P ${poolAddress(((at + k) * perMessage + j) % size)} 0 ${record}`)].join('\n'))));
      const target = at + slice.length;
      while (received() < target) await sleep(1);
    }
  };
  // Every message goes out twice: a first pass to warm the code up, then the measured one.
  const measure = async (run: (first: number) => Promise<void>): Promise<number> => {
    await run(Number(await client.get(keys.sequence)) + 1);
    const first = Number(await client.get(keys.sequence)) + 1;
    const start = process.cpuUsage();
    await run(first);
    const used = process.cpuUsage(start);
    return (used.user + used.system) / reports;
  };
  const subscriber = client.duplicate();
  subscriber.on('error', () => undefined);
  await subscriber.connect();
  let bareCount = 0;
  await subscriber.sSubscribe(keys.changes, () => {
    bareCount++;
  });
  const bare = await measure((first) => {
    const base = bareCount;
    return publishAll(first, () => bareCount - base);
  });
  await subscriber.sUnsubscribe(keys.changes);
  subscriber.destroy();
  const view = await RedisStore.attach({ client, prefix, staleAfter: 3_600_000, expireAfter: 3_600_000, maxServers: size });
  let updates = 0;
  view.on('update', () => updates++);
  try {
    assert.equal(view.servers().length, size);
    const applied = await measure(async (first) => {
      // Redis's sequence moves with the messages (the view's probe would see it behind and resynchronise).
      await client.set(keys.sequence, String(first + records.length - 1));
      // Counted from the update events (metrics() walks every server: too dear to poll here).
      const base = updates;
      await publishAll(first, () => Math.floor((updates - base) / perMessage));
    });
    assert.equal(updates, 2 * reports, 'every report was applied');
    assert.equal(view.metrics().source_snapshots, 1, 'no resync while measuring');
    return { view: applied, bare };
  } finally {
    await view.close();
  }
}

/** ns per pick in a RedisView and a SlotStore view holding the same servers. */
async function pickCost(client: Client, prefix: string, size: number, budgetMs: number): Promise<{ redis: number; slot: number; redisMembers: number; slotMembers: number }> {
  const slots = new SlotStore({ maxServers: size, staleAfter: 3_600_000, expireAfter: 7_200_000 });
  const store = new RedisStore({ client, prefix, expireAfter: 3_600_000 });
  for (const target of [slots, store]) {
    const monitor = new HeartMonitor({ store: target, staleAfter: 3_600_000, expireAfter: 7_200_000 });
    for (let i = 0; i < size; i++) monitor.ingest(poolHeartbeat(i, 0), { address: poolAddress(i) });
    await target.flush();
  }
  const slotView = SlotStore.attach(slots.buffer, { random: seededRandom(1) });
  const redisView = await RedisStore.attach({ client, prefix, staleAfter: 3_600_000, expireAfter: 3_600_000, random: seededRandom(1) });
  try {
    assert.equal(redisView.servers().length, size);
    const members = poolMembers(100);
    assert.ok(redisView.pickBackend(members) !== undefined && slotView.pickBackend(members) !== undefined);
    return {
      slot: nsPerOp(() => slotView.pickBackend(), budgetMs),
      redis: nsPerOp(() => redisView.pickBackend(), budgetMs),
      slotMembers: nsPerOp(() => slotView.pickBackend(members), budgetMs),
      redisMembers: nsPerOp(() => redisView.pickBackend(members), budgetMs),
    };
  } finally {
    redisView.close();
    await store.close();
  }
}
