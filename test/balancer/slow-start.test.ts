import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { HeartMonitor, slowStartFactor, type ServerView } from '../../src/index.js';
import { ManualClock, beat, countPicks, sweepingRandom } from './support.js';

const weights = (views: readonly ServerView[]): Record<string, number> => Object.fromEntries(views.map((view) => [view.key, view.weight]));

function rampedPair(slowStart: { window: number; aggression?: number; minWeightPercent?: number }) {
  const clock = new ManualClock();
  const sweep = sweepingRandom();
  const monitor = new HeartMonitor({ clock, random: sweep.random, slowStart });
  beat(monitor, '10.0.0.1', 100);
  for (let t = 0; t < slowStart.window; t += 1000) {
    clock.advance(1000);
    beat(monitor, '10.0.0.1', 100);
  }
  beat(monitor, '10.0.0.2', 100); // joins now, while .1 has finished its ramp
  const step = (ms: number): void => {
    clock.advance(ms);
    beat(monitor, '10.0.0.1', 100);
    beat(monitor, '10.0.0.2', 100);
  };
  return { monitor, clock, sweep, step };
}

describe('slow start', () => {
  it('follows Envoy’s curve: minimum percent, then (elapsed / window)^(1 / aggression)', () => {
    const linear = { window: 10_000, aggression: 1, minWeightPercent: 10 };
    assert.equal(slowStartFactor(0, linear), 0.1);
    assert.equal(slowStartFactor(500, linear), 0.1);
    assert.equal(slowStartFactor(5000, linear), 0.5);
    assert.equal(slowStartFactor(10_000, linear), 1);
    assert.equal(slowStartFactor(2500, { ...linear, aggression: 2 }), 0.5);
    assert.equal(slowStartFactor(0, { ...linear, minWeightPercent: 0 }), 0);
  });

  it('ramps a new server’s share from the minimum to its full weight over the window', () => {
    const { monitor, sweep, step } = rampedPair({ window: 10_000 });
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 10 });
    assert.equal(monitor.serverState('10.0.0.2')?.state, 'warming');
    assert.equal(monitor.serverState('10.0.0.1')?.state, 'active');
    // The index draws in exact proportion to the ramped weights (scaled by 1000).
    sweep.walk(110_000);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 110_000)), { '10.0.0.1': 100_000, '10.0.0.2': 10_000 });

    step(2500);
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 25 });
    step(2500);
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 50 });
    step(5000);
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 100 });
    assert.equal(monitor.serverState('10.0.0.2')?.state, 'active');
    assert.equal(monitor.metrics().endpoint_weight_not_yet_usable, 0);
    void monitor.close();
  });

  it('recomputes ramping weights lazily at pick time, without heartbeats', () => {
    const { monitor, clock, sweep } = rampedPair({ window: 10_000 });
    clock.advance(5000); // no heartbeat: only the pick sees the time move
    sweep.walk(150_000);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 150_000)), { '10.0.0.1': 100_000, '10.0.0.2': 50_000 });
    void monitor.close();
  });

  it('describe(), serverState() and metrics() show the ramp as of now, without a pick or a heartbeat; and staleness too', () => {
    const { monitor, clock } = rampedPair({ window: 10_000 });
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 10 });
    clock.advance(5000); // no heartbeat, no pick: only the reads see the time move
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 50 });
    clock.advance(2500);
    assert.equal(monitor.serverState('10.0.0.2')?.weight, 75);
    assert.equal(monitor.metrics().endpoint_weight_not_yet_usable, 1);
    // Past staleAfter (10 s) without a heartbeat: both are stale for every read, before any sweep or pick.
    clock.advance(5000);
    assert.deepEqual(
      monitor.describe().map((view) => view.state),
      ['stale', 'stale'],
    );
    void monitor.close();
  });

  it('front-loads the ramp with a larger aggression, and honours minWeightPercent', () => {
    const fast = rampedPair({ window: 10_000, aggression: 2, minWeightPercent: 20 });
    assert.deepEqual(weights(fast.monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 20 });
    fast.step(2500);
    assert.deepEqual(weights(fast.monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 50 });
    void fast.monitor.close();
  });

  it('ramps again when a server returns after going stale or being removed', (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    const { monitor, clock, step } = rampedPair({ window: 10_000 });
    for (let i = 0; i < 10; i++) step(1000);
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 100 });
    const silence = (ms: number): void => {
      // .2 falls silent; .1 keeps beating
      for (let t = 0; t < ms; t += 1000) {
        clock.advance(1000);
        beat(monitor, '10.0.0.1', 100);
      }
    };
    silence(10_000);
    assert.equal(monitor.serverState('10.0.0.2')?.state, 'stale');
    beat(monitor, '10.0.0.2', 100);
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 10 });
    step(5000);
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 50 });

    const removed: string[] = [];
    monitor.on('remove', (server) => removed.push(server.ip));
    silence(30_000);
    mock.timers.tick(1000); // the sweep timer expires it
    assert.deepEqual(removed, ['10.0.0.2']);
    beat(monitor, '10.0.0.2', 100);
    assert.deepEqual(weights(monitor.describe()), { '10.0.0.1': 100, '10.0.0.2': 10 });
    void monitor.close();
  });

  it('keeps Apache’s ready / 4 rule under the ramp', () => {
    const clock = new ManualClock();
    const monitor = new HeartMonitor({ clock, slowStart: { window: 10_000 } });
    beat(monitor, '10.0.0.1', 100, 0);
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 2.5);
    assert.equal(monitor.serverState('10.0.0.1')?.reportedWeight, 25);
    void monitor.close();
  });
});
