import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { HeartMonitor, type NoFreshServerPolicy } from '../../src/index.js';
import { ManualClock, beat, countPicks, sweepingRandom } from './support.js';

/** Three servers heard 12 s ago: stale (not picked) but not expired. */
function stalePool(noFreshServer: NoFreshServerPolicy) {
  const clock = new ManualClock();
  const sweep = sweepingRandom();
  const monitor = new HeartMonitor({ clock, random: sweep.random, noFreshServer });
  beat(monitor, '10.0.0.1', 1);
  beat(monitor, '10.0.0.2', 3);
  beat(monitor, '10.0.0.3', 0);
  clock.advance(12_000);
  return { monitor, clock, sweep };
}

describe('noFreshServer policy', () => {
  it("'fail' returns undefined (Apache's 503) and counts it", () => {
    const { monitor } = stalePool('fail');
    assert.equal(monitor.pickBackend(), undefined);
    assert.equal(monitor.acquire(), undefined);
    const metrics = monitor.metrics();
    assert.equal(metrics.no_server, 2);
    assert.equal(metrics.rr_fallback + metrics.last_known_fallback, 0);
    void monitor.close();
  });

  it("'last-known' draws by the last reported weights of servers not yet expired", () => {
    const { monitor, sweep } = stalePool('last-known');
    sweep.walk(4);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 4)), { '10.0.0.1': 1, '10.0.0.2': 3 });
    sweep.walk(4);
    assert.equal(monitor.pickBackend(['10.0.0.3:80', '10.0.0.2:80']), '10.0.0.2:80');
    monitor.disable('10.0.0.2');
    sweep.walk(1);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 3)), { '10.0.0.1': 3 });
    assert.equal(monitor.metrics().last_known_fallback, 8);
    void monitor.close();
  });

  it("'round-robin' rotates over the known servers, weight or not", () => {
    const { monitor } = stalePool('round-robin');
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 6)), { '10.0.0.1': 2, '10.0.0.2': 2, '10.0.0.3': 2 });
    const members = ['http://10.0.0.3', 'http://10.0.0.9', 'http://10.0.0.1'];
    const picked = [monitor.pickBackend(members), monitor.pickBackend(members)];
    assert.deepEqual(new Set(picked), new Set(['http://10.0.0.3', 'http://10.0.0.1']));
    assert.equal(monitor.metrics().rr_fallback, 8);
    assert.equal(monitor.metrics().no_server, 0);
    void monitor.close();
  });

  it('does not run while a fresh server has weight, and stops once servers expire', (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    const { monitor, clock } = stalePool('round-robin');
    beat(monitor, '10.0.0.2', 3);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 5)), { '10.0.0.2': 5 });
    assert.equal(monitor.metrics().rr_fallback, 0);
    clock.advance(30_000);
    mock.timers.tick(1000); // the sweep removes all three
    assert.equal(monitor.servers().length, 0);
    assert.equal(monitor.pickBackend(), undefined);
    assert.equal(monitor.metrics().no_server, 1);
    void monitor.close();
  });
});
