// Option checks have one home (src/validate.ts, src/table-settings.ts): every constructor
// that takes an option reports a bad value the same way, naming the option and what it
// accepts, and shares one default and one limit per setting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FileStore, HeartbeatFileReader, HeartMonitor, MemoryStore, pickBackend, SlotStore, DEFAULT_STALE_AFTER, DEFAULT_WARMUP_DIVISOR } from '../src/index.js';
import { createProxyHandler, type WebProxy } from '../src/integrations/http-proxy/index.js';
import { createDispatcher } from '../src/integrations/undici/index.js';
import { readSettings } from '../src/views/cluster-messages.js';
import { checkTableOverrides, resolveTableSettings, TABLE_DEFAULTS } from '../src/table/settings.js';
import { expectClock, expectDelay, expectKeyBy, expectNumber, expectObject } from '../src/validate.js';

const proxy: WebProxy = { web: () => undefined, on: () => proxy };

describe('validate.ts', () => {
  it('expectKeyBy accepts the two policies and names them when refusing', () => {
    assert.equal(expectKeyBy('keyBy', 'ip:port'), 'ip:port');
    assert.throws(() => expectKeyBy('keyBy', 'port'), { name: 'TypeError', message: "Expected `keyBy` to be one of 'ip', 'ip:port', got \"port\"" });
  });

  it('expectDelay bounds a timer delay by what Node can wait', () => {
    assert.equal(expectDelay('flushInterval', 2 ** 31 - 1), 2 ** 31 - 1);
    assert.throws(() => expectDelay('flushInterval', 2 ** 31), { name: 'RangeError', message: /`flushInterval` to be an integer in 1\.\.2147483647, got 2147483648/ });
    assert.throws(() => expectDelay('bodyTimeout', 0), { name: 'RangeError', message: /`bodyTimeout`/ });
  });

  it('expectNumber with a maximum says the range, not "finite"', () => {
    assert.throws(() => expectNumber('p', 101, 0, 100), { name: 'RangeError', message: 'Expected `p` to be a number in 0..100, got 101' });
    assert.throws(() => expectNumber('p', Infinity, 0), { name: 'RangeError', message: 'Expected `p` to be a finite number >= 0, got Infinity' });
  });

  it('expectObject and expectClock say what they expected', () => {
    assert.throws(() => expectObject('options', null as unknown as object, 'an object with a `path`'), { name: 'TypeError', message: 'Expected `options` to be an object with a `path`, got null' });
    assert.throws(() => expectClock('clock', { now: () => 0 }), { name: 'TypeError', message: /now\(\) and monotonic\(\)/ });
    assert.doesNotThrow(() => expectClock('clock', { now: () => 0 }, 'optional'));
    assert.throws(() => expectClock('clock', { now: () => 0, monotonic: 5 } as never, 'optional'), { name: 'TypeError' });
  });
});

describe('table settings: one set of defaults and checks', () => {
  it("defaults are Apache's, and the exported constants are those defaults", () => {
    assert.deepEqual(TABLE_DEFAULTS, { staleAfter: 10_000, expireAfter: 30_000, warmupDivisor: 4, keyBy: 'ip' });
    assert.equal(DEFAULT_STALE_AFTER, TABLE_DEFAULTS.staleAfter);
    assert.equal(DEFAULT_WARMUP_DIVISOR, TABLE_DEFAULTS.warmupDivisor);
    assert.deepEqual(resolveTableSettings({}), TABLE_DEFAULTS);
    assert.deepEqual(checkTableOverrides({}), {});
  });

  it('null is a mistake, not a request for the default', () => {
    assert.throws(() => resolveTableSettings({ staleAfter: null }), { name: 'TypeError', message: /`staleAfter`/ });
    assert.throws(() => checkTableOverrides({ keyBy: null }), { name: 'TypeError', message: /`keyBy`/ });
  });

  const staleAfterExpire = /Expected `expireAfter` \(30000\) to be at least `staleAfter` \(60000\)/;
  it('the monitor, SlotStore and HeartbeatFileReader all refuse staleAfter > expireAfter', () => {
    assert.throws(() => new HeartMonitor({ store: new MemoryStore(), staleAfter: 60_000 }), { name: 'RangeError', message: staleAfterExpire });
    assert.throws(() => new SlotStore({ staleAfter: 60_000 }), { name: 'RangeError', message: staleAfterExpire });
    assert.throws(() => new HeartbeatFileReader({ path: '/nonexistent/hb.dat', staleAfter: 60_000 }), { name: 'RangeError', message: staleAfterExpire });
  });

  it('every reader of the table bounds warmupDivisor alike (the SlotStore header keeps it in 32 bits)', () => {
    const message = /`warmupDivisor` to be an integer in 1\.\.2147483647/;
    assert.throws(() => new HeartMonitor({ store: new MemoryStore(), warmupDivisor: 2 ** 31 }), { name: 'RangeError', message });
    assert.throws(() => new SlotStore({ warmupDivisor: 2 ** 31 }), { name: 'RangeError', message });
    assert.throws(() => SlotStore.attach(new SlotStore().buffer, { warmupDivisor: 0 }), { name: 'RangeError', message });
    assert.throws(() => pickBackend([], undefined, { warmupDivisor: 2 ** 31 }), { name: 'RangeError', message });
  });

  it("a cluster snapshot's settings pass the monitor's own checks, or the snapshot is not read", () => {
    assert.deepEqual(readSettings({ ...TABLE_DEFAULTS }), TABLE_DEFAULTS);
    assert.equal(readSettings({ staleAfter: 10_000, expireAfter: 30_000, warmupDivisor: 4 }), undefined, 'keyBy missing');
    assert.equal(readSettings({ ...TABLE_DEFAULTS, keyBy: 'port' }), undefined);
    assert.equal(readSettings({ ...TABLE_DEFAULTS, staleAfter: 40_000 }), undefined, 'stale after expiry');
  });
});

describe('other constructors use the same checks', () => {
  it('FileStore checks its options bag and clock', () => {
    assert.throws(() => new FileStore(null as never), { name: 'TypeError', message: 'Expected `options` to be an object with a `path`, got null' });
    assert.throws(() => new FileStore({ path: '/tmp/x', clock: {} as never }), { name: 'TypeError', message: /Expected `clock` to be an object with now\(\)/ });
  });

  it('the proxy integrations name the option and its accepted values', async () => {
    const monitor = new HeartMonitor({ store: new MemoryStore() });
    try {
      assert.throws(() => createDispatcher(monitor, [], { retries: -1 }), { name: 'RangeError', message: 'Expected `retries` to be an integer >= 0, got -1' });
      assert.throws(() => createDispatcher(monitor, [], { failOn5xx: 'yes' as never }), { name: 'TypeError', message: 'Expected `failOn5xx` to be a boolean, got "yes"' });
      assert.throws(() => createDispatcher({} as never, []), { name: 'TypeError', message: /Expected `view` to be a HeartMonitor or a view/ });
      assert.throws(() => createDispatcher(monitor, 'http://a:1' as never), { name: 'TypeError', message: /Expected `members` to be an array/ });
      assert.throws(() => createProxyHandler(proxy, monitor, [], { retryAfter: 1.5 }), { name: 'TypeError', message: 'Expected `retryAfter` to be an integer >= 0, got 1.5' });
      assert.throws(() => createProxyHandler(proxy, monitor, [], { retries: -2 }), { name: 'RangeError', message: /`retries`/ });
    } finally {
      await monitor.close();
    }
  });
});
