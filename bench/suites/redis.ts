/**
 * Bench: the table shared through Redis (heartmonitor/redis) against a real redis-server
 * on loopback, beside the SlotStore path in the same run:
 * 1. heartbeat → view latency with `origins` servers beating once a second and `views`
 *    views spread over child processes (ingest time to each view's `update` event), all on
 *    this machine; and the deployment-shaped case: Redis fans out to 20 subscriptions, of
 *    which only a few are full views (measured) and the rest bare subscribers standing in
 *    for the views on other proxy hosts, so this machine's cores do not run 20 views;
 * 2. Redis commands and bytes per heartbeat (from INFO, and from the store's counters),
 *    redis-server CPU (from /proc/<pid>/stat);
 * 3. monitor CPU per heartbeat with a RedisStore vs a SlotStore;
 * 4. the cost of a pick in a RedisView vs a SlotStore view over the same servers.
 * The machine is shared: compare the ratios, not the absolute figures.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, setPriority } from 'node:os';
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

/** One latency case: `views` subscriptions to the change channel, `full` of them RedisViews (all when absent). */
interface LatencyCase {
  readonly origins: number;
  readonly views: number;
  /** Processes the full views are spread over. */
  readonly processes: number;
  /** Full views measured; the other `views − full` subscriptions are bare subscribers. */
  readonly full?: number;
  /** Run the full views' processes each in a session of its own at nice −5 (root only): the share a proxy host reserves for its view. */
  readonly reserve?: boolean;
}

/** Nice value given to the measured views in a `reserve` case. */
const reservedNice = -5;

/** The name HM_REDIS_CASES selects a case by: `10000x20`, or `10000x20k2` / `10000x20k2nice` for the fan-out cases. */
function caseKey(shape: LatencyCase): string {
  return `${shape.origins}x${shape.views}${shape.full === undefined ? '' : `k${shape.full}`}${shape.reserve === true ? 'nice' : ''}`;
}

function caseLabel(shape: LatencyCase): string {
  const origins = `${shape.origins.toLocaleString('en-US')} origins × 1/s`;
  if (shape.full === undefined) return `${origins}, ${shape.views} views in ${shape.processes} processes`;
  const priority = shape.reserve === true ? `, full views in own sessions at nice ${reservedNice}` : '';
  return `${origins}, ${shape.views} subscribers: ${shape.full} full view${shape.full === 1 ? '' : 's'} in ${shape.processes} process${shape.processes === 1 ? '' : 'es'} + ${shape.views - shape.full} bare${priority}`;
}

/** Bench redis. */
export async function redisBench(ctx: BenchContext): Promise<void> {
  const origins = ctx.smoke ? 500 : 10_000;
  // The target case (10,000 origins, 20 views), then fewer views and fewer origins: all views
  // share this machine's cores here, where in production each would run on its own host.
  // The fan-out cases keep Redis's side as in production (20 subscriptions, every batch sent
  // to each) but run only 2 full views here, one per process as on a proxy host; the other
  // 18 are bare subscribers. `…nice` runs the 2 measured views at a higher priority.
  // HM_REDIS_CASES narrows them by key (see caseKey), comma-separated, e.g. `10000x4,10000x20k2`.
  const root = process.getuid?.() === 0;
  const allCases: LatencyCase[] = ctx.smoke
    ? [
        { origins, views: 2, processes: 1 },
        { origins, views: 4, processes: 1, full: 1 },
      ]
    : [
        { origins, views: 20, processes: 4 },
        { origins, views: 4, processes: 2 },
        { origins, views: 20, processes: 2, full: 2 },
        ...(root ? [{ origins, views: 20, processes: 2, full: 2, reserve: true }] : []),
        { origins: 1000, views: 20, processes: 4 },
      ];
  if (!root && !ctx.smoke) ctx.log(`not root: the case with the measured views at nice ${reservedNice} is skipped`);
  const only = process.env.HM_REDIS_CASES?.split(',').map((pair) => pair.trim());
  const cases = only === undefined ? allCases : allCases.filter((shape) => only.includes(caseKey(shape)));
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
    viewShare: [] as number[],
    bareCpu: [] as number[],
    bareBalance: [] as number[],
    redisCpu: [] as number[],
    commands: [] as number[],
    scripts: [] as number[],
    bytesIn: [] as number[],
    bytesOut: [] as number[],
    load: [] as number[],
  }));
  // Per repetition, a fan-out case's full-view latency over the all-full cases' in the same run.
  const fourViews = cases.findIndex((shape) => shape.full === undefined && shape.origins === origins && shape.views === 4);
  const twentyViews = cases.findIndex((shape) => shape.full === undefined && shape.origins === origins && shape.views === 20);
  const ratios = cases.map(() => ({ p50Four: [] as number[], p99Four: [] as number[], redisFour: [] as number[], p50Twenty: [] as number[], p99Twenty: [] as number[] }));
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
      const thisRun: ({ p50: number; p99: number; redisCpuPercent: number } | undefined)[] = [];
      for (const [c, shape] of cases.entries()) {
        const figures = await viewLatency(ctx, redis, client, `bench-${run}-${c}`, shape, windowMs);
        thisRun[c] = figures;
        const into = latency[c];
        if (into === undefined) continue;
        const full = shape.full ?? shape.views;
        into.p50.push(figures.p50 / 1000);
        into.p99.push(figures.p99 / 1000);
        into.max.push(figures.max / 1000);
        into.delivered.push(figures.delivered * 100);
        into.resyncs.push(figures.resyncs);
        into.viewCpu.push(figures.viewCpuPerUpdate);
        // A full view's share of one core at `origins` reports/s: what one proxy host spends on its view.
        into.viewShare.push((figures.viewCpuPerUpdate * shape.origins) / 1e4);
        if (full < shape.views) {
          into.bareCpu.push(figures.bareCpuPerBeat);
          into.bareBalance.push(figures.bareBalance * 100);
        }
        into.redisCpu.push(figures.redisCpuPercent);
        into.commands.push(figures.commandsPerBeat);
        into.scripts.push(figures.scriptsPerBeat);
        into.bytesIn.push(figures.bytesInPerBeat);
        into.bytesOut.push(figures.bytesOutPerBeat / shape.views);
        into.load.push(figures.load);
        ctx.log(`run ${run + 1}, ${caseLabel(shape)}: p50 ${(figures.p50 / 1000).toFixed(1)} ms, p99 ${(figures.p99 / 1000).toFixed(1)} ms, ${(figures.delivered * 100).toFixed(1)} % delivered in the window, ${figures.resyncs} resyncs, load ${figures.load.toFixed(2)}`);
      }
      for (const [c, shape] of cases.entries()) {
        const mine = thisRun[c];
        const four = thisRun[fourViews];
        const twenty = thisRun[twentyViews];
        const into = ratios[c];
        if (shape.full === undefined || mine === undefined || into === undefined) continue;
        if (four !== undefined) {
          into.p50Four.push(mine.p50 / four.p50);
          into.p99Four.push(mine.p99 / four.p99);
          into.redisFour.push(mine.redisCpuPercent / four.redisCpuPercent);
        }
        if (twenty !== undefined) {
          into.p50Twenty.push(mine.p50 / twenty.p50);
          into.p99Twenty.push(mine.p99 / twenty.p99);
        }
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
    const label = caseLabel(shape);
    const fanout = shape.full !== undefined;
    const views = fanout ? 'full RedisView' : 'RedisView';
    ctx.record(label, `heartbeat → ${views} update, p50`, 'ms', into.p50);
    ctx.record(label, `heartbeat → ${views} update, p99`, 'ms', into.p99);
    ctx.record(label, `heartbeat → ${views} update, max`, 'ms', into.max);
    const ratio = ratios[c];
    if (ratio !== undefined && ratio.p99Four.length > 0) {
      ctx.record(label, 'full-view p50 / the 4-view case p50, same run', '×', ratio.p50Four);
      ctx.record(label, 'full-view p99 / the 4-view case p99, same run', '×', ratio.p99Four);
      ctx.record(label, 'redis-server CPU / the 4-view case, same run (the cost of 16 more subscriptions)', '×', ratio.redisFour);
    }
    if (ratio !== undefined && ratio.p99Twenty.length > 0) {
      ctx.record(label, 'full-view p50 / the 20-view case p50, same run', '×', ratio.p50Twenty);
      ctx.record(label, 'full-view p99 / the 20-view case p99, same run', '×', ratio.p99Twenty);
    }
    ctx.record(label, 'updates delivered within the window', '%', into.delivered);
    ctx.record(label, 'view resyncs in the window', 'n', into.resyncs);
    ctx.record(label, fanout ? 'CPU per report of one full view (its process)' : 'view CPU per update (all views on this machine)', 'µs', into.viewCpu);
    if (fanout) {
      ctx.record(label, `one full view's CPU at ${shape.origins.toLocaleString('en-US')} reports/s`, '% core', into.viewShare);
      ctx.record(label, 'CPU per heartbeat of one bare subscriber (node-redis receive only)', 'µs', into.bareCpu);
      ctx.record(label, "bare subscribers' messages, fewest / most received", '%', into.bareBalance);
    }
    ctx.record(label, 'redis-server CPU (/proc/<pid>/stat)', '% core', into.redisCpu);
    ctx.record(label, 'script runs (EVALSHA round trips) per heartbeat', 'cmd', into.scripts);
    ctx.record(label, "Redis commands per heartbeat (INFO: inside scripts too, views' probes)", 'cmd', into.commands);
    ctx.record(label, 'bytes into Redis per heartbeat', 'B', into.bytesIn);
    ctx.record(label, fanout ? 'bytes out of Redis per heartbeat, per subscriber' : 'bytes out of Redis per heartbeat, per view', 'B', into.bytesOut);
    ctx.record(label, 'load average (1 min) at the end of the window', 'load', into.load);
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

async function info(client: Client): Promise<{ commands: number; bytesIn: number; bytesOut: number }> {
  const text = await client.info();
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? NaN);
  return { commands: field('total_commands_processed'), bytesIn: field('total_net_input_bytes'), bytesOut: field('total_net_output_bytes') };
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
const clockTicks = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, all threads) of process `pid` so far, in µs, from /proc/<pid>/stat. */
function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name (which may hold spaces), from field 3 on: utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks;
}

/**
 * Raise process `pid`'s share of the CPU to that of nice `nice`. Linux sets nice per
 * thread, and with autogroup scheduling (kernel.sched_autogroup_enabled = 1, the default)
 * nice only orders the threads of one session: the CPU is first shared between sessions.
 * So a child started in a session of its own gets that session's nice set too
 * (/proc/<pid>/autogroup), which raises its share against every other session's.
 * Returns how it was done, for the log.
 */
function reservePriority(pid: number, nice: number): string {
  for (const task of readdirSync(`/proc/${pid}/task`)) setPriority(Number(task), nice);
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    return `threads and autogroup at nice ${nice} (${readFileSync(`/proc/${pid}/autogroup`, 'utf8').trim()})`;
  } catch {
    return `threads at nice ${nice} (no autogroup)`;
  }
}

async function viewLatency(
  ctx: BenchContext,
  redis: RedisServer,
  client: Client,
  prefix: string,
  shape: LatencyCase,
  windowMs: number,
): Promise<{
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  resyncs: number;
  viewCpuPerUpdate: number;
  bareCpuPerBeat: number;
  bareBalance: number;
  redisCpuPercent: number;
  commandsPerBeat: number;
  scriptsPerBeat: number;
  bytesInPerBeat: number;
  bytesOutPerBeat: number;
  load: number;
}> {
  const { origins, processes } = shape;
  const full = shape.full ?? shape.views;
  const bare = shape.views - full;
  const store = new RedisStore({ client, prefix, monitorId: 'bench' });
  const monitor = new HeartMonitor({ store });
  const children: LineChild[] = [];
  let subscribers: LineChild | undefined;
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
      const views = Math.floor(full / processes) + (p < full % processes ? 1 : 0);
      children.push(startChild('redis-view-child.ts', [redis.url, prefix, String(views)], { ownSession: shape.reserve === true }));
    }
    if (bare > 0) subscribers = startChild('redis-subscriber-child.ts', [redis.url, tableKeys(prefix).changes, String(bare)]);
    for (const child of children) assert.equal(await child.nextLine(30_000), 'ready');
    if (subscribers !== undefined) assert.equal(await subscribers.nextLine(30_000), 'ready');
    if (shape.reserve === true) {
      for (const child of children) if (child.process.pid !== undefined) ctx.log(`view process ${child.process.pid}: ${reservePriority(child.process.pid, reservedNice)}`);
    }
    timer = setInterval(beat, tickMs);
    await sleep(Math.min(1000, windowMs / 2)); // warm up
    for (const child of [...children, ...(subscribers === undefined ? [] : [subscribers])]) {
      child.send('reset');
      // A view far behind answers only after its backlog (the latency figures show that).
      assert.equal(await child.nextLine(60_000), 'ok');
    }
    const before = await info(client);
    const redisCpuBefore = processCpu(redis.pid);
    const writesBefore = store.stats().writes;
    const beatsBefore = beats;
    await sleep(windowMs);
    const redisCpu = processCpu(redis.pid) - redisCpuBefore;
    const after = await info(client);
    const load = loadavg()[0] ?? NaN;
    const writes = store.stats().writes - writesBefore;
    const counted = beats - beatsBefore;
    clearInterval(timer);
    timer = undefined;
    const reports: { cpu: number; updates: number; samples: number; snapshots: number; p50: number; p99: number; max: number }[] = [];
    for (const child of children) {
      child.send('report');
      reports.push(JSON.parse(await child.nextLine(10_000)) as (typeof reports)[number]);
    }
    let bareReport = { cpu: NaN, minMessages: NaN, maxMessages: NaN, bytes: NaN };
    if (subscribers !== undefined) {
      subscribers.send('report');
      bareReport = JSON.parse(await subscribers.nextLine(10_000)) as typeof bareReport;
    }
    // Percentiles per process, worst taken: a conservative summary without shipping every sample.
    const p50 = Math.max(...reports.map((r) => r.p50));
    const p99 = Math.max(...reports.map((r) => r.p99));
    const max = Math.max(...reports.map((r) => r.max));
    const seen = reports.reduce((sum, r) => sum + r.samples, 0);
    const snapshots = reports.reduce((sum, r) => sum + r.snapshots, 0);
    const viewCpu = reports.reduce((sum, r) => sum + r.cpu, 0);
    ctx.log(`store: ${JSON.stringify(store.stats())}`);
    ctx.log(`${counted} heartbeats in ${windowMs} ms, ${seen} view updates (${(seen / Math.max(1, counted)).toFixed(1)} per heartbeat), ${snapshots} resyncs; CPU: ${full} full views ${(viewCpu / 1000 / windowMs * 100).toFixed(0)} % of a core (${(viewCpu / Math.max(1, seen)).toFixed(2)} µs per update), redis-server ${(redisCpu / windowMs / 10).toFixed(0)} %`);
    if (subscribers !== undefined) {
      ctx.log(`${bare} bare subscribers: ${bareReport.minMessages}–${bareReport.maxMessages} messages each, ${bareReport.bytes} bytes in all, CPU ${(bareReport.cpu / 1000 / windowMs * 100).toFixed(0)} % of a core`);
    }
    if (ctx.smoke) {
      assert.ok(seen >= counted * full * 0.9, `views saw ${seen} updates of ${counted} heartbeats × ${full}`);
      assert.equal(snapshots, 0, 'no view resynchronised during the window');
      if (subscribers !== undefined) assert.ok(bareReport.minMessages > 0 && bareReport.minMessages >= bareReport.maxMessages * 0.9, `bare subscribers received ${bareReport.minMessages}–${bareReport.maxMessages} messages`);
    }
    return {
      p50,
      p99,
      max,
      delivered: seen / Math.max(1, counted * full),
      resyncs: snapshots,
      viewCpuPerUpdate: viewCpu / Math.max(1, seen),
      bareCpuPerBeat: bareReport.cpu / Math.max(1, counted * bare),
      bareBalance: bareReport.minMessages / bareReport.maxMessages,
      redisCpuPercent: redisCpu / windowMs / 10,
      // INFO itself is one command; the rest are this bench's EVALSHA runs.
      commandsPerBeat: (after.commands - before.commands - 1) / counted,
      scriptsPerBeat: writes / counted,
      bytesInPerBeat: (after.bytesIn - before.bytesIn) / counted,
      bytesOutPerBeat: (after.bytesOut - before.bytesOut) / counted,
      load,
    };
  } finally {
    clearInterval(timer);
    for (const child of children) await child.stop();
    await subscribers?.stop();
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
  // The first read announces the servers the view opened with (add + update each): before counting.
  assert.equal(view.servers().length, size);
  let updates = 0;
  view.on('update', () => updates++);
  try {
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
