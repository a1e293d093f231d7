import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartMonitor, pickBackend, type HeartMonitorOptions } from '../../src/index.js';
import { seededRandom } from '../helpers/random.js';
import { ManualClock, beat } from './support.js';

const A = 'http://10.0.0.1:8080';
const B = 'http://10.0.0.2:8080';
const C = 'http://10.0.0.3:8080';

/** Servers of 2, 4 and 10 workers, all reporting every worker busy. */
function saturated(options: HeartMonitorOptions) {
  const clock = new ManualClock();
  const monitor = new HeartMonitor({ clock, random: seededRandom(7), ...options });
  beat(monitor, '10.0.0.1', 0, 2);
  beat(monitor, '10.0.0.2', 0, 4);
  beat(monitor, '10.0.0.3', 0, 10);
  return { monitor, clock };
}

describe("whenAllBusy: 'most-headroom' (no refusal while origins are alive)", () => {
  it("'refuse' (the default) answers undefined, Apache's 503", () => {
    const { monitor } = saturated({ inFlightCorrection: true });
    assert.equal(monitor.acquire(), undefined);
    assert.equal(monitor.acquire([A, B, C]), undefined);
    assert.equal(monitor.pickBackend(), undefined);
    assert.equal(monitor.metrics().no_server, 3);
    void monitor.close();
  });

  it('sends each request where the corrected ready count is largest relative to capacity', () => {
    const { monitor } = saturated({ balancing: 'adaptive' });
    // All at 0 / capacity: ties, broken at random. Then each lease pushes its server below
    // 0 by 1 / capacity, so the 10-worker server takes most of what follows.
    const leases = Array.from({ length: 32 }, () => monitor.acquire([A, B, C]));
    assert.ok(leases.every((lease) => lease !== undefined), 'never refused');
    const counts = new Map<string, number>();
    for (const lease of leases) counts.set(lease?.member ?? '', (counts.get(lease?.member ?? '') ?? 0) + 1);
    // Spread in proportion to capacity (2 : 4 : 10 of 32 → 4, 8, 20), within one tie each.
    assert.ok(Math.abs((counts.get(A) ?? 0) - 4) <= 1, `A ${counts.get(A)}`);
    assert.ok(Math.abs((counts.get(B) ?? 0) - 8) <= 1, `B ${counts.get(B)}`);
    assert.ok(Math.abs((counts.get(C) ?? 0) - 20) <= 1, `C ${counts.get(C)}`);
    assert.equal(monitor.metrics().most_headroom_fallback, 32);
    assert.equal(monitor.metrics().no_server, 0);
    // Releasing frees room on that server first.
    for (const lease of leases.filter((lease) => lease?.member === A)) lease?.release();
    assert.equal(monitor.acquire([A, B, C])?.member, A);
    void monitor.close();
  });

  it('draws among equally loaded servers in proportion to capacity', () => {
    // Nothing of this proxy's own in flight: every server scores 0. Proxies sharing a pool
    // are mostly in this state; an even spread would flood the 2-worker server.
    const { monitor } = saturated({ balancing: 'adaptive' });
    const counts = new Map<string, number>();
    for (let i = 0; i < 3200; i++) {
      const lease = monitor.acquire([A, B, C]);
      counts.set(lease?.member ?? 'none', (counts.get(lease?.member ?? 'none') ?? 0) + 1);
      lease?.release();
    }
    const share = (member: string): number => (counts.get(member) ?? 0) / 3200;
    assert.ok(Math.abs(share(A) - 2 / 16) < 0.03, `A ${share(A)}`);
    assert.ok(Math.abs(share(B) - 4 / 16) < 0.03, `B ${share(B)}`);
    assert.ok(Math.abs(share(C) - 10 / 16) < 0.03, `C ${share(C)}`);
    void monitor.close();
  });

  it('also serves picks among all servers and plain pickBackend()', () => {
    const { monitor } = saturated({ inFlightCorrection: true, whenAllBusy: 'most-headroom' });
    const lease = monitor.acquire();
    assert.ok(lease);
    assert.ok(monitor.pickBackend());
    assert.ok(monitor.pickBackend([A]));
    lease.release();
    void monitor.close();
  });

  it('skips stale, unknown, disabled and failed servers, and servers reporting no capacity', () => {
    const { monitor, clock } = saturated({ balancing: 'adaptive', failure: { retryAfter: 60_000 } });
    monitor.disable('10.0.0.3');
    monitor.markFailed('10.0.0.2');
    assert.equal(monitor.acquire([A, B, C, 'http://10.0.0.9'])?.member, A);
    beat(monitor, '10.0.0.4', 0, 0);
    assert.equal(monitor.acquire(['http://10.0.0.4']), undefined, 'a report of no workers at all is not a live server');
    clock.advance(10_000);
    beat(monitor, '10.0.0.2', 0, 4);
    monitor.enable('10.0.0.3');
    // 10.0.0.1 is stale now; 10.0.0.2 is out for its retry interval; 10.0.0.3 is stale.
    assert.equal(monitor.acquire([A, C]), undefined, 'no fresh server: a no-backend');
    assert.equal(monitor.acquire([A, B, C]), undefined);
    void monitor.close();
  });

  it('leaves a pool with no fresh server to noFreshServer', () => {
    const { monitor, clock } = saturated({ balancing: 'adaptive', noFreshServer: 'round-robin' });
    clock.advance(12_000);
    assert.ok(monitor.acquire([A, B, C]));
    assert.equal(monitor.metrics().rr_fallback, 1);
    assert.equal(monitor.metrics().most_headroom_fallback, 0);
    void monitor.close();
  });

  it("keeps 'apache' draw for draw identical to the pure pickBackend, 503 included", () => {
    const clock = new ManualClock();
    const members = [A, B, C, 'http://10.0.0.4:8080'];
    const reports: [string, number, number][] = [
      ['10.0.0.1', 3, 1],
      ['10.0.0.2', 0, 4],
      ['10.0.0.3', 12, 0],
    ];
    for (const options of [{}, { balancing: 'apache' as const }]) {
      const draws = seededRandom(99);
      const mirror = seededRandom(99);
      const monitor = new HeartMonitor({ clock, random: draws, ...options });
      for (const [ip, ready, busy] of reports) beat(monitor, ip, ready, busy);
      const servers = monitor.servers();
      for (let i = 0; i < 500; i++) {
        const lease = monitor.acquire(members);
        assert.equal(lease?.member, pickBackend(servers, members, { random: mirror, now: clock.now() }));
        lease?.release();
      }
      beat(monitor, '10.0.0.1', 0, 4);
      beat(monitor, '10.0.0.3', 0, 12);
      assert.equal(monitor.acquire(members), undefined);
      assert.equal(monitor.pickBackend(members), undefined);
      void monitor.close();
    }
  });
});
