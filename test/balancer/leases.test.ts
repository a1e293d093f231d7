import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartMonitor } from '../../src/index.js';
import { ManualClock, beat, countPicks, sweepingRandom } from './support.js';

const A = 'http://10.0.0.1:8080';
const B = 'http://10.0.0.2:8080';

/** Randoms from a script, so a test chooses each draw's target. */
function scripted(values: number[]): () => number {
  return () => {
    const value = values.shift();
    if (value === undefined) throw new Error('script exhausted');
    return value;
  };
}

describe('in-flight correction and leases', () => {
  it('lowers a server’s ready count while this process’s leases are open', () => {
    const clock = new ManualClock();
    const { random, walk } = sweepingRandom();
    const monitor = new HeartMonitor({ clock, random, inFlightCorrection: true });
    beat(monitor, '10.0.0.1', 2);
    beat(monitor, '10.0.0.2', 2);
    const first = monitor.acquire([A]);
    const second = monitor.acquire([A]);
    assert.equal(first?.member, A);
    assert.equal(second?.server.ip, '10.0.0.1');
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 0);
    assert.equal(monitor.serverState('10.0.0.1')?.inFlight, 2);
    walk(2);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 2)), { '10.0.0.2': 2 });
    assert.equal(monitor.acquire([A]), undefined, 'a member whose corrected ready is 0 cannot be leased');

    first?.release();
    first?.release(); // a second release is ignored
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 1);
    walk(3);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 3)), { '10.0.0.1': 1, '10.0.0.2': 2 });

    // The next heartbeat reports the open request itself; the correction starts over.
    beat(monitor, '10.0.0.1', 1, 2);
    assert.equal(monitor.serverState('10.0.0.1')?.inFlightSinceHeartbeat, 0);
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 1);
    // Opened before that heartbeat, which counted it busy: its release frees that worker.
    second?.release();
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 2);
    assert.equal(monitor.serverState('10.0.0.1')?.inFlightSinceHeartbeat, -1);
    assert.equal(monitor.serverState('10.0.0.1')?.inFlight, 0);
    void monitor.close();
  });

  it('p2c takes the larger corrected weight of two proportional draws', () => {
    const values: number[] = [];
    const monitor = new HeartMonitor({ clock: new ManualClock(), random: () => scriptedNext(values), inFlightCorrection: true, pickMode: 'p2c' });
    beat(monitor, '10.0.0.1', 10);
    beat(monitor, '10.0.0.2', 10);
    // Five leases on A through members (each a pair of draws that both land on A).
    values.push(...Array.from({ length: 10 }, () => 0.01));
    const leases = Array.from({ length: 5 }, () => monitor.acquire([A, B]));
    assert.ok(leases.every((lease) => lease?.member === A));
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 5);
    // Weights now A 5, B 10 (total 15): draw A then B → B; draw A twice → A.
    values.push(0.1, 0.9);
    assert.equal(monitor.pickBackend()?.ip, '10.0.0.2');
    values.push(0.9, 0.1);
    assert.equal(monitor.pickBackend()?.ip, '10.0.0.2');
    values.push(0.1, 0.2);
    assert.equal(monitor.pickBackend()?.ip, '10.0.0.1');
    values.push(0.1, 0.9);
    assert.equal(monitor.pickBackend([A, B]), B);
    for (const lease of leases) lease?.release();
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 10);
    assert.equal(values.length, 0);
    void monitor.close();
  });

  it('weighted mode uses one draw per pick', () => {
    const monitor = new HeartMonitor({ clock: new ManualClock(), random: scripted([0.1, 0.9]), inFlightCorrection: true });
    beat(monitor, '10.0.0.1', 10);
    beat(monitor, '10.0.0.2', 10);
    assert.equal(monitor.pickBackend()?.ip, '10.0.0.1');
    assert.equal(monitor.pickBackend()?.ip, '10.0.0.2');
    void monitor.close();
  });

  it('counts leases in metrics and in the table views', () => {
    const monitor = new HeartMonitor({ clock: new ManualClock(), inFlightCorrection: true });
    beat(monitor, '10.0.0.1', 10);
    const lease = monitor.acquire();
    assert.equal(monitor.metrics().in_flight, 1);
    assert.equal(monitor.metrics().leases, 1);
    lease?.release();
    assert.equal(monitor.metrics().in_flight, 0);
    assert.equal(monitor.metrics().picks, 1);
    void monitor.close();
  });
});

function scriptedNext(values: number[]): number {
  const value = values.shift();
  if (value === undefined) throw new Error('script exhausted');
  return value;
}
