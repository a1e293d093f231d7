/**
 * A deterministic simulation of the balancing options (no sockets, no wall time): real
 * HeartMonitor instances fed through ingest() on a hand-driven clock with seeded randoms.
 *
 *   npx tsx bench/suites/balancing-sim.ts            # prints the tables of docs/balancing.md
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
];

const percent = (value: number): string => `${(value * 100).toFixed(0)} %`;

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
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) main();
