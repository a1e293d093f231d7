import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartMonitor } from '../../src/index.js';
import { ManualClock, beat, sweepingRandom } from '../balancer/support.js';

describe('metrics()', () => {
  it('reports counters and gauges after a scripted scenario', () => {
    const clock = new ManualClock();
    const { random, walk } = sweepingRandom();
    const monitor = new HeartMonitor({
      clock,
      random,
      inFlightCorrection: true,
      noFreshServer: 'round-robin',
      slowStart: { window: 20_000 },
      failure: { retryAfter: 5000 },
    });
    beat(monitor, '10.0.0.1', 10);
    beat(monitor, '10.0.0.2', 10);
    beat(monitor, '10.0.0.3', 10);
    monitor.ingest('v=1&ready=x&busy=1', { address: '10.0.0.4' }); // malformed
    monitor.ingest('hello', { address: '10.0.0.4' }); // malformed
    for (let step = 0; step < 4; step++) {
      clock.advance(5000); // the ramps end after 4 × 5 s
      for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) beat(monitor, ip, 10);
    }
    // 30 picks over 10/10/10 walk each target once; one lease of them stays open.
    walk(30_000);
    for (let i = 0; i < 9; i++) monitor.pickBackend();
    const lease = monitor.acquire();
    monitor.markFailed('10.0.0.2');
    monitor.drain('10.0.0.3');
    beat(monitor, '10.0.0.5', 8); // joins: warming

    const metrics = monitor.metrics();
    const { endpoint_weights: endpoints, ...totals } = metrics;
    assert.deepEqual(totals, {
      heartbeats_received: 18,
      heartbeats_accepted: 16,
      heartbeats_malformed: 2,
      heartbeats_rejected: 0,
      servers: 4,
      servers_fresh: 4,
      endpoint_weight_stale: 0,
      endpoint_weight_not_yet_usable: 1,
      servers_draining: 1,
      servers_disabled: 0,
      servers_failed: 1,
      in_flight: 1,
      picks: 10,
      no_server: 0,
      rr_fallback: 0,
      last_known_fallback: 0,
      most_headroom_fallback: 0,
      failures: 1,
      ejections: 1,
      recoveries: 0,
      leases: 1,
    });
    assert.deepEqual(
      endpoints.map((endpoint) => [endpoint.server, endpoint.state, endpoint.weight, endpoint.reported_weight, endpoint.in_flight, endpoint.picks]),
      [
        ['10.0.0.1', 'active', 9, 10, 1, 10],
        ['10.0.0.2', 'failed', 0, 10, 0, 0],
        ['10.0.0.3', 'draining', 0, 10, 0, 0],
        ['10.0.0.5', 'warming', 0.8, 8, 0, 0],
      ],
    );
    assert.equal(endpoints[0]?.age_seconds, 0);
    clock.advance(1500);
    assert.equal(monitor.metrics().endpoint_weights[0]?.age_seconds, 1.5);

    // Everything goes stale; .2's 5 s are over, so the round-robin fallback serves .1, .2
    // and .5 (not the draining .3).
    clock.advance(8500);
    assert.deepEqual([1, 2, 3].map(() => monitor.pickBackend()?.ip), ['10.0.0.1', '10.0.0.2', '10.0.0.5']);
    lease?.release({ failed: true });
    const after = monitor.metrics();
    assert.equal(after.rr_fallback, 3);
    assert.equal(after.endpoint_weight_stale, 4);
    assert.equal(after.servers_fresh, 0);
    assert.equal(after.failures, 2);
    assert.equal(after.servers_failed, 1, '.1 failed its lease; .2 is back');
    assert.equal(after.recoveries, 1, '.2 returned after its 5 s');
    void monitor.close();
  });
});
