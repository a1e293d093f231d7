import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  HeartMonitor,
  ListenerError,
  MAX_SERVERS_MESSAGE,
  MemoryStore,
  SlotStore,
  StoreError,
  StoreFullError,
  type HeartbeatStore,
  type HeartMonitorOptions,
  type MalformedHeartbeat,
  type ServerStatus,
} from '../../src/index.js';
import { FakeClock } from '../helpers/clock.js';
import { nextEvent } from '../helpers/wait.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// maxServers 0 selects a FileStore whose close() writes hb.dat: keep it out of the repository.
const scratch = mkdtempSync(join(tmpdir(), 'hm-monitor-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const monitors: HeartMonitor[] = [];
/** A monitor closed when the file's tests end, so no timer outlives them. */
function createMonitor(options: HeartMonitorOptions = {}): HeartMonitor {
  const monitor = new HeartMonitor(options);
  monitors.push(monitor);
  return monitor;
}
after(() => Promise.all(monitors.map((monitor) => monitor.close())));

/** Record every event of a monitor in order, as `event:ip` (or the event name). */
function record(monitor: HeartMonitor): string[] {
  const log: string[] = [];
  for (const event of ['add', 'update', 'stale', 'remove'] as const) monitor.on(event, (server: ServerStatus) => log.push(`${event}:${server.ip}`));
  monitor.on('malformed', (info) => log.push(`malformed:${info.from.address}`));
  return log;
}

describe('HeartMonitor options', () => {
  for (let maxServers = 1; maxServers <= 9; maxServers++) {
    it(`rejects maxServers ${maxServers} with Apache's message (RangeError)`, () => {
      assert.throws(() => new HeartMonitor({ maxServers }), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.ok(error.message.startsWith(MAX_SERVERS_MESSAGE), error.message);
        assert.match(error.message, new RegExp(`got \`maxServers\` ${maxServers}$`));
        return true;
      });
    });
  }

  it('accepts maxServers 0 and >= 10', async () => {
    for (const maxServers of [0, 10, 5000]) await createMonitor({ maxServers, root: scratch }).close();
  });

  const invalid: [string, unknown, 'TypeError' | 'RangeError', RegExp][] = [
    ['options null', null, 'TypeError', /Expected `options` to be an object/],
    ['maxServers -1', { maxServers: -1 }, 'RangeError', /Expected `maxServers` to be an integer >= 0, got -1/],
    ['maxServers 10.5', { maxServers: 10.5 }, 'TypeError', /`maxServers`/],
    ['maxServers "10"', { maxServers: '10' }, 'TypeError', /`maxServers`.*got "10"/],
    ['listen without port', { listen: '239.0.0.1' }, 'TypeError', /No port provided in multicast address/],
    ['listen without host', { listen: ':27999' }, 'TypeError', /No host provided in multicast address/],
    ['listen garbage', { listen: 'multicast please:1' }, 'TypeError', /Unable to parse multicast address/],
    ['listen as a number', { listen: 27999 }, 'TypeError', /Unable to parse multicast address/],
    ['keyBy "port"', { keyBy: 'port' }, 'TypeError', /Expected `keyBy` to be one of 'ip', 'ip:port', got "port"/],
    ['staleAfter 0', { staleAfter: 0 }, 'RangeError', /`staleAfter`/],
    ['staleAfter NaN', { staleAfter: Number.NaN }, 'TypeError', /`staleAfter`/],
    ['expireAfter Infinity', { expireAfter: Infinity }, 'RangeError', /`expireAfter`/],
    ['flushInterval 0', { flushInterval: 0 }, 'RangeError', /`flushInterval`/],
    ['flushInterval over the timer limit', { flushInterval: 2 ** 31 }, 'RangeError', /`flushInterval` to be an integer in 1\.\.2147483647/],
    ['maxMessageBytes 0', { maxMessageBytes: 0 }, 'RangeError', /`maxMessageBytes` to be an integer in 1\.\.65507/],
    ['maxMessageBytes 70000', { maxMessageBytes: 70_000 }, 'RangeError', /`maxMessageBytes`/],
    ['warmupDivisor 0', { warmupDivisor: 0 }, 'RangeError', /`warmupDivisor`/],
    ['recvBufferSize -1', { recvBufferSize: -1 }, 'RangeError', /`recvBufferSize`/],
    ['reportInterval "5s"', { reportInterval: '5s' }, 'TypeError', /`reportInterval`/],
    ['interface ""', { interface: '' }, 'TypeError', /Expected `interface` to be a non-empty string/],
    ['storage ""', { storage: '' }, 'TypeError', /`storage`/],
    ['random not a function', { random: 0.5 }, 'TypeError', /Expected `random` to be a function/],
    ['clock without monotonic', { clock: { now: () => 0 } }, 'TypeError', /`clock`/],
  ];
  for (const [what, options, name, message] of invalid) {
    it(`rejects ${what} with a ${name}`, () => {
      assert.throws(() => new HeartMonitor(options as HeartMonitorOptions), { name, message });
    });
  }

  it('uses the store it is given, and a 10-slot SlotStore otherwise', () => {
    const store = new MemoryStore();
    assert.equal(createMonitor({ store }).store, store);
    assert.ok(createMonitor().store instanceof SlotStore);
    assert.equal(createMonitor().store.maxServers, 10, 'HeartbeatMaxServers defaults to 10');
  });
});

describe('HeartMonitor.ingest and events', () => {
  it('emits add before update for a new server, then update for every heartbeat', () => {
    const clock = new FakeClock();
    const monitor = createMonitor({ clock });
    const log = record(monitor);
    const updates: ServerStatus[] = [];
    monitor.on('update', (server) => updates.push(server));
    assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' }), true);
    clock.advance(1000);
    assert.equal(monitor.ingest(Buffer.from('v=1&ready=4&busy=2&zone=eu'), { address: '10.0.0.1' }), true);
    assert.equal(monitor.ingest('v=1&ready=1&busy=1', { address: '10.0.0.2' }), true);
    assert.deepEqual(log, ['add:10.0.0.1', 'update:10.0.0.1', 'update:10.0.0.1', 'add:10.0.0.2', 'update:10.0.0.2']);
    // inRotationSince: the first heartbeat, carried along by the second.
    assert.deepEqual(updates[1], { ip: '10.0.0.1', port: 80, ready: 4, busy: 2, lastSeen: clock.now(), inRotationSince: clock.now() - 1000, fields: { zone: 'eu' } });
    assert.deepEqual(
      monitor.servers().map((s) => [s.ip, s.ready, s.busy]),
      [
        ['10.0.0.1', 4, 2],
        ['10.0.0.2', 1, 1],
      ],
    );
  });

  it('identifies servers by canonical IP (IPv4-mapped IPv6 is IPv4)', () => {
    const monitor = createMonitor();
    monitor.ingest('v=1&ready=5&busy=1', { address: '::ffff:10.0.0.1' });
    monitor.ingest('v=1&ready=6&busy=1', { address: '10.0.0.1' });
    monitor.ingest('v=1&ready=7&busy=1', { address: '2001:DB8:0::1' });
    monitor.ingest('v=1&ready=8&busy=1', { address: 'fe80::1%lo' });
    assert.deepEqual(
      monitor.servers().map((s) => [s.ip, s.ready]),
      [
        ['10.0.0.1', 6],
        ['2001:db8::1', 7],
        ['fe80::1%lo', 8],
      ],
    );
  });

  it('emits malformed with the sender, the reason and the message, and returns false', () => {
    const monitor = createMonitor();
    const log = record(monitor);
    const dropped: MalformedHeartbeat[] = [];
    monitor.on('malformed', (info) => dropped.push(info));
    assert.equal(monitor.ingest('v=1&ready=x&busy=1', { address: '10.0.0.9', port: 4321 }), false);
    assert.equal(monitor.ingest('x'.repeat(1001), { address: '10.0.0.9' }), false);
    assert.deepEqual(dropped[0], {
      from: { address: '10.0.0.9', port: 4321 },
      reason: '`ready` must be a decimal integer in 0..2147483647, got "x"',
      message: 'v=1&ready=x&busy=1',
    });
    assert.match(dropped[1]?.reason ?? '', /over the 1000-byte limit/);
    assert.deepEqual(log, ['malformed:10.0.0.9', 'malformed:10.0.0.9']);
    assert.equal(monitor.servers().length, 0);
  });

  it('honours maxMessageBytes', () => {
    const monitor = createMonitor({ maxMessageBytes: 12 });
    assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' }), false);
  });

  it('counts received = accepted + malformed + rejected', () => {
    const monitor = createMonitor({ store: new MemoryStore({ maxServers: 2 }) });
    monitor.on('error', () => {}); // the store-full report is tested below
    const inputs: [string, string][] = [
      ['10.0.0.1', 'v=1&ready=1&busy=1'],
      ['10.0.0.2', 'v=1&ready=1&busy=1'],
      ['10.0.0.1', 'v=1&ready=2&busy=1'],
      ['10.0.0.3', 'v=1&ready=1&busy=1'], // store full
      ['10.0.0.4', 'garbage'],
      ['10.0.0.5', 'v=1&ready=1'],
    ];
    for (const [address, message] of inputs) monitor.ingest(message, { address });
    const stats = monitor.stats();
    assert.deepEqual(stats, { received: 6, accepted: 3, malformed: 2, rejected: 1, servers: 2, fresh: 2 });
    assert.equal(stats.received, stats.accepted + stats.malformed + stats.rejected);
  });
});

describe('HeartMonitor event types', () => {
  it('checks event names and payload types at compile time', () => {
    const monitor = createMonitor();
    const seen: string[] = [];
    monitor.on('update', (server) => seen.push(`${server.ip}:${server.ready}`));
    monitor.on('malformed', (info) => seen.push(info.reason));
    // @ts-expect-error 'update' carries a ServerStatus, not a number
    monitor.on('update', (server: number) => seen.push(server.toFixed()));
    // @ts-expect-error there is no 'updated' event
    monitor.on('updated', () => seen.push('never'));
    monitor.off('update');
    monitor.on('update', (server) => seen.push(server.ip));
    monitor.ingest('v=1&ready=2&busy=1', { address: '10.0.0.1' });
    assert.deepEqual(seen, ['10.0.0.1']);
  });
});

describe('HeartMonitor staleness and expiry', () => {
  it('stops picking a server at staleAfter (default 10 s) and emits stale once', () => {
    const clock = new FakeClock();
    const monitor = createMonitor({ clock });
    const log = record(monitor);
    monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
    clock.advance(9_999);
    assert.equal(monitor.pickBackend()?.ip, '10.0.0.1');
    clock.advance(1);
    assert.equal(monitor.pickBackend(), undefined);
    assert.equal(monitor.pickBackend(['http://10.0.0.1']), undefined);
    assert.deepEqual(log, ['add:10.0.0.1', 'update:10.0.0.1', 'stale:10.0.0.1']);
    assert.equal(monitor.servers().length, 1, 'a stale server stays in the table');
    assert.deepEqual([monitor.stats().servers, monitor.stats().fresh], [1, 0]);
  });

  it('goes stale by itself, comes back with update (not add), then expires with remove', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore();
    // Small limits make the sweep run every 10 ms; the fake clock decides what is old.
    const monitor = createMonitor({ clock, store, staleAfter: 100, expireAfter: 300 });
    const log = record(monitor);
    monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
    monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.2' });

    clock.advance(100);
    monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.2' });
    await nextEvent(monitor, 'stale');
    assert.equal(monitor.pickBackend(['10.0.0.1', '10.0.0.2']), '10.0.0.2');
    assert.equal(monitor.pickBackend()?.ip, '10.0.0.2');

    monitor.ingest('v=1&ready=7&busy=1', { address: '10.0.0.1' });
    assert.deepEqual(log.slice(-1), ['update:10.0.0.1']);
    assert.equal(monitor.pickBackend(['10.0.0.1']), '10.0.0.1', 'picked again after coming back');

    clock.advance(300);
    const removed = new Set<string>();
    await nextEvent(monitor, 'remove', { accept: (server) => (removed.add(server.ip), removed.size === 2) });
    assert.deepEqual(monitor.servers(), []);
    assert.deepEqual(store.servers(), [], 'expired servers leave the store too');
    assert.equal(monitor.pickBackend(), undefined);
    const staleEvents = log.filter((line) => line.startsWith('stale:'));
    assert.deepEqual(staleEvents.slice(0, 1), ['stale:10.0.0.1']);
    assert.equal(log.filter((line) => line === 'add:10.0.0.1').length, 1);
  });

  it('frees the place of an expired server in a full store', async () => {
    const clock = new FakeClock();
    const monitor = createMonitor({ clock, store: new MemoryStore({ maxServers: 1 }), staleAfter: 50, expireAfter: 100 });
    monitor.on('error', () => {});
    monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
    assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.2' }), false);
    clock.advance(100);
    await nextEvent(monitor, 'remove');
    assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.2' }), true);
  });
});

describe('HeartMonitor fault handling', () => {
  it('reports a throwing listener through error (ListenerError) and keeps processing', () => {
    const monitor = createMonitor();
    const errors: Error[] = [];
    const boom = new Error('listener bug');
    monitor.on('add', () => {
      throw boom;
    });
    monitor.on('update', () => {
      throw boom;
    });
    monitor.on('error', (error) => errors.push(error));
    assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' }), true);
    assert.equal(monitor.ingest('v=1&ready=6&busy=1', { address: '10.0.0.2' }), true);
    assert.deepEqual(
      monitor.servers().map((s) => s.ip),
      ['10.0.0.1', '10.0.0.2'],
    );
    assert.equal(errors.length, 4);
    for (const error of errors) {
      assert.ok(error instanceof ListenerError);
      assert.equal(error.code, 'HM_LISTENER_ERROR');
      assert.equal(error.cause, boom);
    }
    assert.deepEqual(
      errors.map((error) => (error as ListenerError).event),
      ['add', 'update', 'add', 'update'],
    );
  });

  it('turns a throwing error listener into a process warning', async () => {
    const monitor = createMonitor();
    monitor.on('update', () => {
      throw new Error('first bug');
    });
    monitor.on('error', () => {
      throw new Error('second bug');
    });
    const warning = new Promise<Error>((resolve) => process.once('warning', resolve));
    assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' }), true);
    const emitted = await warning;
    assert.ok(emitted instanceof ListenerError);
    assert.equal(emitted.event, 'error');
  });

  it('reports a full store at once, then at most once per reportInterval with a count', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ maxServers: 2 });
    const monitor = createMonitor({ clock, store, reportInterval: 1000 });
    const errors: StoreFullError[] = [];
    const others: Error[] = [];
    // No assertions inside the listener: the monitor would catch them as listener errors.
    monitor.on('error', (error) => (error instanceof StoreFullError ? errors.push(error) : others.push(error)));
    const send = (ip: string): boolean => monitor.ingest('v=1&ready=5&busy=1', { address: ip });
    assert.equal(send('10.0.0.1'), true);
    assert.equal(send('10.0.0.2'), true);
    assert.equal(send('10.0.0.3'), false);
    assert.equal(errors.length, 1, 'the first drop is reported at once');
    assert.deepEqual([errors[0]?.code, errors[0]?.maxServers, errors[0]?.dropped, errors[0]?.lastDropped], ['HM_STORE_FULL', 2, 1, '10.0.0.3']);
    assert.match(errors[0]?.message ?? '', /maxServers 2.*10\.0\.0\.3/);

    assert.equal(send('10.0.0.1'), true, 'known servers keep updating');
    for (let i = 4; i <= 50; i++) assert.equal(send(`10.0.0.${i}`), false);
    assert.equal(errors.length, 1, 'a flood within the interval is not reported again');

    clock.advance(1000);
    const [report] = await nextEvent(monitor, 'error'); // from the periodic sweep
    assert.ok(report instanceof StoreFullError);
    assert.deepEqual([report.dropped, report.lastDropped], [47, '10.0.0.50']);

    assert.equal(send('10.0.0.51'), false);
    clock.advance(1000);
    assert.equal(send('10.0.0.52'), false);
    assert.deepEqual(
      errors.slice(2).map((error) => [error.dropped, error.lastDropped]),
      [[2, '10.0.0.52']],
      'a drop after the interval reports at once with the count',
    );
    assert.deepEqual(
      monitor.servers().map((s) => s.ip),
      ['10.0.0.1', '10.0.0.2'],
    );
    assert.equal(monitor.stats().rejected, 50);
    assert.deepEqual(others, []);
  });

  it('keeps serving from memory when the store throws, and reports StoreError', async () => {
    const failing: HeartbeatStore = {
      put: () => {
        throw new Error('disk on fire');
      },
      delete: () => false,
      servers: () => [],
      flush: () => Promise.reject(new Error('cannot write')),
      close: () => Promise.reject(new Error('cannot close')),
    };
    const monitor = createMonitor({ store: failing, flushInterval: 20 });
    const errors: Error[] = [];
    monitor.on('error', (error) => errors.push(error));
    assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' }), true);
    assert.equal(monitor.pickBackend()?.ip, '10.0.0.1');
    assert.ok(errors[0] instanceof StoreError);
    assert.match(errors[0].message, /Store put failed: disk on fire/);
    const [flushError] = await nextEvent(monitor, 'error');
    assert.ok(flushError instanceof StoreError);
    assert.match(flushError.message, /Store flush failed: cannot write/);
    const closed = nextEvent(monitor, 'close');
    await monitor.close();
    await closed;
    assert.ok(errors.some((error) => /Store close failed: cannot close/.test(error.message)));
  });
});
