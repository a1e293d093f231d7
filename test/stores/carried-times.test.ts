/**
 * `inRotationSince` (when the monitor put a server into rotation) through every path a
 * record travels: SlotStore slots, cluster rows, hb.dat lines. Exact bytes where there are
 * bytes, and round trips over open-ended inputs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatHeartbeatLine, MAX_COUNT, parseHeartbeatFile, SlotStore, type ServerStatus } from '../../src/index.js';
import { fromRow, toRow } from '../../src/views/cluster-messages.js';
import { server } from './helpers.js';

const NOW = Date.UTC(2026, 11, 6, 4, 0, 0);

const statusArb = fc.record({
  ip: fc.oneof(fc.ipV4(), fc.constantFrom('::1', 'fe80::1', '2001:db8::42')),
  port: fc.integer({ min: 1, max: 65535 }),
  ready: fc.integer({ min: 0, max: Number(MAX_COUNT) }),
  busy: fc.integer({ min: 0, max: Number(MAX_COUNT) }),
  age: fc.integer({ min: 0, max: 20_000 }), // within the views' default expireAfter
  // Anything from just now to months ago, with fractions of a ms (performance-clock writers).
  inRotation: fc.oneof(fc.double({ min: 0, max: 1e10, noNaN: true }), fc.integer({ min: 0, max: 100_000 })),
  state: fc.constantFrom(undefined, 'draining' as const, 'disabled' as const),
});

function build(r: { ip: string; port: number; ready: number; busy: number; age: number; inRotation: number; state: 'draining' | 'disabled' | undefined }): ServerStatus {
  const base = { ip: r.ip, port: r.port, ready: r.ready, busy: r.busy, lastSeen: NOW - r.age, inRotationSince: NOW - r.age - r.inRotation };
  return r.state === undefined ? base : { ...base, state: r.state };
}

describe('inRotationSince in a SlotStore slot', () => {
  it('is read back exactly by an attached view, and is absent when the record has none', () => {
    const store = new SlotStore({ maxServers: 4 });
    store.put(server('10.0.0.1', { lastSeen: NOW, inRotationSince: NOW - 1234.5 }));
    store.put(server('10.0.0.2', { lastSeen: NOW }));
    const view = SlotStore.attach(store.buffer, { clock: { now: () => NOW } });
    const byIp = new Map(view.servers().map((s) => [s.ip, s]));
    assert.equal(byIp.get('10.0.0.1')?.inRotationSince, NOW - 1234.5);
    assert.equal('inRotationSince' in (byIp.get('10.0.0.2') ?? {}), false);
    // A later write that drops the field clears it.
    store.put(server('10.0.0.1', { lastSeen: NOW + 1 }));
    assert.equal(view.servers().find((s) => s.ip === '10.0.0.1')?.inRotationSince, undefined);
  });

  it('refuses a buffer of the previous layout version, naming both versions', () => {
    const store = new SlotStore({ maxServers: 1 });
    const words = new Int32Array(store.buffer);
    Atomics.store(words, 1, 4);
    assert.throws(() => SlotStore.attach(store.buffer), { name: 'TypeError', message: /layout version 4 \(this library reads version 5\)/ });
  });

  it('round-trips any record, state included (property)', () => {
    const store = new SlotStore({ maxServers: 1, keyBy: 'ip:port' });
    const view = SlotStore.attach(store.buffer, { clock: { now: () => NOW } });
    fc.assert(
      fc.property(statusArb, (r) => {
        const status = build(r);
        store.put(status, 'only');
        const [read] = view.servers();
        assert.deepEqual({ ...read }, status);
      }),
      { numRuns: 300 },
    );
  });
});

describe('inRotationSince in a cluster row', () => {
  it('is the row\'s eighth element, and a seven-element row (no carried time) still reads', () => {
    const status = server('10.0.0.1', { lastSeen: NOW, inRotationSince: NOW - 5000 });
    assert.deepEqual(toRow('10.0.0.1', status), ['10.0.0.1', '10.0.0.1', 80, 10, 1, NOW, 0, NOW - 5000]);
    const without: ServerStatus = { ip: status.ip, port: status.port, ready: status.ready, busy: status.busy, lastSeen: status.lastSeen };
    assert.deepEqual(toRow('10.0.0.1', without), ['10.0.0.1', '10.0.0.1', 80, 10, 1, NOW, 0]);
    assert.deepEqual(fromRow(['k', '10.0.0.1', 80, 10, 1, NOW, 0]), without);
  });

  it('refuses a row whose eighth element is not a finite number', () => {
    for (const bad of ['1', null, Number.NaN, Number.POSITIVE_INFINITY, {}]) {
      assert.equal(fromRow(['k', '10.0.0.1', 80, 10, 1, NOW, 0, bad]), undefined, JSON.stringify(bad));
    }
    assert.equal(fromRow(['k', '10.0.0.1', 80, 10, 1, NOW, 0, 1, 2]), undefined, 'nine elements');
  });

  it('round-trips any record through JSON, as the IPC channel carries it (property)', () => {
    fc.assert(
      fc.property(statusArb, (r) => {
        const status = build(r);
        assert.deepEqual({ ...fromRow(JSON.parse(JSON.stringify(toRow('k', status)))) }, status);
      }),
      { numRuns: 300 },
    );
  });
});

describe('inRotationSince in hb.dat', () => {
  it('is written last as &inrotationms=<ms before the write>, after the drained state too', () => {
    const status = { ip: '10.0.0.1', port: 8080, ready: 7, busy: 1, lastSeen: NOW - 2500, inRotationSince: NOW - 61_234.4 };
    assert.equal(formatHeartbeatLine(status, NOW), '10.0.0.1 &ready=7&busy=1&lastseen=2&port=8080&inrotationms=61234\n');
    assert.equal(formatHeartbeatLine({ ...status, state: 'draining' }, NOW), '10.0.0.1 &ready=7&busy=1&lastseen=10&port=8080&state=draining&age=2&inrotationms=61234\n');
    // A time ahead of the write (another clock) reads as just now; a very old one is capped.
    assert.equal(formatHeartbeatLine({ ...status, inRotationSince: NOW + 50 }, NOW), '10.0.0.1 &ready=7&busy=1&lastseen=2&port=8080&inrotationms=0\n');
    assert.equal(formatHeartbeatLine({ ...status, inRotationSince: NOW - 1e12 }, NOW), `10.0.0.1 &ready=7&busy=1&lastseen=2&port=8080&inrotationms=${MAX_COUNT}\n`);
    assert.equal(formatHeartbeatLine({ ...status, inRotationSince: Number.NaN }, NOW), '10.0.0.1 &ready=7&busy=1&lastseen=2&port=8080\n');
  });

  it('is read relative to the file\'s write time; lines without it (Apache\'s) carry none', () => {
    const text = '10.0.0.1 &ready=7&busy=1&lastseen=2&port=8080&inrotationms=61234\n10.0.0.2 &ready=75&busy=0&lastseen=1&port=80\n';
    const [first, second] = parseHeartbeatFile(text, { writtenAt: NOW }).servers;
    assert.equal(first?.inRotationSince, NOW - 61_234);
    assert.equal(first?.fields, undefined, 'not an extra field');
    assert.equal(second !== undefined && 'inRotationSince' in second, false);
    const skipped = parseHeartbeatFile('10.0.0.3 &ready=1&inrotationms=-5\n10.0.0.4 &ready=1&inrotationms=12345678901\n', { writtenAt: NOW }).skipped;
    assert.deepEqual(
      skipped.map((line) => line.line),
      [1, 2],
    );
  });

  it('round-trips to the ms, relative to the write (property)', () => {
    fc.assert(
      fc.property(statusArb, fc.integer({ min: 0, max: 5000 }), (r, writeDelay) => {
        const status = build(r);
        const writtenAt = NOW + writeDelay;
        const [read] = parseHeartbeatFile(formatHeartbeatLine(status, writtenAt), { writtenAt }).servers;
        const carried = writtenAt - (status.inRotationSince ?? 0);
        const expected = writtenAt - Math.min(Number(MAX_COUNT), Math.round(carried));
        assert.equal(read?.inRotationSince, expected);
        if (carried <= Number(MAX_COUNT)) assert.ok(Math.abs((read?.inRotationSince ?? 0) - (status.inRotationSince ?? 0)) <= 0.5);
      }),
      { numRuns: 500 },
    );
  });
});
