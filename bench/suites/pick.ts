/**
 * Bench 2: cost of one pick against the pool size, for pickBackend() and
 * pickBackend(members), without and with a concurrent stream of heartbeats, beside
 * Apache's method (re-read and parse hb.dat, walk the members) and an O(1) alias-table
 * draw over the same weights (the floor for any weighted draw) in the same run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileStore, SlotStore, heartbeatWeight } from '../../src/index.js';
import { AliasTable } from '../lib/alias-table.js';
import { apacheLine, apachePick } from '../lib/apache-method.js';
import { seededRandom } from '../../test/helpers/random.js';
import { filledMonitor, poolAddress, poolCounts, poolHeartbeat, poolMembers } from '../lib/pool.js';
import type { BenchContext } from '../lib/report.js';
import { nsPerOp } from '../lib/timing.js';

/** Bench 2. */
export async function pickBench(ctx: BenchContext): Promise<void> {
  const sizes = ctx.smoke ? [10, 1000] : [10, 1000, 10_000, 100_000];
  const budgetMs = ctx.smoke ? 20 : 250;
  const dir = mkdtempSync(join(tmpdir(), 'hm-bench-pick-'));
  try {
    for (const size of sizes) {
      await Promise.resolve();
      measureSize(ctx, size, budgetMs, join(dir, `hb-${size}.dat`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function measureSize(ctx: BenchContext, size: number, budgetMs: number, hbPath: string): void {
  let nextRandom: number | undefined;
  const seeded = seededRandom(size);
  // The monitor draws the injected number when one is set, so the check below can compare.
  const slots = new SlotStore({ maxServers: size, staleAfter: 3_600_000, expireAfter: 7_200_000 });
  const monitor = filledMonitor(size, { random: () => nextRandom ?? seeded(), store: slots });
  const view = SlotStore.attach(slots.buffer, { random: () => nextRandom ?? seeded() });
  const members = poolMembers(size);
  const hosts = members.map((_, i) => poolAddress(i));
  writeFileSync(hbPath, members.map((_, i) => apacheLine(poolAddress(i), poolCounts(i, 0).ready, poolCounts(i, 0).busy, 1, 8080)).join(''));
  const reader = FileStore.open(hbPath, { random: () => nextRandom ?? seeded(), staleAfter: 3_600_000, expireAfter: 7_200_000 });

  // Correctness: both methods choose the same member for the same random number.
  const check = seededRandom(7);
  for (let k = 0; k < (size > 10_000 ? 10 : 50); k++) {
    nextRandom = check();
    const ours = monitor.pickBackend(members);
    const apache = apachePick(hbPath, hosts, nextRandom);
    assert.ok(ours !== undefined && apache !== undefined, `n=${size}: a pick came back empty`);
    assert.equal(ours, members[apache], `n=${size}: pickBackend(members) and Apache's method disagree for random ${nextRandom}`);
    assert.equal(view.pickBackend(members), ours, `n=${size}: the SlotStore view disagrees with the monitor`);
    assert.equal(reader.pickBackend(members), ours, `n=${size}: the hb.dat reader disagrees with the monitor`);
    const server = monitor.pickBackend();
    assert.ok(server !== undefined && server.ready > 0, `n=${size}: pickBackend() returned no server with weight`);
  }
  nextRandom = undefined;

  const label = `n=${size.toLocaleString('en-US')}`;
  const series = { alias: [] as number[], overAlias: [] as number[], all: [] as number[], members: [] as number[], allUpd: [] as number[], membersUpd: [] as number[], apache: [] as number[], ratio: [] as number[], view: [] as number[], viewUpd: [] as number[], viewChurn: [] as number[], reader: [] as number[] };
  let round = 1;
  let cursor = 0;
  const update = (): void => {
    // One heartbeat of the next server in a stride, with new counts: the weight changes.
    cursor = (cursor + 7919) % size;
    if (cursor === 0) round++;
    monitor.ingest(poolHeartbeat(cursor, round), { address: poolAddress(cursor) });
  };
  // A server leaves (its slot is freed), then comes back (a slot is taken), alternately,
  // through the store as the monitor would on expiry and on the next heartbeat.
  let leaving: number | undefined;
  const churn = (): void => {
    if (leaving === undefined) {
      cursor = (cursor + 7919) % size;
      leaving = cursor;
      slots.delete(poolAddress(leaving));
    } else {
      slots.put({ ip: poolAddress(leaving), port: 80, ...poolCounts(leaving, round), lastSeen: Date.now() });
      leaving = undefined;
    }
  };
  let sink = 0;
  // The weights the monitor draws by before any update (round 0 of every server).
  const alias = new AliasTable(Array.from({ length: size }, (_, i) => heartbeatWeight(poolCounts(i, 0))));
  checkAlias(alias, size);
  const aliasRandom = seededRandom(size + 1);
  for (let run = 0; run < ctx.repeats; run++) {
    // Side by side in each repetition (the same random source cost in both), so their
    // ratio holds on a busy machine where absolute figures drift.
    series.alias.push(nsPerOp(() => void (sink ^= alias.pick(aliasRandom())), budgetMs));
    series.all.push(nsPerOp(() => void (sink ^= monitor.pickBackend() === undefined ? 1 : 0), budgetMs));
    series.overAlias.push((series.all.at(-1) ?? Number.NaN) / (series.alias.at(-1) ?? Number.NaN));
    series.members.push(nsPerOp(() => void (sink ^= monitor.pickBackend(members) === undefined ? 1 : 0), budgetMs));
    series.allUpd.push(timedWithUpdates(() => void (sink ^= monitor.pickBackend() === undefined ? 1 : 0), update, budgetMs));
    series.membersUpd.push(timedWithUpdates(() => void (sink ^= monitor.pickBackend(members) === undefined ? 1 : 0), update, budgetMs));
    series.view.push(nsPerOp(() => void (sink ^= view.pickBackend(members) === undefined ? 1 : 0), budgetMs, 3));
    series.viewUpd.push(timedWithUpdates(() => void (sink ^= view.pickBackend(members) === undefined ? 1 : 0), update, budgetMs));
    series.viewChurn.push(timedWithUpdates(() => void (sink ^= view.pickBackend(members) === undefined ? 1 : 0), churn, budgetMs));
    if (leaving !== undefined) churn();
    series.reader.push(nsPerOp(() => void (sink ^= reader.pickBackend(members) === undefined ? 1 : 0), budgetMs, 3));
    const random = seededRandom(run);
    const apache = nsPerOp(() => void (sink ^= apachePick(hbPath, hosts, random()) ?? 0), budgetMs, 3);
    series.apache.push(apache);
    series.ratio.push(apache / (series.members.at(-1) ?? Number.NaN));
  }
  assert.equal(typeof sink, 'number');
  ctx.record(label, 'alias table (O(1), fixed weights)', 'ns/pick', series.alias);
  ctx.record(label, 'pickBackend()', 'ns/pick', series.all);
  ctx.record(label, 'pickBackend() / alias table', 'x', series.overAlias);
  ctx.record(label, 'pickBackend(members)', 'ns/pick', series.members);
  ctx.record(label, 'pickBackend() + 1 heartbeat/pick', 'ns/pick', series.allUpd);
  ctx.record(label, 'pickBackend(members) + 1 heartbeat/pick', 'ns/pick', series.membersUpd);
  ctx.record(label, 'SlotStore view (worker) pickBackend(members)', 'ns/pick', series.view);
  ctx.record(label, 'SlotStore view (worker) pickBackend(members) + 1 heartbeat/pick', 'ns/pick', series.viewUpd);
  ctx.record(label, 'SlotStore view (worker) pickBackend(members) + 1 server leaving or joining/pick', 'ns/pick', series.viewChurn);
  ctx.record(label, 'hb.dat reader (other process) pickBackend(members)', 'ns/pick', series.reader);
  ctx.record(label, "Apache's method (read+parse hb.dat, walk)", 'ns/pick', series.apache);
  ctx.record(label, "Apache's method / pickBackend(members)", 'x', series.ratio);
  ctx.log(`${label} done`);
  void monitor.close();
}

/** The alias table draws the pool's weights: exact shares over a sweep of random numbers. */
function checkAlias(alias: AliasTable, size: number): void {
  const weights = Array.from({ length: size }, (_, i) => heartbeatWeight(poolCounts(i, 0)));
  const total = weights.reduce((a, b) => a + b, 0);
  const counts = new Float64Array(size);
  const draws = Math.max(10_000, size * 20);
  for (let k = 0; k < draws; k++) {
    const drawn = alias.pick((k + 0.5) / draws);
    counts[drawn] = (counts[drawn] ?? 0) + 1;
  }
  for (let i = 0; i < size; i++) {
    // A sweep of evenly spaced numbers gives each index its share up to one draw per column it touches.
    const expected = ((weights[i] ?? 0) / total) * draws;
    assert.ok(Math.abs((counts[i] ?? 0) - expected) <= draws / size + 1, `alias table share of ${i}: ${counts[i]} vs ${expected}`);
  }
}

/**
 * ns per pick while heartbeats arrive: each round applies one heartbeat (not timed) and
 * then times a block of picks; the cost of reading the clock is measured and removed.
 */
function timedWithUpdates(pick: () => void, update: () => void, budgetMs: number): number {
  const PICKS = 4;
  const overhead = clockOverhead();
  let timed = 0;
  let picks = 0;
  const start = performance.now();
  while (performance.now() - start < budgetMs) {
    update();
    const t0 = performance.now();
    for (let i = 0; i < PICKS; i++) pick();
    timed += performance.now() - t0 - overhead;
    picks += PICKS;
  }
  return Math.max(0, (timed * 1e6) / picks);
}

function clockOverhead(): number {
  const rounds = 10_000;
  let total = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    total += performance.now() - t0;
  }
  return total / rounds;
}
