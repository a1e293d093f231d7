import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { HeartMonitor, type ServerFailure } from '../../src/index.js';
import { ManualClock, beat, countPicks } from './support.js';
import { seededRandom } from '../helpers/random.js';

function pool(options: ConstructorParameters<typeof HeartMonitor>[0] = {}) {
  const clock = new ManualClock();
  const monitor = new HeartMonitor({ clock, random: seededRandom(7), ...options });
  const events: string[] = [];
  const failures: ServerFailure[] = [];
  monitor.on('failed', (server, failure) => {
    events.push(`failed ${server.ip}`);
    failures.push(failure);
  });
  monitor.on('recovered', (server) => events.push(`recovered ${server.ip}`));
  const beatAll = (): void => {
    beat(monitor, '10.0.0.1', 10);
    beat(monitor, '10.0.0.2', 10);
  };
  beatAll();
  const wait = (ms: number): void => {
    for (let t = 0; t < ms; t += 500) {
      clock.advance(500);
      beatAll();
    }
  };
  return { monitor, clock, events, failures, wait };
}

describe('failure feedback', () => {
  it('takes a failed server out of rotation whatever its heartbeats say, then brings it back through slow start', () => {
    const { monitor, events, failures, wait } = pool({ failure: { retryAfter: 1000 }, slowStart: { window: 10_000 } });
    wait(10_000); // both servers finish their initial ramp
    assert.equal(monitor.markFailed('10.0.0.1'), 1);
    assert.deepEqual(events, ['failed 10.0.0.1']);
    assert.deepEqual(failures, [{ failures: 1, trips: 1, retryAfter: 1000 }]);
    assert.equal(monitor.serverState('10.0.0.1')?.state, 'failed');
    assert.equal(monitor.serverState('10.0.0.1')?.retryIn, 1000);
    assert.equal(monitor.servers().find((server) => server.ip === '10.0.0.1')?.state, 'failed');

    wait(500); // heartbeats keep arriving: still out
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 200)), { '10.0.0.2': 200 });
    wait(500);
    monitor.pickBackend(); // the pick notices the retry interval is over
    assert.deepEqual(events, ['failed 10.0.0.1', 'recovered 10.0.0.1']);
    assert.equal(monitor.serverState('10.0.0.1')?.state, 'warming');
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 1);
    wait(5000);
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 5);
    wait(5000);
    assert.equal(monitor.serverState('10.0.0.1')?.state, 'active');
    assert.equal(monitor.serverState('10.0.0.1')?.weight, 10);
    void monitor.close();
  });

  it('doubles the time out on each consecutive trip, up to maxRetryAfter', () => {
    const { monitor, failures, wait } = pool({ failure: { retryAfter: 1000, maxRetryAfter: 3000 } });
    for (const [trip, retryAfter] of [1000, 2000, 3000, 3000].entries()) {
      monitor.markFailed('10.0.0.1');
      assert.equal(failures.at(-1)?.retryAfter, retryAfter);
      assert.equal(monitor.markFailed('10.0.0.1'), 1, 'a failure while out is counted');
      assert.equal(failures.length, trip + 1, 'but does not extend the time out');
      wait(retryAfter);
      monitor.pickBackend();
      assert.notEqual(monitor.serverState('10.0.0.1')?.state, 'failed');
    }
    // A successful request resets the backoff.
    let lease = monitor.acquire(['10.0.0.1:80']);
    lease?.release();
    monitor.markFailed('10.0.0.1');
    assert.equal(failures.at(-1)?.retryAfter, 1000);
    wait(1000);
    // A lease that fails counts like markFailed.
    lease = monitor.acquire(['10.0.0.1:80']);
    assert.equal(lease?.server.ip, '10.0.0.1');
    lease?.release({ failed: true });
    assert.equal(monitor.serverState('10.0.0.1')?.state, 'failed');
    assert.equal(failures.at(-1)?.retryAfter, 2000);
    assert.equal(monitor.markFailed('10.9.9.9'), 0, 'unknown servers are ignored');
    void monitor.close();
  });

  it('needs `threshold` consecutive failures; a success in between starts over', () => {
    const { monitor, events } = pool({ failure: { threshold: 3 } });
    monitor.markFailed('10.0.0.1');
    monitor.markFailed('10.0.0.1');
    monitor.acquire(['10.0.0.1:80'])?.release();
    monitor.markFailed('10.0.0.1');
    monitor.markFailed('10.0.0.1');
    assert.deepEqual(events, []);
    monitor.markFailed('10.0.0.1');
    assert.deepEqual(events, ['failed 10.0.0.1']);
    assert.equal(monitor.metrics().failures, 5);
    assert.equal(monitor.metrics().ejections, 1);
    void monitor.close();
  });

  it('keeps the time out of a failed server that expires and comes back', (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    const { monitor, clock } = pool({ failure: { retryAfter: 60_000 } });
    monitor.markFailed('10.0.0.1');
    for (let s = 0; s < 31; s++) {
      clock.advance(1000);
      beat(monitor, '10.0.0.2', 10);
    }
    mock.timers.tick(1000); // the sweep removes the silent .1
    assert.equal(monitor.serverState('10.0.0.1'), undefined);
    beat(monitor, '10.0.0.1', 10);
    assert.equal(monitor.serverState('10.0.0.1')?.state, 'failed');
    assert.equal(monitor.serverState('10.0.0.1')?.retryIn, 60_000 - 31_000);
    void monitor.close();
  });

  it('returns a failed server on the sweep timer even without picks', (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    const { monitor, events, wait } = pool({ failure: { retryAfter: 1000 } });
    monitor.markFailed(monitor.servers()[0] ?? '');
    wait(1000);
    assert.deepEqual(events, ['failed 10.0.0.1']);
    mock.timers.tick(1000);
    assert.deepEqual(events, ['failed 10.0.0.1', 'recovered 10.0.0.1']);
    assert.equal(monitor.serverState('10.0.0.1')?.state, 'active');
    void monitor.close();
  });
});
