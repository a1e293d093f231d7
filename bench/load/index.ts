/**
 * Bench `load`: real balancers against real origins of unequal capacity, one after the
 * other, under an open-loop load (see plan.ts for the matrix). For every cell: p50/p90/p99
 * of answered requests from their intended send time, failed share (503 refused, 502,
 * connection errors, timeouts), traffic shares and origin utilisation. Ends with a
 * markdown table on stderr (and in `--save`'s JSON as figures).
 *
 * Processes: one origins child (three origins, each heartbeating with HeartbeatSender to
 * the node proxies' ports and to `heartmonitor listen`, the CLI writing hb.dat for Apache),
 * then per group the balancer's instances. Everything on loopback, stopped by PID.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadavg, setPriority } from 'node:os';
import type { BenchContext } from '../lib/report.js';
import { startBalancer, freePort, sleep, worldDir } from './balancers.js';
import { cellFigures, shareDeviation, type CellFigures, type OriginStats } from './cell-stats.js';
import type { MemberAddress } from './configs.js';
import { generateLoad } from './generator.js';
import { startNodeChild } from './node-child.js';
import { BALANCERS, capacity, capacityShares, cellName, cellsFor, DISTURBED_ORIGIN, FULL_MATRIX, ORIGINS, type Cell, type MatrixOptions } from './plan.js';
import { startTracked, type Tracked } from './processes.js';
import { RECOMMENDED_LABEL } from './recommended.js';
import { markdownTable } from './table.js';

/** Smoke: every balancer once, 1 proxy, light load, short (checks that it works, not how fast). */
const SMOKE_MATRIX: MatrixOptions = { balancers: BALANCERS, loads: [0.4], proxies: [1], disturbanceProxies: [], disturbances: [] };

/** Seconds per cell: `HM_LOAD_SECONDS` or 12 (smoke: 1.5). */
function cellMs(smoke: boolean): number {
  const env = Number(process.env.HM_LOAD_SECONDS);
  if (Number.isFinite(env) && env > 0) return env * 1000;
  return smoke ? 1500 : 12_000;
}

/** The matrix: `HM_LOAD_ONLY` (comma-separated balancers) narrows the full one. */
function matrixFor(smoke: boolean): MatrixOptions {
  const base = smoke ? SMOKE_MATRIX : FULL_MATRIX;
  const only = process.env.HM_LOAD_ONLY;
  if (only === undefined || only === '') return base;
  const names = only.split(',').map((s) => s.trim());
  return { ...base, balancers: base.balancers.filter((b) => names.includes(b)) };
}

/** The bench. */
export async function loadBench(ctx: BenchContext): Promise<void> {
  const repeats = ctx.repeatsGiven === true ? ctx.repeats : 1;
  const durationMs = cellMs(ctx.smoke);
  const matrix = matrixFor(ctx.smoke);
  const groups = cellsFor(matrix);
  const total = capacity();
  const stops: Tracked[] = [];
  const dataDir = worldDir('hm-loadbench-hb-');
  const hbDat = join(dataDir, 'hb.dat');
  const results = new Map<string, { cell: Cell; runs: CellFigures[] }>();
  const machineLoads: number[] = [];
  const priority = favourTheBench();
  try {
    const proxyPorts = await Promise.all([0, 1, 2, 3].map(() => freePort()));
    const cliPort = await freePort();
    const origins = startNodeChild('origins', { heartbeatTo: [...proxyPorts, cliPort].map((port) => `127.0.0.1:${port}`) });
    stops.push(origins);
    const ready = await origins.next<{ origins: (MemberAddress & { workers: number })[] }>(20_000);
    const members: MemberAddress[] = ready.origins.map(({ name, host, port }) => ({ name, host, port }));
    const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
    stops.push(startTracked(process.execPath, ['--import', 'tsx/esm', cli, 'listen', `127.0.0.1:${cliPort}`, '--storage', hbDat, '--json']));
    ctx.log(`origins ${members.map((m) => `${m.name}=${m.host}:${m.port}`).join(' ')}; capacity ${total} req/s; ${durationMs / 1000} s per cell, ${repeats} run(s); recommended = ${RECOMMENDED_LABEL}; ${priority}`);

    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const group of groups) {
        const first = group[0];
        if (first === undefined) continue;
        if (first.balancer === 'apache-heartbeat') await waitForFile(hbDat, 15_000);
        const balancer = await startBalancer(first.balancer, first.proxies, members, { proxyPorts, hbDat });
        try {
          for (const cell of group) {
            await origins.ask({ cmd: 'reset' });
            const disturbedAt = cell.disturbance === 'none' ? undefined : durationMs / 3;
            const events = disturbanceEvents(cell, durationMs, (command) => void origins.ask(command));
            const log = await generateLoad({ targets: balancer.targets, rate: cell.load * total, durationMs, originNames: ORIGINS.map((o) => o.name), events });
            const stats = await origins.ask<{ origins: OriginStats[] }>({ cmd: 'stats' });
            if (cell.disturbance === 'dies') await origins.ask({ cmd: 'revive', origin: DISTURBED_ORIGIN.dies }).catch(() => undefined);
            const figures = cellFigures(log, stats.origins, disturbedAt);
            // The machine is shared: how busy it was is part of every figure.
            const machineLoad = loadavg()[0] ?? Number.NaN;
            machineLoads.push(machineLoad);
            const name = cellName(cell);
            const entry = results.get(name) ?? { cell, runs: [] };
            entry.runs.push(figures);
            results.set(name, entry);
            ctx.log(`${name}: p50 ${figures.p50.toFixed(1)} p90 ${figures.p90.toFixed(1)} p99 ${figures.p99.toFixed(1)} ms, failed ${figures.failed}/${figures.sent}, shares ${figures.sharesPercent.map((s) => s.toFixed(1)).join('/')} %, util ${figures.utilisationPercent.map((u) => u.toFixed(0)).join('/')} %, service ${figures.serviceMs.toFixed(1)} ms, loadavg ${machineLoad.toFixed(1)}`);
            if (ctx.smoke) {
              assert.equal(figures.sent, Math.round(cell.load * total * (durationMs / 1000)), `${name}: every request sent`);
              assert.ok(figures.ok >= figures.sent * 0.5, `${name}: most requests answered (${figures.ok}/${figures.sent})`);
              // Every answer names a known origin (a snapshot balancer may skip one for 1.5 s).
              const named = figures.sharesPercent.reduce((sum, share) => sum + share, 0);
              assert.ok(Math.abs(named - 100) < 1e-6, `${name}: answers without a known origin (${named} %)`);
            }
            await sleep(1000); // queues drain before the next cell
          }
        } finally {
          await balancer.stop();
        }
      }
    }
  } finally {
    await Promise.all(stops.map((t) => t.stop()));
    rmSync(dataDir, { recursive: true, force: true });
    restorePriority();
  }

  for (const [name, { cell, runs }] of results) {
    const metric = (key: 'p50' | 'p90' | 'p99' | 'failedPercent', unit: string): void => ctx.record(name, key === 'failedPercent' ? 'failed' : key, unit, runs.map((r) => r[key]));
    metric('p50', 'ms');
    metric('p90', 'ms');
    metric('p99', 'ms');
    metric('failedPercent', '%');
    ctx.record(name, 'service time', 'ms', runs.map((r) => r.serviceMs));
    ORIGINS.forEach((origin, i) => {
      ctx.record(name, `share ${origin.name}`, '%', runs.map((r) => r.sharesPercent[i] ?? 0));
      ctx.record(name, `util ${origin.name}`, '%', runs.map((r) => r.utilisationPercent[i] ?? 0));
    });
    if (cell.disturbance === 'dies') ctx.record(name, 'last failure after death', 'ms', runs.map((r) => r.lastFailureAfterMs));
    if (cell.disturbance === 'none') ctx.record(name, 'share deviation', 'points', runs.map((r) => shareDeviation(r.sharesPercent, capacityShares())));
  }
  if (machineLoads.length > 0) ctx.record('machine', 'load average (1 min) at cell ends', 'runnable', machineLoads);
  ctx.log(`\n${markdownTable([...results.values()])}`);
}

/**
 * Other jobs on a shared machine should disturb the bench as little as possible: the bench
 * process goes to nice -10 before it starts anything, so the origins, the generator and
 * every balancer inherit the same priority (they still share the cores with each other:
 * a balancer that needs more CPU slows the origins, which the `service ms` column shows).
 * Needs root (CI runs as root); without it everything runs at normal priority.
 */
function favourTheBench(): string {
  try {
    setPriority(-10);
    return 'the bench and its children at nice -10';
  } catch {
    return 'normal priority (no permission to raise it)';
  }
}

function restorePriority(): void {
  try {
    setPriority(0); // the benches that run after this one
  } catch {
    // was never raised
  }
}

function disturbanceEvents(cell: Cell, durationMs: number, send: (command: unknown) => void): { at: number; run: () => void }[] {
  switch (cell.disturbance) {
    case 'none':
      return [];
    case 'slow':
      return [{ at: durationMs / 3, run: () => send({ cmd: 'slow', origin: DISTURBED_ORIGIN.slow, factor: 2 }) }];
    case 'dies':
      return [
        { at: durationMs / 3, run: () => send({ cmd: 'dies', origin: DISTURBED_ORIGIN.dies }) },
        { at: (2 * durationMs) / 3, run: () => send({ cmd: 'revive', origin: DISTURBED_ORIGIN.dies }) },
      ];
  }
}

async function waitForFile(path: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} not written within ${timeoutMs} ms`);
    await sleep(200);
  }
}
