import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { betweenHeartbeats, serverJoins } from '../../bench/suites/balancing-sim.js';
import { simulateQueues, type SimBalancer } from '../../bench/lib/queue-sim.js';

// The deterministic simulation of bench/suites/balancing-sim.ts on fewer intervals: the options
// must lower the peak load they are meant to lower.
describe('balancing simulation', () => {
  const run = (proxies: number, options: Parameters<typeof betweenHeartbeats>[0]) =>
    betweenHeartbeats(options, { proxies, servers: 20, intervals: 30, demand: 0.9, seed: 11 });

  it('in-flight correction keeps one proxy from overloading any server between heartbeats', () => {
    const plain = run(1, {});
    const corrected = run(1, { inFlightCorrection: true });
    assert.ok(plain.meanPeak > 1.1, `plain weighted random overloads: ${plain.meanPeak}`);
    assert.ok(corrected.worstPeak <= 1, `corrected never exceeds reported ready: ${corrected.worstPeak}`);
    assert.equal(corrected.overloaded, 0);
  });

  it('p2c on the corrected value lowers the peak when many proxies share a pool', () => {
    const plain = run(10, {});
    const p2c = run(10, { inFlightCorrection: true, pickMode: 'p2c' });
    assert.ok(p2c.meanPeak < plain.meanPeak - 0.1, `${p2c.meanPeak} vs ${plain.meanPeak}`);
    assert.ok(p2c.overloaded < plain.overloaded / 2, `${p2c.overloaded} vs ${plain.overloaded}`);
  });

  it("under load with queues, 'adaptive' refuses nothing and keeps the tail near service time", () => {
    const run = (balancer: SimBalancer, proxies = 1) => simulateQueues({ workers: [2, 4, 10], serviceMs: 20, load: 0.85, proxies, balancer, durationMs: 10_000, seed: 1 });
    const apache = run({ kind: 'monitor', options: {} });
    const refusing = run({ kind: 'monitor', options: { inFlightCorrection: true, pickMode: 'p2c' } });
    const adaptive = run({ kind: 'monitor', options: { balancing: 'adaptive' } });
    const leastconn = run({ kind: 'leastconn' });
    assert.ok(apache.p99 > 500, `Apache's one-second snapshots build queues: ${apache.p99}`);
    assert.ok(refusing.refused > 0.01, `correction alone refuses once every weight is 0: ${refusing.refused}`);
    assert.equal(adaptive.refused, 0);
    // Exponential service with a 20 ms mean: 92 ms p99 without any queueing.
    assert.ok(adaptive.p99 < 120, `adaptive p99 ${adaptive.p99}`);
    assert.ok(adaptive.p99 < leastconn.p99, `${adaptive.p99} vs leastconn ${leastconn.p99}`);
    const shared = run({ kind: 'monitor', options: { balancing: 'adaptive', proxies: 4 } }, 4);
    assert.equal(shared.refused, 0);
    assert.ok(shared.p99 < run({ kind: 'leastconn' }, 4).p99, `4 proxies: ${shared.p99}`);
  });

  it('slow start keeps a joining server near its real capacity', () => {
    const plain = serverJoins({});
    const slow = serverJoins({ slowStart: { window: 30_000 } });
    assert.ok(plain.peak > 2, `without slow start the new server is flooded: ${plain.peak}`);
    assert.ok(slow.peak < 1.3, `with slow start: ${slow.peak}`);
  });
});
