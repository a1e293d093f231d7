import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartMonitor } from '../../src/index.js';
import { ManualClock, beat } from './support.js';

const rejects = (options: Record<string, unknown>, type: typeof TypeError | typeof RangeError, message: RegExp): void => {
  assert.throws(() => new HeartMonitor(options), (error: unknown) => error instanceof type && message.test(error.message));
};

describe('balancing options', () => {
  it('reject bad values naming the option and what is accepted', () => {
    rejects({ slowStart: 5 }, TypeError, /`slowStart` to be an object, got 5/);
    rejects({ slowStart: {} }, TypeError, /`slowStart.window` to be a number >= 1, got undefined/);
    rejects({ slowStart: { window: 0 } }, RangeError, /`slowStart.window`/);
    rejects({ slowStart: { window: 1000, minWeightPercent: 120 } }, RangeError, /`slowStart.minWeightPercent` to be a number in 0..100, got 120/);
    rejects({ slowStart: { window: 1000, aggression: 0 } }, RangeError, /`slowStart.aggression`/);
    rejects({ inFlightCorrection: 'yes' }, TypeError, /`inFlightCorrection` to be a boolean, got "yes"/);
    rejects({ pickMode: 'least' }, TypeError, /`pickMode` to be one of 'weighted', 'p2c', got "least"/);
    rejects({ noFreshServer: 'any' }, TypeError, /`noFreshServer` to be one of 'fail', 'last-known', 'round-robin'/);
    rejects({ failure: { retryAfter: 0 } }, RangeError, /`failure.retryAfter` to be an integer >= 1, got 0/);
    rejects({ failure: { retryAfter: 5000, maxRetryAfter: 1000 } }, RangeError, /`failure.maxRetryAfter` to be an integer >= 5000/);
    rejects({ failure: { threshold: 1.5 } }, TypeError, /`failure.threshold` to be an integer >= 1/);
    rejects({ balancing: 'fast' }, TypeError, /`balancing` to be one of 'apache', 'adaptive', got "fast"/);
    rejects({ balancing: 1 }, TypeError, /`balancing` to be one of 'apache', 'adaptive', got 1/);
    rejects({ whenAllBusy: 'queue' }, TypeError, /`whenAllBusy` to be one of 'refuse', 'most-headroom', got "queue"/);
    rejects({ proxies: 0 }, RangeError, /`proxies` to be an integer in 1..10000, got 0/);
    rejects({ proxies: 2.5 }, TypeError, /`proxies` to be an integer in 1..10000, got 2.5/);
    rejects({ balancing: 'adaptive', pickMode: 'least' }, TypeError, /`pickMode` to be one of 'weighted', 'p2c'/);
  });

  it("'adaptive' presets correction and most-headroom; explicit options override it", () => {
    const clock = new ManualClock();
    const adaptive = new HeartMonitor({ clock, balancing: 'adaptive', random: () => 0.5 });
    beat(adaptive, '10.0.0.1', 2);
    const lease = adaptive.acquire();
    assert.equal(adaptive.serverState('10.0.0.1')?.weight, 1, 'in-flight correction is on');
    adaptive.acquire();
    assert.ok(adaptive.acquire(), 'most-headroom instead of a refusal');
    lease?.release();
    void adaptive.close();

    const overridden = new HeartMonitor({ clock, balancing: 'adaptive', inFlightCorrection: false, whenAllBusy: 'refuse', random: () => 0.5 });
    beat(overridden, '10.0.0.1', 1);
    overridden.acquire();
    assert.equal(overridden.serverState('10.0.0.1')?.weight, 1, 'correction off');
    beat(overridden, '10.0.0.1', 0);
    assert.equal(overridden.acquire(), undefined, 'refuses again');
    void overridden.close();

    const apache = new HeartMonitor({ clock, balancing: 'apache' });
    beat(apache, '10.0.0.1', 1);
    apache.acquire();
    assert.equal(apache.serverState('10.0.0.1')?.weight, 1);
    void apache.close();
  });

  it('accept the documented shapes', () => {
    const monitor = new HeartMonitor({
      slowStart: { window: 30_000, aggression: 1.5, minWeightPercent: 5 },
      inFlightCorrection: true,
      pickMode: 'p2c',
      failure: { retryAfter: 1000, maxRetryAfter: 60_000, threshold: 3 },
      noFreshServer: 'last-known',
      balancing: 'adaptive',
      whenAllBusy: 'most-headroom',
      proxies: 4,
    });
    void monitor.close();
    assert.throws(() => monitor.statusHandler({ refreshSeconds: 0 }), /`refreshSeconds` to be an integer >= 1, got 0/);
  });
});
