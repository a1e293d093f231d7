import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartMonitor, type Clock } from '../../src/index.js';

const HOUR = 3_600_000;
const START = 1_700_000_000_000;

/** Wall and monotonic clocks that advance together, plus a wall-only jump (NTP step, operator). */
function steppableClock(): Clock & { advance(ms: number): void; jumpWall(ms: number): void } {
  let wall = START;
  let mono = 10_000;
  return {
    now: () => wall,
    monotonic: () => mono,
    advance(ms) {
      wall += ms;
      mono += ms;
    },
    jumpWall(ms) {
      wall += ms;
    },
  };
}

function sweep(monitor: HeartMonitor): void {
  (monitor as unknown as { sweep(): void }).sweep();
}

describe('wall-clock jumps (injected clock)', () => {
  for (const jump of [HOUR, -HOUR]) {
    it(`a ${jump > 0 ? '+' : '-'}1 h jump neither expires live servers nor revives dead ones; lastSeen is wall time`, async () => {
      const clock = steppableClock();
      const monitor = new HeartMonitor({ clock });
      const removed: string[] = [];
      const stale: string[] = [];
      monitor.on('remove', (s) => removed.push(s.ip));
      monitor.on('stale', (s) => stale.push(s.ip));

      monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.1' }); // live: keeps beating
      monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.2' }); // goes silent
      clock.advance(31_000);
      monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.1' });
      sweep(monitor);
      assert.deepEqual(removed, ['10.0.0.2'], '10.0.0.2 expired before the jump');

      clock.jumpWall(jump);
      sweep(monitor);
      assert.deepEqual(removed, ['10.0.0.2'], 'the jump expired nobody');
      assert.deepEqual(stale, [], 'the jump made nobody stale');
      assert.deepEqual(monitor.servers().map((s) => s.ip), ['10.0.0.1'], 'the jump revived nobody');
      assert.equal(monitor.pickBackend()?.ip, '10.0.0.1', 'the live server is still picked');
      assert.equal(monitor.stats().fresh, 1);

      clock.advance(1000);
      monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.1' });
      assert.equal(monitor.servers()[0]?.lastSeen, START + 32_000 + jump, 'lastSeen reports the (jumped) wall clock');

      // Ages keep following the monotonic clock: silence after the jump still expires it on time.
      clock.advance(9_999);
      sweep(monitor);
      assert.equal(monitor.stats().fresh, 1);
      clock.advance(1);
      sweep(monitor);
      assert.equal(monitor.stats().fresh, 0);
      clock.advance(20_000);
      sweep(monitor);
      assert.deepEqual(removed, ['10.0.0.2', '10.0.0.1']);
      await monitor.close();
    });
  }
});
