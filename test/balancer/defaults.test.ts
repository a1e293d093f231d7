import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartMonitor } from '../../src/index.js';
import { ManualClock, beat, countPicks, sweepingRandom } from './support.js';

describe('defaults stay Apache lbmethod=heartbeat (SPEC 1.8)', () => {
  it('picks in exact proportion to ready', () => {
    const clock = new ManualClock();
    const { random, walk } = sweepingRandom();
    const monitor = new HeartMonitor({ clock, random });
    beat(monitor, '10.0.0.1', 10);
    beat(monitor, '10.0.0.2', 20);
    beat(monitor, '10.0.0.3', 70);
    walk(100);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 100)), { '10.0.0.1': 10, '10.0.0.2': 20, '10.0.0.3': 70 });
    void monitor.close();
  });

  it('gives busy = 0 servers ready / 4, and warmupDivisor 1 turns that off', () => {
    for (const [warmupDivisor, expected] of [
      [4, { '10.0.0.1': 2, '10.0.0.2': 5, '10.0.0.3': 17 }],
      [1, { '10.0.0.1': 10, '10.0.0.2': 20, '10.0.0.3': 70 }],
    ] as const) {
      const { random, walk } = sweepingRandom();
      const monitor = new HeartMonitor({ clock: new ManualClock(), random, warmupDivisor });
      beat(monitor, '10.0.0.1', 10, 0);
      beat(monitor, '10.0.0.2', 20, 0);
      beat(monitor, '10.0.0.3', 70, 0);
      const total = Object.values(expected).reduce((a, b) => a + b, 0);
      walk(total);
      assert.deepEqual(Object.fromEntries(countPicks(monitor, total)), expected);
      void monitor.close();
    }
  });

  it('leases change nothing without inFlightCorrection, and picks stop after staleAfter', () => {
    const clock = new ManualClock();
    const { random, walk } = sweepingRandom();
    const monitor = new HeartMonitor({ clock, random });
    beat(monitor, '10.0.0.1', 1);
    beat(monitor, '10.0.0.2', 3);
    const leases = [monitor.acquire(), monitor.acquire(), monitor.acquire()];
    assert.ok(leases.every((lease) => lease !== undefined));
    walk(4);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 4)), { '10.0.0.1': 1, '10.0.0.2': 3 });
    assert.equal(monitor.servers().some((server) => 'state' in server), false);
    clock.advance(10_000);
    assert.equal(monitor.pickBackend(), undefined);
    for (const lease of leases) lease?.release();
    void monitor.close();
  });
});
