/**
 * A deterministic simulation of the balancing options (no sockets, no wall time): real
 * HeartMonitor instances fed through ingest() on a hand-driven clock with seeded randoms.
 *
 *   npx tsx bench/suites/balancing-sim.ts            # prints the tables of docs/balancing.md
 *   SEEDS=10 npx tsx bench/suites/balancing-sim.ts   # more seeds for the queueing tables
 *
 * Scenario "under load" (bench/lib/queue-sim.ts): origins of 2, 4 and 10 workers with
 * FIFO queues and exponential 20 ms service times, heartbeats every second, an open-loop
 * generator at 60, 85 and 95 % of capacity spread evenly over 1, 4 or 10 proxies; latency
 * from each request's intended send time. Medians over seeds, with their range.
 *
 * Scenario "between heartbeats": P proxies each see the same heartbeats from S servers
 * of mixed size and assign their share of a demand of 90 % of the pool's capacity before
 * the next heartbeat. Load of a server = requests assigned / ready it reported; the
 * figure is the peak over servers, averaged over many heartbeat intervals.
 *
 * Scenario "a server joins": a steady pool of 10 servers takes 80 % of its capacity
 * every second; an 11th joins. Its real capacity ramps from 20 % to 100 % over 30 s
 * (cold caches, JIT) although it reports full ready counts; the figure is the peak of
 * requests per second / real capacity on the new server.
 */
import { HeartMonitor, MemoryStore, type BalancingOptions, type Clock } from '../../src/index.js';
import { seededRandom as seeded } from '../../test/helpers/random.js';
import { simulateQueues, type Disturbance, type QueueSimResult, type SimBalancer } from '../lib/queue-sim.js';

class SimClock implements Clock {
  wall = 1_700_000_000_000;
  mono = 0;
  now = (): number => this.wall;
  monotonic = (): number => this.mono;
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
}

/** Options of {@link betweenHeartbeats}. */
export interface BetweenHeartbeatsOptions {
  readonly proxies: number;
  readonly servers: number;
  readonly intervals: number;
  /** Demand per interval as a share of the pool's reported ready total. */
  readonly demand: number;
  readonly seed: number;
}

/** Peak load figures of one configuration. */
export interface PeakLoad {
  /** Mean over intervals of the most loaded server's assigned / ready. */
  readonly meanPeak: number;
  /** Largest assigned / ready seen in any interval. */
  readonly worstPeak: number;
  /** Share of (server, interval) pairs with more requests than ready workers. */
  readonly overloaded: number;
}

/** Run the "between heartbeats" scenario for one configuration. */
export function betweenHeartbeats(balancing: BalancingOptions, options: BetweenHeartbeatsOptions): PeakLoad {
  const clock = new SimClock();
  const sizes = seeded(options.seed);
  const capacity = Array.from({ length: options.servers }, () => 10 + Math.floor(sizes() * 41)); // 10..50 workers
  const ips = capacity.map((_, i) => `10.0.${i >> 8}.${i & 255}`);
  const proxies = Array.from({ length: options.proxies }, (_, p) => new HeartMonitor({ clock, random: seeded(options.seed * 1000 + p + 1), store: new MemoryStore(), ...balancing }));
  const totalReady = capacity.reduce((a, b) => a + b, 0);
  const perProxy = Math.round((totalReady * options.demand) / options.proxies);
  let peakSum = 0;
  let worstPeak = 0;
  let overloaded = 0;
  for (let interval = 0; interval < options.intervals; interval++) {
    for (const proxy of proxies) capacity.forEach((ready, i) => proxy.ingest(`v=1&ready=${ready}&busy=1`, { address: ips[i] ?? '' }));
    const assigned = new Map<string, number>();
    const leases = [];
    for (let n = 0; n < perProxy; n++) {
      for (const proxy of proxies) {
        const lease = proxy.acquire();
        if (lease === undefined) continue;
        leases.push(lease);
        assigned.set(lease.server.ip, (assigned.get(lease.server.ip) ?? 0) + 1);
      }
    }
    let peak = 0;
    capacity.forEach((ready, i) => {
      const load = (assigned.get(ips[i] ?? '') ?? 0) / ready;
      peak = Math.max(peak, load);
      if (load > 1) overloaded++;
    });
    peakSum += peak;
    worstPeak = Math.max(worstPeak, peak);
    for (const lease of leases) lease.release();
    clock.advance(1000);
  }
  for (const proxy of proxies) void proxy.close();
  return { meanPeak: peakSum / options.intervals, worstPeak, overloaded: overloaded / (options.intervals * options.servers) };
}

/** Load figures on the server that joined. */
export interface JoinLoad {
  /** Largest requests per second / real capacity on the new server. */
  readonly peak: number;
  /** Its load in its first second. */
  readonly firstSecond: number;
  /** Largest load on any of the old servers. */
  readonly peakOthers: number;
}

/** Run the "a server joins" scenario for one configuration. */
export function serverJoins(balancing: BalancingOptions & { readonly warmupDivisor?: number }, seed = 1, seconds = 40): JoinLoad {
  const clock = new SimClock();
  const monitor = new HeartMonitor({ clock, random: seeded(seed), store: new MemoryStore(), ...balancing });
  const ready = 50;
  const old = Array.from({ length: 10 }, (_, i) => `10.1.0.${i + 1}`);
  const joiner = '10.1.0.100';
  for (let s = 0; s < 30; s++) {
    for (const ip of old) monitor.ingest(`v=1&ready=${ready}&busy=5`, { address: ip });
    clock.advance(1000);
  }
  const demand = Math.round(0.8 * ready * (old.length + 1));
  let peak = 0;
  let firstSecond = 0;
  let peakOthers = 0;
  for (let t = 0; t < seconds; t++) {
    for (const ip of old) monitor.ingest(`v=1&ready=${ready}&busy=5`, { address: ip });
    // mod_heartbeat reports busy = 0 while the new server is still idle.
    monitor.ingest(`v=1&ready=${ready}&busy=${t === 0 ? 0 : 5}`, { address: joiner });
    const realCapacity = ready * Math.min(1, 0.2 + (0.8 * t) / 30);
    const assigned = new Map<string, number>();
    const leases = [];
    for (let n = 0; n < demand; n++) {
      const lease = monitor.acquire();
      if (lease === undefined) continue;
      leases.push(lease);
      assigned.set(lease.server.ip, (assigned.get(lease.server.ip) ?? 0) + 1);
    }
    const load = (assigned.get(joiner) ?? 0) / realCapacity;
    if (t === 0) firstSecond = load;
    peak = Math.max(peak, load);
    for (const ip of old) peakOthers = Math.max(peakOthers, (assigned.get(ip) ?? 0) / ready);
    for (const lease of leases) lease.release();
    clock.advance(1000);
  }
  void monitor.close();
  return { peak, firstSecond, peakOthers };
}

/** The configurations docs/balancing.md compares. */
export const CONFIGURATIONS: readonly { readonly name: string; readonly options: BalancingOptions & { readonly warmupDivisor?: number } }[] = [
  { name: 'Apache default (weighted random)', options: {} },
  { name: 'inFlightCorrection', options: { inFlightCorrection: true } },
  { name: "inFlightCorrection + pickMode 'p2c'", options: { inFlightCorrection: true, pickMode: 'p2c' } },
  { name: 'slowStart 30 s', options: { slowStart: { window: 30_000 } } },
  { name: "slowStart 30 s + inFlightCorrection + 'p2c'", options: { slowStart: { window: 30_000 }, inFlightCorrection: true, pickMode: 'p2c' } },
  { name: "balancing 'adaptive'", options: { balancing: 'adaptive' } },
];

const percent = (value: number): string => `${(value * 100).toFixed(0)} %`;

/** The origins of issue 16: three servers of 2, 4 and 10 workers, 20 ms mean service. */
export const QUEUE_WORKERS: readonly number[] = [2, 4, 10];

/** The balancers the queueing tables compare; `proxies` is filled in per run. */
export function queueBalancers(proxies: number): readonly { readonly name: string; readonly balancer: SimBalancer }[] {
  const rows: { name: string; balancer: SimBalancer }[] = [
    { name: 'leastconn, own connections (HAProxy-like, simulated)', balancer: { kind: 'leastconn' } },
    { name: "'apache' (default)", balancer: { kind: 'monitor', options: {} } },
    { name: "inFlightCorrection + 'p2c', refusing at 0", balancer: { kind: 'monitor', options: { inFlightCorrection: true, pickMode: 'p2c' } } },
    { name: "'adaptive'", balancer: { kind: 'monitor', options: { balancing: 'adaptive' } } },
    { name: "'adaptive' + pickMode 'p2c'", balancer: { kind: 'monitor', options: { balancing: 'adaptive', pickMode: 'p2c' } } },
  ];
  if (proxies > 1) rows.push({ name: `'adaptive' + proxies: ${proxies}`, balancer: { kind: 'monitor', options: { balancing: 'adaptive', proxies } } });
  return rows;
}

/** Medians and ranges of one configuration over seeds. */
export interface QueueFigures {
  readonly p50: number;
  readonly p99: number;
  readonly p99Min: number;
  readonly p99Max: number;
  /** Largest refused share over the seeds. */
  readonly refused: number;
  /** Largest failed share over the seeds. */
  readonly failed: number;
  /** Largest distance of any origin's share from capacity-proportional, over the seeds. */
  readonly shareError: number;
}

/** Run one queueing configuration over `seeds` seeds. */
export function queueFigures(balancer: SimBalancer, proxies: number, load: number, seeds: number, durationMs = 30_000, disturbances?: readonly Disturbance[]): QueueFigures {
  const runs: QueueSimResult[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    runs.push(simulateQueues({ workers: QUEUE_WORKERS, serviceMs: 20, load, proxies, balancer, durationMs, seed, ...(disturbances === undefined ? {} : { disturbances }) }));
  }
  const total = QUEUE_WORKERS.reduce((a, b) => a + b, 0);
  const p99s = runs.map((run) => run.p99);
  return {
    p50: median(runs.map((run) => run.p50)),
    p99: median(p99s),
    p99Min: Math.min(...p99s),
    p99Max: Math.max(...p99s),
    refused: Math.max(...runs.map((run) => run.refused)),
    failed: Math.max(...runs.map((run) => run.failed)),
    shareError: Math.max(...runs.map((run) => Math.max(...run.shares.map((share, i) => Math.abs(share - (QUEUE_WORKERS[i] ?? 0) / total))))),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

const ms = (value: number): string => `${value.toFixed(0)}`;
const fine = (value: number): string => `${(value * 100).toFixed(1)} %`;

function printQueueTables(seeds: number): void {
  for (const proxies of [1, 4, 10]) {
    console.log(`\n### Under load, ${proxies} prox${proxies === 1 ? 'y' : 'ies'}: p99 in ms (median of ${seeds} seeds [range]), p50, refused, largest share error\n`);
    console.log('| balancer | 60 %: p99 | p50 | refused | share error | 85 %: p99 | p50 | refused | 95 %: p99 | p50 | refused |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const { name, balancer } of queueBalancers(proxies)) {
      const [low, mid, high] = [0.6, 0.85, 0.95].map((load) => queueFigures(balancer, proxies, load, seeds));
      if (low === undefined || mid === undefined || high === undefined) continue;
      const cell = (f: QueueFigures): string => `${ms(f.p99)} [${ms(f.p99Min)}–${ms(f.p99Max)}] | ${ms(f.p50)} | ${fine(f.refused)}`;
      console.log(`| ${name} | ${cell(low)} | ${percentPoints(low.shareError)} | ${cell(mid)} | ${cell(high)} |`);
    }
  }
  const disturbances: readonly { readonly name: string; readonly changes: readonly Disturbance[] }[] = [
    { name: 'the 10-worker origin slows to 2× its service time at 10 s', changes: [{ at: 10_000, origin: 2, slowdown: 2 }] },
    { name: 'the 4-worker origin dies at 10 s (connections refused) and returns at 20 s', changes: [{ at: 10_000, origin: 1, alive: false }, { at: 20_000, origin: 1, alive: true }] },
  ];
  for (const { name, changes } of disturbances) {
    console.log(`\n### Disturbance, 60 % load, 1 and 4 proxies: ${name}\n`);
    console.log('| balancer | 1 proxy: p99 | p50 | refused | failed | 4 proxies: p99 | p50 | refused | failed |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const { name: balancerName, balancer } of queueBalancers(1)) {
      const cells = [1, 4].map((proxies) => {
        const f = queueFigures(balancer, proxies, 0.6, seeds, 30_000, changes);
        return `${ms(f.p99)} [${ms(f.p99Min)}–${ms(f.p99Max)}] | ${ms(f.p50)} | ${fine(f.refused)} | ${fine(f.failed)}`;
      });
      console.log(`| ${balancerName} | ${cells.join(' | ')} |`);
    }
  }
}

const percentPoints = (value: number): string => `${(value * 100).toFixed(1)} pp`;

function main(): void {
  const intervals = Number(process.env.INTERVALS ?? 200);
  console.log(`### Between heartbeats: peak load (assigned / reported ready), ${intervals} intervals, demand 90 %\n`);
  console.log('| configuration | 1 proxy: mean peak | 1 proxy: worst | 1 proxy: overloaded | 10 proxies: mean peak | 10 proxies: worst | 10 proxies: overloaded |');
  console.log('|---|---|---|---|---|---|---|');
  for (const { name, options } of CONFIGURATIONS) {
    const one = betweenHeartbeats(options, { proxies: 1, servers: 20, intervals, demand: 0.9, seed: 11 });
    const ten = betweenHeartbeats(options, { proxies: 10, servers: 20, intervals, demand: 0.9, seed: 11 });
    console.log(`| ${name} | ${percent(one.meanPeak)} | ${percent(one.worstPeak)} | ${percent(one.overloaded)} | ${percent(ten.meanPeak)} | ${percent(ten.worstPeak)} | ${percent(ten.overloaded)} |`);
  }
  // Told how many proxies share the pool, each spends only its share of a report.
  const shared = betweenHeartbeats({ balancing: 'adaptive', proxies: 10 }, { proxies: 10, servers: 20, intervals, demand: 0.9, seed: 11 });
  console.log(`| balancing 'adaptive' + proxies: 10 (10 proxies only) | — | — | — | ${percent(shared.meanPeak)} | ${percent(shared.worstPeak)} | ${percent(shared.overloaded)} |`);
  console.log('\n### A server joins a pool of 10 at 80 % load: requests / real capacity on the new server\n');
  console.log('| configuration | first second | peak, new server | peak, old servers |');
  console.log('|---|---|---|---|');
  const joins = [
    { name: 'Apache default (ready / 4 while busy = 0)', options: {} },
    { name: 'warmupDivisor 1', options: { warmupDivisor: 1 } },
    ...CONFIGURATIONS.slice(1),
  ];
  for (const { name, options } of joins) {
    const result = serverJoins(options);
    console.log(`| ${name} | ${percent(result.firstSecond)} | ${percent(result.peak)} | ${percent(result.peakOthers)} |`);
  }
  printQueueTables(Number(process.env.SEEDS ?? 5));
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) main();
