import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { betweenHeartbeats, serverJoins } from '../../bench/suites/balancing-sim.js';

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

  it('slow start keeps a joining server near its real capacity', () => {
    const plain = serverJoins({});
    const slow = serverJoins({ slowStart: { window: 30_000 } });
    assert.ok(plain.peak > 2, `without slow start the new server is flooded: ${plain.peak}`);
    assert.ok(slow.peak < 1.3, `with slow start: ${slow.peak}`);
  });
});
