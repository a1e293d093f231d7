/** Shared fixtures of the balancing tests: a hand-driven clock and deterministic randoms. */
import { HeartMonitor, type HeartMonitorOptions } from '../../src/index.js';
import { FakeClock } from '../helpers/clock.js';
import { seededRandom } from '../helpers/random.js';

/** The balancing tests' clock: the tests' own, started where these tests expect it. */
export class ManualClock extends FakeClock {
  constructor() {
    super(1_700_000_000_000, 1_000_000);
  }
}

/** Randoms that walk every integer target 0..n-1 once in order, then start over: exact shares. */
export function sweepingRandom(): { random: () => number; walk: (total: number) => void } {
  let total = 1;
  let i = 0;
  return {
    random: () => {
      const value = (i + 0.5) / total;
      i = (i + 1) % total;
      return value;
    },
    walk: (next: number) => {
      total = next;
      i = 0;
    },
  };
}

/** A monitor on a manual clock with a seeded random, fed through ingest(). */
export function testMonitor(options: HeartMonitorOptions = {}): { monitor: HeartMonitor; clock: ManualClock } {
  const clock = new ManualClock();
  const monitor = new HeartMonitor({ clock, random: seededRandom(42), ...options });
  return { monitor, clock };
}

/** Send one heartbeat from `ip`. */
export function beat(monitor: HeartMonitor, ip: string, ready: number, busy = 1): void {
  if (!monitor.ingest(`v=1&ready=${ready}&busy=${busy}`, { address: ip })) throw new Error(`heartbeat from ${ip} refused`);
}

/** Count picks by server IP over `n` draws. */
export function countPicks(monitor: HeartMonitor, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const server = monitor.pickBackend();
    const key = server?.ip ?? 'none';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
