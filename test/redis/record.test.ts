// Records and change messages of the Redis table, without a server: what the monitor
// encodes, every view decodes to the same values, and anything else is refused, never thrown.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_COUNT } from '../../src/index.js';
import { parseRecord } from '../../src/redis.js';
import { decodeChanges, encodeChanges, readChangeHeader, type Change } from '../../src/stores/redis/changes.js';
import { encodeRecord, inRotationMsOf, isValidMonitorId, MAX_RECORD_FIELDS, readCountsAfterIdentity, type RecordCounts } from '../../src/stores/redis/record.js';
import { serverKey, type ServerStatus } from '../../src/protocol/server-status.js';

// eslint-disable-next-line no-control-regex -- what a view refuses in text
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/;
const printable = (options: { minLength?: number; maxLength?: number } = {}): fc.Arbitrary<string> => fc.string({ unit: 'grapheme', ...options }).filter((text) => !UNPRINTABLE.test(text));
const count = fc.integer({ min: 0, max: MAX_COUNT });
const server = fc.record({
  ip: fc.oneof(fc.ipV4(), fc.ipV6()),
  port: fc.integer({ min: 1, max: 65_535 }),
  ready: count,
  busy: count,
  fields: fc.option(fc.dictionary(printable({ maxLength: 8 }), printable({ maxLength: 20 }), { maxKeys: MAX_RECORD_FIELDS, noNullPrototype: true }), { nil: undefined }),
});
const monitorId = printable({ minLength: 1, maxLength: 40 }).filter(isValidMonitorId);

/** What parseRecord must give back for a record the monitor encoded. */
function expected(status: Omit<ServerStatus, 'lastSeen'>, monitor: string): object {
  const { ip, port, ready, busy, fields } = status;
  return fields === undefined || Object.keys(fields).length === 0 ? { ip, port, ready, busy, monitor } : { ip, port, ready, busy, monitor, fields };
}

/** Every line of a message as the visitor saw it. */
function decode(message: string): { header: ReturnType<typeof readChangeHeader>; seen: unknown[]; refused: string[] } {
  const header = readChangeHeader(message);
  const seen: unknown[] = [];
  const refused: string[] = [];
  if (header !== undefined) {
    decodeChanges(message, header.bodyAt, {
      put: (key, age, text, start, end) => seen.push({ kind: 'put', key, age, record: text.slice(start, end) }),
      remove: (key) => seen.push({ kind: 'remove', key }),
      admin: (key, state) => seen.push({ kind: 'admin', key, state }),
      refused: (reason) => refused.push(reason),
    });
  }
  return { header, seen, refused };
}

describe('Redis records', () => {
  it('round trip: what the monitor encodes parses back to the same server, keyed by ip or ip:port (property)', () => {
    fc.assert(
      fc.property(server, monitorId, fc.boolean(), (status, monitor, byPort) => {
        const key = byPort ? serverKey(status.ip, status.port, 'ip:port') : status.ip;
        const text = encodeRecord({ ...status, lastSeen: 0 }, monitor);
        assert.ok(!text.includes('\n'), 'a record never holds a line break');
        assert.deepEqual(parseRecord(key, text), expected(status, monitor));
      }),
      { numRuns: 1000 },
    );
  });

  it('round trip with the in-rotation time: a view turns it back into the monitor moment on its own clock, whatever the offset between the clocks (property)', () => {
    // A report's time reaches a view only as an age; the record carries the in-rotation time
    // relative to it, so the view's clock may be anywhere (hours apart, or behind).
    const inRotation = fc.record({
      lastSeen: fc.integer({ min: 0, max: 2 ** 45 }),
      // Usually before the report (months in rotation), sometimes after (enabled since).
      inRotationMs: fc.oneof(fc.integer({ min: 0, max: 10 ** 11 }), fc.integer({ min: -60_000, max: 0 })),
      viewOffset: fc.integer({ min: -(10 ** 9), max: 10 ** 9 }),
      // A rewrite of the record (drain, enable…) this many ms after the heartbeat.
      rewrittenAfter: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 ** 6 })),
    });
    fc.assert(
      fc.property(server, monitorId, inRotation, (status, monitor, { lastSeen, inRotationMs, viewOffset, rewrittenAfter }) => {
        const heard: ServerStatus = { ...status, lastSeen: lastSeen - rewrittenAfter, inRotationSince: lastSeen - inRotationMs };
        assert.equal(inRotationMsOf(heard), inRotationMs - rewrittenAfter, 'counted from the heartbeat by default');
        // The record of a report made at `lastSeen` (the view's lastSeen is that moment).
        const sent: ServerStatus = { ...heard, lastSeen };
        const text = rewrittenAfter === 0 ? encodeRecord(heard, monitor) : encodeRecord(heard, monitor, lastSeen);
        assert.ok(!text.includes('\n'));
        const parsed = parseRecord(status.ip, text);
        assert.deepEqual(parsed, { ...expected(status, monitor), inRotationMs });
        assert.equal(inRotationMsOf(heard, lastSeen), inRotationMs);
        // The view's lastSeen for the same moment, on a clock `viewOffset` ms apart.
        const viewLastSeen = lastSeen + viewOffset;
        assert.equal(viewLastSeen - (typeof parsed === 'string' ? Number.NaN : (parsed.inRotationMs ?? Number.NaN)), (sent.inRotationSince ?? 0) + viewOffset);
        // The fast path a view takes for a known identity reads the same values.
        const identity = `${status.ip}\t${status.port}\t${monitor}\t`;
        const counts: RecordCounts = { ready: -1, busy: -1, inRotationMs: Number.NaN, fieldsAt: -1 };
        assert.equal(readCountsAfterIdentity(text, identity.length, text.length, counts), undefined);
        assert.deepEqual([counts.ready, counts.busy, counts.inRotationMs], [status.ready, status.busy, inRotationMs]);
      }),
      { numRuns: 1000 },
    );
  });

  it('records without the in-rotation time (older monitors) still parse, and a malformed one is refused', () => {
    assert.deepEqual(parseRecord('10.0.0.1', '10.0.0.1\t80\tm\t1\t0\t{"a":"b"}'), { ip: '10.0.0.1', port: 80, ready: 1, busy: 0, monitor: 'm', fields: { a: 'b' } });
    assert.deepEqual(parseRecord('10.0.0.1', '10.0.0.1\t80\tm\t1\t0\tr-25\t{"a":"b"}'), { ip: '10.0.0.1', port: 80, ready: 1, busy: 0, monitor: 'm', inRotationMs: -25, fields: { a: 'b' } });
    assert.deepEqual(parseRecord('10.0.0.1', '10.0.0.1\t80\tm\t1\t0\tr0'), { ip: '10.0.0.1', port: 80, ready: 1, busy: 0, monitor: 'm', inRotationMs: 0 });
    for (const rotation of ['r', 'r-', 'r-0', 'r01', 'r+1', 'r1.5', 'r1e3', 'r 1', `r${'9'.repeat(16)}`, 'r1\t', 'r1\tr2', 'R1']) {
      assert.equal(typeof parseRecord('10.0.0.1', `10.0.0.1\t80\tm\t1\t0\t${rotation}`), 'string', rotation);
    }
    // A time no record can hold is left out: the view then ramps from first sight.
    assert.equal(encodeRecord({ ip: '10.0.0.1', port: 80, ready: 1, busy: 0, lastSeen: 0, inRotationSince: -(10 ** 16) }, 'm'), '10.0.0.1\t80\tm\t1\t0');
    assert.equal(encodeRecord({ ip: '10.0.0.1', port: 80, ready: 1, busy: 0, lastSeen: 1000, inRotationSince: 0.4 }, 'm'), '10.0.0.1\t80\tm\t1\t0\tr1000');
  });

  it('refuses what is not a record: never throws, and anything accepted is printable and in range (property)', () => {
    const mutated = fc.tuple(server, monitorId, fc.option(fc.integer({ min: -(10 ** 6), max: 10 ** 12 }), { nil: undefined }), fc.nat(), fc.string({ maxLength: 6 })).map(([status, monitor, since, at, junk]) => {
      const text = encodeRecord({ ...status, lastSeen: 0, ...(since === undefined ? {} : { inRotationSince: since }) }, monitor);
      const cut = at % (text.length + 1);
      return { key: status.ip, text: text.slice(0, cut) + junk + text.slice(cut + junk.length) };
    });
    const anything = fc.record({ key: fc.string(), text: fc.string() });
    fc.assert(
      fc.property(fc.oneof(mutated, anything), ({ key, text }) => {
        const parsed = parseRecord(key, text);
        if (typeof parsed === 'string') return;
        assert.ok(!/[\s<>&"']/.test(parsed.ip));
        assert.ok(isValidMonitorId(parsed.monitor));
        assert.ok(parsed.port >= 1 && parsed.port <= 65_535 && parsed.ready <= MAX_COUNT && parsed.busy <= MAX_COUNT);
        for (const [name, value] of Object.entries(parsed.fields ?? {})) assert.ok(!UNPRINTABLE.test(name) && !UNPRINTABLE.test(value));
        assert.ok(key === parsed.ip || key === serverKey(parsed.ip, parsed.port, 'ip:port'));
        assert.ok(parsed.inRotationMs === undefined || (Number.isSafeInteger(parsed.inRotationMs) && Math.abs(parsed.inRotationMs) < 10 ** 15));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses the records of the old JSON format, empty fields, signs and leading zeros', () => {
    for (const text of [
      '{"ip":"10.0.0.1","port":80,"ready":1,"busy":0,"monitor":"m"}',
      '10.0.0.1\t80\tm\t1\t0\t{}',
      '10.0.0.1\t80\tm\t+1\t0',
      '10.0.0.1\t80\tm\t01\t0',
      '10.0.0.1\t80\tm\t1\t0\t',
      '10.0.0.1\t080\tm\t1\t0',
      '10.0.0.1\t80\t\t1\t0',
      `10.0.0.1\t80\tm\t${MAX_COUNT + 1}\t0`,
      '10.0.0.1\t80\tm\t1\t0\t["a"]',
      '10.0.0.1\t80\tm\t1',
    ]) {
      assert.equal(typeof parseRecord('10.0.0.1', text), 'string', JSON.stringify(text));
    }
    assert.deepEqual(parseRecord('10.0.0.1', `10.0.0.1\t80\tm\t${MAX_COUNT}\t0`), { ip: '10.0.0.1', port: 80, ready: MAX_COUNT, busy: 0, monitor: 'm' });
  });
});

describe('Redis change messages', () => {
  const key = fc.oneof(fc.ipV4(), fc.ipV4().map((ip) => `${ip}:80`));
  const change: fc.Arbitrary<Change> = fc.oneof(
    fc.record({ kind: fc.constant('put' as const), key, age: count, record: fc.tuple(server, monitorId).map(([status, monitor]) => encodeRecord({ ...status, lastSeen: 0 }, monitor)) }),
    fc.record({ kind: fc.constant('remove' as const), key }),
    fc.record({ kind: fc.constant('admin' as const), key, state: fc.constantFrom('draining' as const, 'disabled' as const, undefined) }),
  );

  it('round trip: a batch of many changes decodes, in one pass, to the same changes in order (property)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 48 }), fc.nat({ max: 2 ** 48 }), fc.array(change, { minLength: 1, maxLength: 200 }), (sequence, time, changes) => {
        const { header, seen, refused } = decode(encodeChanges(sequence, time, changes));
        assert.deepEqual(refused, []);
        assert.equal(header?.sequence, sequence);
        assert.equal(header?.time, time);
        assert.deepEqual(seen, changes.map((c) => ({ ...c })));
      }),
      { numRuns: 300 },
    );
  });

  it('a malformed batch: each bad line is refused once, the good lines around it still arrive; nothing throws (property)', () => {
    const junk = fc.oneof(
      fc.string({ minLength: 1, maxLength: 30 }).map((text) => text.replaceAll('\n', ' ')),
      fc.constantFrom('P', 'P ', 'P k', 'P k x r', 'P k -1 r', 'D', 'D a b', 'A k <b>', 'A k', 'X junk', `P ${'k'.repeat(101)} 0 r`),
    );
    const line = fc.oneof(change.map((c) => ({ good: true as const, change: c })), junk.map((text) => ({ good: false as const, text })));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 50 }), (lines) => {
        const body = lines.map((l) => (l.good ? encodeChanges(0, 0, [l.change]).slice(4) : l.text)).join('\n');
        const { seen, refused } = decode(`7 1\n${body}`);
        const good = lines.filter((l) => l.good).map((l) => l.change);
        // A junk line may happen to be a well-formed change; every line gives exactly one outcome.
        assert.equal(seen.length + refused.length, lines.length);
        assert.ok(seen.length >= good.length);
      }),
      { numRuns: 500 },
    );
    for (const message of ['', 'x', '1\n', '1 2', 'a b\nP k 0 r', '-1 0\nD k', `${'9'.repeat(16)} 0\nD k`]) assert.equal(readChangeHeader(message), undefined, message);
  });
});
