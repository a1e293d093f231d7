/**
 * The monitor's table settings (keyBy, staleAfter, expireAfter, warmupDivisor, failures)
 * reach the views of its data: a SlotStore's header (also for views attached before the
 * monitor existed, in this thread and in a worker) and hb.dat's settings line, which
 * Apache skips as a comment. Explicit conflicts throw at construction; malformed settings
 * lines are skipped, never trusted.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import {
  FileStore,
  formatHeartbeatFile,
  formatSettingsLine,
  HeartbeatFileReader,
  HeartMonitor,
  MemoryStore,
  parseHeartbeatFile,
  parseSettingsLine,
  SlotStore,
  type TableSettings,
} from '../../src/index.js';
import { FakeClock } from '../helpers/clock.js';
import { countPicks, seededRandom } from '../helpers/random.js';
import type { SlotWorkerRequest } from '../stores/slot-worker.js';

const MEMBERS = ['http://127.0.0.1:8001', 'http://127.0.0.1:8002'];

/** Two origins on one IP, ready 10 and 30 (busy 1: no warm-up division). */
function beatTwoOrigins(monitor: HeartMonitor): void {
  assert.equal(monitor.ingest('v=1&ready=10&busy=1&port=8001', { address: '127.0.0.1' }), true);
  assert.equal(monitor.ingest('v=1&ready=30&busy=1&port=8002', { address: '127.0.0.1' }), true);
}

/** Share of picks that went to the second origin (ready 30 of 40: 75 %). */
function secondShare(pick: () => string | undefined, rounds = 4000): number {
  const counts = countPicks(rounds, pick, (member) => member);
  assert.equal(counts.get('none'), undefined, 'every pick found a member');
  return (counts.get(MEMBERS[1] ?? '') ?? 0) / rounds;
}

const workers: Worker[] = [];
const monitors: HeartMonitor[] = [];
after(async () => {
  await Promise.all(workers.map((worker) => worker.terminate()));
  await Promise.all(monitors.map((monitor) => monitor.close()));
});

/** A monitor closed after the tests. */
function track(monitor: HeartMonitor): HeartMonitor {
  monitors.push(monitor);
  return monitor;
}

describe('SlotStore views take the monitor’s settings', () => {
  it('a view attached before the monitor existed keys, weighs and drains as the monitor does', () => {
    const clock = new FakeClock();
    const store = new SlotStore({ maxServers: 16 });
    const early = SlotStore.attach(store.buffer, { clock, random: seededRandom(1) });
    assert.equal(early.settings.keyBy, 'ip');
    const monitor = track(new HeartMonitor({ keyBy: 'ip:port', store, clock, random: seededRandom(2) }));
    beatTwoOrigins(monitor);
    const late = SlotStore.attach(store.buffer, { clock, random: seededRandom(3) });
    for (const view of [early, late]) {
      assert.deepEqual(view.settings, { keyBy: 'ip:port', staleAfter: 10_000, expireAfter: 30_000, warmupDivisor: 4 });
      assert.equal(view.servers().length, 2);
      const share = secondShare(() => view.pickBackend(MEMBERS));
      assert.ok(share > 0.72 && share < 0.78, `view share ${share}`);
    }
    const monitorShare = secondShare(() => monitor.pickBackend(MEMBERS));
    assert.ok(monitorShare > 0.72 && monitorShare < 0.78, `monitor share ${monitorShare}`);

    monitor.drain('127.0.0.1:8002');
    for (const view of [early, late]) {
      const counts = countPicks(200, () => view.pickBackend(MEMBERS), (member) => member);
      assert.deepEqual([...counts], [[MEMBERS[0], 200]]);
    }
    void early.close();
    void late.close();
  });

  it('a view stops picking a server once it is stale by the monitor’s staleAfter', () => {
    const clock = new FakeClock();
    const store = new SlotStore({ maxServers: 16 });
    const view = SlotStore.attach(store.buffer, { clock });
    const monitor = track(new HeartMonitor({ staleAfter: 500, expireAfter: 5000, store, clock }));
    monitor.ingest('v=1&ready=10&busy=1', { address: '127.0.0.1' });
    assert.equal(view.pickBackend()?.ip, '127.0.0.1');
    clock.advance(600);
    assert.equal(monitor.pickBackend(), undefined);
    assert.equal(view.settings.staleAfter, 500);
    assert.equal(view.pickBackend(), undefined);
    // A view's own staleAfter still wins.
    const lenient = SlotStore.attach(store.buffer, { clock, staleAfter: 10_000 });
    assert.equal(lenient.pickBackend()?.ip, '127.0.0.1');
    void view.close();
    void lenient.close();
  });

  it('a view holding records rebuilds its table when the header’s settings change', () => {
    const clock = new FakeClock();
    const store = new SlotStore({ maxServers: 16 });
    store.put({ ip: '127.0.0.1', port: 8001, ready: 10, busy: 1, lastSeen: clock.now() }, '127.0.0.1:8001');
    store.put({ ip: '127.0.0.1', port: 8002, ready: 30, busy: 1, lastSeen: clock.now() }, '127.0.0.1:8002');
    const view = SlotStore.attach(store.buffer, { clock });
    assert.equal(view.servers().length, 1, 'keyed by IP: one server');
    const added: string[] = [];
    view.on('add', (server) => added.push(`${server.ip}:${server.port}`));
    store.adoptSettings({ keyBy: 'ip:port', staleAfter: 2000, expireAfter: 4000, warmupDivisor: 2 });
    assert.deepEqual(view.settings, { keyBy: 'ip:port', staleAfter: 2000, expireAfter: 4000, warmupDivisor: 2 });
    assert.equal(view.servers().length, 2);
    assert.deepEqual(added.sort(), ['127.0.0.1:8001', '127.0.0.1:8002']);
    clock.advance(2500);
    assert.equal(view.pickBackend(), undefined, 'stale by the new staleAfter');
    void view.close();
  });

  it('a settings lock left held (a writer that died mid-write) keeps the view on its settings, picking, until the lock moves', () => {
    const clock = new FakeClock();
    const store = new SlotStore({ maxServers: 16 });
    store.put({ ip: '127.0.0.1', port: 8001, ready: 10, busy: 1, lastSeen: clock.now() }, '127.0.0.1:8001');
    const view = SlotStore.attach(store.buffer, { clock });
    const words = new Int32Array(store.buffer);
    const SETTINGS_WORD = 15; // the header's settings sequence (slot-layout.ts)
    const held = Atomics.load(words, SETTINGS_WORD);
    Atomics.store(words, SETTINGS_WORD, held + 1); // odd: a writer inside, forever
    for (let i = 0; i < 3; i++) assert.equal(view.pickBackend()?.port, 8001);
    assert.equal(view.settings.keyBy, 'ip');
    // The writer's lock released (even again) with new settings: the view follows.
    Atomics.store(words, SETTINGS_WORD, held);
    store.adoptSettings({ keyBy: 'ip:port', staleAfter: 2000, expireAfter: 4000, warmupDivisor: 2 });
    assert.equal(view.settings.keyBy, 'ip:port');
    assert.equal(view.pickBackend()?.port, 8001);
    void view.close();
  });

  it('any valid settings written into the header read back the same in a view (property)', () => {
    fc.assert(
      fc.property(settingsArb, fc.constantFrom('local' as const, 'shared' as const), (settings, failures) => {
        // A store a monitor adopted keeps those settings, so each run takes a new one.
        const store = new SlotStore({ maxServers: 1 });
        store.adoptSettings({ ...settings, failures });
        const view = SlotStore.attach(store.buffer);
        assert.deepEqual(view.settings, settings);
        assert.equal(view.failures, failures);
        void view.close();
      }),
      { numRuns: 200 },
    );
  });

  it('a view in a worker thread splits two origins on one IP as the monitor does', async () => {
    const store = new SlotStore({ maxServers: 16 });
    const now = Date.UTC(2026, 0, 1);
    const monitor = track(new HeartMonitor({ keyBy: 'ip:port', store, clock: { now: () => now, monotonic: () => performance.now() } }));
    beatTwoOrigins(monitor);
    const worker = new Worker(new URL('../stores/ts-worker.mjs', import.meta.url), {
      workerData: { module: new URL('../stores/slot-worker.ts', import.meta.url).href, buffer: store.buffer },
    });
    workers.push(worker);
    await once(worker, 'online');
    const answer = once(worker, 'message', { signal: AbortSignal.timeout(20_000) });
    const request: SlotWorkerRequest = { type: 'pick', members: MEMBERS, seed: 7, count: 4000, now };
    worker.postMessage(request);
    const [picks] = (await answer) as [string[]];
    assert.equal(picks.length, 4000);
    const second = picks.filter((member) => member === MEMBERS[1]).length / picks.length;
    assert.ok(second > 0.72 && second < 0.78, `worker share ${second}`);
  });

  it('throws at construction when the store was given a different setting, naming both values', () => {
    assert.throws(() => new HeartMonitor({ store: new SlotStore({ staleAfter: 500 }) }), {
      name: 'RangeError',
      message: /SlotStore's `staleAfter` \(500\) to match the monitor's `staleAfter` \(10000\)/,
    });
    assert.throws(() => new HeartMonitor({ store: new SlotStore({ keyBy: 'ip:port' }) }), { name: 'RangeError', message: /`keyBy` \("ip:port"\).*`keyBy` \("ip"\)/ });
    assert.throws(() => new HeartMonitor({ warmupDivisor: 2, store: new SlotStore({ warmupDivisor: 3 }) }), { name: 'RangeError', message: /`warmupDivisor` \(3\).*`warmupDivisor` \(2\)/ });
    assert.throws(() => new HeartMonitor({ failures: 'local', store: new SlotStore({ failures: 'shared' }) }), { name: 'RangeError', message: /`failures` \("shared"\).*`failures` \("local"\)/ });
    // The same value on both is no conflict.
    const agreed = new SlotStore({ staleAfter: 500, failures: 'shared' });
    track(new HeartMonitor({ staleAfter: 500, store: agreed }));
    assert.equal(agreed.settings.failures, 'shared');
    // A store a monitor adopted keeps that monitor's settings: a second monitor must agree.
    assert.throws(() => new HeartMonitor({ staleAfter: 700, store: agreed }), { name: 'RangeError', message: /`staleAfter` \(500\).*`staleAfter` \(700\)/ });
    assert.throws(() => new HeartMonitor({ store: new FileStore({ path: join(tmpdir(), 'never-written-hb.dat'), expireAfter: 5000 }) }), {
      name: 'RangeError',
      message: /FileStore's `expireAfter` \(5000\).*`expireAfter` \(30000\)/,
    });
  });

  it("the monitor's `failures` option reaches its own SlotStore and views attached earlier", () => {
    const own = track(new HeartMonitor({ maxServers: 16, failures: 'shared' }));
    assert.ok(own.store instanceof SlotStore);
    assert.equal(own.store.settings.failures, 'shared');
    assert.equal(SlotStore.attach(own.store.buffer).failures, 'shared');

    const store = new SlotStore({ maxServers: 16 });
    const early = SlotStore.attach(store.buffer);
    assert.equal(early.failures, 'local');
    const clock = new FakeClock();
    const monitor = track(new HeartMonitor({ store, failures: 'shared', failure: { threshold: 1, retryAfter: 60_000 }, clock }));
    assert.equal(early.failures, 'shared');
    // One view's ejection reaches the monitor through the store.
    const view = SlotStore.attach(store.buffer, { failure: { threshold: 1, retryAfter: 60_000 }, clock });
    monitor.ingest('v=1&ready=10&busy=1', { address: '127.0.0.1' });
    monitor.ingest('v=1&ready=10&busy=1', { address: '127.0.0.2' });
    assert.equal(view.markFailed('127.0.0.1'), 1);
    const picks = countPicks(100, () => monitor.pickBackend()?.ip, (ip) => ip);
    assert.deepEqual([...picks], [['127.0.0.2', 100]]);

    assert.throws(() => new HeartMonitor({ maxServers: 0, storage: join(tmpdir(), 'never-written-hb.dat'), failures: 'shared' }), { name: 'RangeError', message: /`failures`/ });
    assert.throws(() => new HeartMonitor({ store: new MemoryStore(), failures: 'shared' }), { name: 'RangeError', message: /`failures`/ });
    assert.throws(() => new HeartMonitor({ failures: 'all' as never }), { message: /`failures`.*local.*shared/ });
  });
});

describe('hb.dat carries the monitor’s settings', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const tempPath = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'hm-settings-'));
    dirs.push(dir);
    return join(dir, 'hb.dat');
  };

  it('a default HeartbeatFileReader keys, weighs and ages by the settings line', async () => {
    const path = tempPath();
    const monitor = new HeartMonitor({ maxServers: 0, storage: path, keyBy: 'ip:port', staleAfter: 3000, flushInterval: 3_600_000 });
    beatTwoOrigins(monitor);
    await monitor.close();
    const text = readFileSync(path, 'latin1');
    assert.ok(text.startsWith('# heartmonitor keyBy=ip:port staleAfter=3000 expireAfter=30000 warmupDivisor=4\n'), text);

    const reader = new HeartbeatFileReader({ path, random: seededRandom(5) });
    assert.deepEqual(reader.settings, { keyBy: 'ip:port', staleAfter: 3000, expireAfter: 30_000, warmupDivisor: 4 });
    assert.equal(reader.servers().length, 2);
    assert.deepEqual(reader.skipped, []);
    const share = secondShare(() => reader.pickBackend(MEMBERS));
    assert.ok(share > 0.72 && share < 0.78, `reader share ${share}`);
    // The reader's own options win over the file's.
    const byIp = new HeartbeatFileReader({ path, keyBy: 'ip' });
    assert.equal(byIp.settings.keyBy, 'ip');
    assert.equal(byIp.settings.staleAfter, 3000);
    assert.equal(byIp.servers().length, 1);

    // A reader whose clock runs 4 s ahead sees the servers 4 s old: stale by the file's 3 s, fresh by 10 s.
    const ahead = { now: () => Date.now() + 4000, monotonic: () => performance.now() + 4000 };
    const aged = new HeartbeatFileReader({ path, clock: ahead });
    assert.equal(aged.pickBackend(MEMBERS), undefined);
    const lenient = new HeartbeatFileReader({ path, clock: ahead, staleAfter: 10_000 });
    assert.ok(lenient.pickBackend(MEMBERS) !== undefined);
    await Promise.all([reader.close(), byIp.close(), aged.close(), lenient.close()]);
  });

  it('a reader follows the settings line when the file is rewritten with other settings, and Apache defaults without one', () => {
    const path = tempPath();
    const now = Date.now();
    const servers = [
      { ip: '127.0.0.1', port: 8001, ready: 10, busy: 1, lastSeen: now },
      { ip: '127.0.0.1', port: 8002, ready: 30, busy: 1, lastSeen: now },
    ];
    writeFileSync(path, formatHeartbeatFile(servers, now, { keyBy: 'ip:port', staleAfter: 3000, expireAfter: 30_000, warmupDivisor: 4 }));
    const reader = new HeartbeatFileReader({ path, checkInterval: 0 });
    assert.equal(reader.servers().length, 2);
    // Apache's own file: no settings line, Apache's defaults (one server per IP).
    writeFileSync(path, formatHeartbeatFile(servers, now) + '\n');
    reader.refresh();
    assert.deepEqual(reader.settings, { keyBy: 'ip', staleAfter: 10_000, expireAfter: 30_000, warmupDivisor: 4 });
    assert.equal(reader.servers().length, 1);
    void reader.close();
  });

  it('a malformed settings line is reported as skipped and ignored', () => {
    const path = tempPath();
    writeFileSync(path, '# heartmonitor keyBy=ip:port staleAfter=-5 expireAfter=30000 warmupDivisor=4\n127.0.0.1 &ready=10&busy=1&lastseen=0&port=8001\n127.0.0.1 &ready=30&busy=1&lastseen=0&port=8002\n');
    const reader = new HeartbeatFileReader({ path });
    assert.deepEqual(reader.settings, { keyBy: 'ip', staleAfter: 10_000, expireAfter: 30_000, warmupDivisor: 4 });
    assert.equal(reader.servers().length, 1);
    assert.equal(reader.skipped.length, 1);
    assert.equal(reader.skipped[0]?.line, 1);
    assert.match(reader.skipped[0]?.reason ?? '', /staleAfter/);
    void reader.close();
  });
});

/** Any settings the monitor accepts. */
const settingsArb: fc.Arbitrary<TableSettings> = fc
  .record({
    keyBy: fc.constantFrom('ip' as const, 'ip:port' as const),
    staleAfter: fc.oneof(fc.integer({ min: 1, max: 2 ** 40 }), fc.double({ min: 1, max: 1e300, noNaN: true, noDefaultInfinity: true })),
    extra: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 40 }), fc.double({ min: 0, max: 1e300, noNaN: true, noDefaultInfinity: true })),
    warmupDivisor: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  })
  .map(({ keyBy, staleAfter, extra, warmupDivisor }) => ({ keyBy, staleAfter, expireAfter: Math.min(Number.MAX_VALUE, staleAfter + extra), warmupDivisor }));

describe('the settings line (properties)', () => {
  it('any valid settings survive write → read, alone and in a whole file', () => {
    fc.assert(
      fc.property(settingsArb, (settings) => {
        const line = formatSettingsLine(settings);
        assert.ok(line.startsWith('# ') && line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
        assert.deepEqual(parseSettingsLine(line.slice(0, -1)), settings);
        const file = parseHeartbeatFile(formatHeartbeatFile([{ ip: '10.0.0.1', port: 80, ready: 1, busy: 1, lastSeen: 0 }], 0, settings), { writtenAt: 0 });
        assert.deepEqual(file.settings, settings);
        assert.deepEqual(file.skipped, []);
        assert.equal(file.servers.length, 1);
      }),
      { numRuns: 500 },
    );
  });

  it('malformed settings lines are refused without throwing, and never bring settings out of range', () => {
    const token = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom('keyBy=ip', 'keyBy=ip:port', 'keyBy=host', 'staleAfter=0', 'staleAfter=-1', 'staleAfter=1e400', 'staleAfter=0x10', 'staleAfter=Infinity', 'staleAfter=NaN'),
      fc.constantFrom('expireAfter=1', 'expireAfter=30000', 'warmupDivisor=0', 'warmupDivisor=2.5', 'warmupDivisor=2147483648', 'warmupDivisor=4', 'staleAfter=3000', '='),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 8 }), (tokens) => {
        const line = `# heartmonitor ${tokens.join(' ')}`.replace(/[\r\n]/g, ' ');
        const result = parseSettingsLine(line);
        if (typeof result !== 'string') {
          assert.ok(result.keyBy === 'ip' || result.keyBy === 'ip:port');
          assert.ok(Number.isFinite(result.staleAfter) && result.staleAfter >= 1);
          assert.ok(Number.isFinite(result.expireAfter) && result.expireAfter >= result.staleAfter);
          assert.ok(Number.isInteger(result.warmupDivisor) && result.warmupDivisor >= 1 && result.warmupDivisor <= 2 ** 31 - 1);
        }
        const file = parseHeartbeatFile(`${line}\n10.0.0.1 &ready=1&busy=1&lastseen=0&port=80\n`, { writtenAt: 0 });
        assert.equal(file.servers.length, 1);
        if (typeof result === 'string') {
          assert.equal(file.settings, undefined);
          assert.deepEqual(file.skipped.map((skipped) => skipped.line), [1]);
        } else assert.deepEqual(file.settings, result);
      }),
      { numRuns: 1000 },
    );
    for (const bad of [
      '# heartmonitor keyBy=host staleAfter=3000 expireAfter=30000 warmupDivisor=4',
      '# heartmonitor keyBy=ip staleAfter=0x10 expireAfter=30000 warmupDivisor=4',
      '# heartmonitor keyBy=ip staleAfter=Infinity expireAfter=30000 warmupDivisor=4',
      '# heartmonitor keyBy=ip staleAfter=3000 expireAfter=2000 warmupDivisor=4',
      '# heartmonitor keyBy=ip staleAfter=3000 expireAfter=30000 warmupDivisor=0',
      '# heartmonitor keyBy=ip staleAfter=3000 expireAfter=30000',
      '# heartmonitor keyBy=ip keyBy=ip:port staleAfter=3000 expireAfter=30000 warmupDivisor=4',
      `# heartmonitor keyBy=ip staleAfter=3000 expireAfter=30000 warmupDivisor=4 ${'x'.repeat(600)}`,
    ]) {
      assert.equal(typeof parseSettingsLine(bad), 'string', bad);
    }
    // Names a later version may add are ignored; other comments are comments.
    assert.deepEqual(parseSettingsLine('# heartmonitor keyBy=ip staleAfter=3000 expireAfter=30000 warmupDivisor=4 future=1'), {
      keyBy: 'ip',
      staleAfter: 3000,
      expireAfter: 30_000,
      warmupDivisor: 4,
    });
    assert.deepEqual(parseHeartbeatFile('# written by hand\n#heartmonitor keyBy=nonsense\n', { writtenAt: 0 }), { servers: [], skipped: [] });
  });
});
