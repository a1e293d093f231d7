// Extra heartbeat fields: one rule wherever they enter a table (a heartbeat, an hb.dat
// line, a Redis record), so every view of one table holds the same fields.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HeartMonitor, parseHeartbeatFile } from '../../src/index.js';
import { isPrintableText, keptFields, MAX_EXTRA_FIELDS } from '../../src/protocol/extra-fields.js';
import { encodeRecord, MAX_RECORD_LENGTH, parseRecord } from '../../src/stores/redis/record.js';

/**
 * Latin-1 text (the heartbeat parser reads bytes as latin-1) with what origins may send in
 * a field: control characters, C1, soft hyphen, tab among the rest (never NUL, which
 * refuses the whole heartbeat).
 */
const hostileText = fc.string({
  unit: fc.oneof(fc.constantFrom('\u0001', '\u001b', '\u007f', '\u0085', '\u00ad', '\t'), fc.integer({ min: 1, max: 255 }).map((code) => String.fromCharCode(code))),
  maxLength: 12,
});
/** `name=value` escaped as mod_heartbeat's parser unescapes it (%XX), so any character can be sent. */
const escape = (text: string): string => Array.from(Buffer.from(text, 'latin1'), (byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

function printableAndBounded(fields: Readonly<Record<string, string>> | undefined): void {
  if (fields === undefined) return;
  const names = Object.keys(fields);
  assert.ok(names.length > 0 && names.length <= MAX_EXTRA_FIELDS, `${names.length} fields`);
  for (const [name, value] of Object.entries(fields)) assert.ok(isPrintableText(name) && isPrintableText(value), JSON.stringify([name, value]));
}

describe('extra fields', () => {
  it('a monitor keeps only printable fields, at most 32, and every Redis view accepts the record it writes (property)', () => {
    const monitor = new HeartMonitor();
    const field = fc.tuple(hostileText.filter((name) => name.length > 0 && !['v', 'ready', 'busy', 'port', 'ts', 'sig'].includes(name.toLowerCase())), hostileText);
    fc.assert(
      fc.property(fc.array(field, { maxLength: 40 }), fc.integer({ min: 1, max: 250 }), (fields, host) => {
        const extra = fields
          .map(([name, value]) => `&${escape(name)}=${escape(value)}`)
          .join('');
        const address = `10.9.0.${host}`;
        monitor.ingest(Buffer.from(`v=1&ready=5&busy=1${extra}`, 'latin1'), { address });
        const status = monitor.servers().find((server) => server.ip === address);
        if (status === undefined) return; // over the monitor's message size: refused whole
        printableAndBounded(status.fields);
        // What a Redis view reads back is exactly what the monitor holds.
        const parsed = parseRecord(address, encodeRecord(status, 'm'));
        assert.ok(typeof parsed !== 'string', `a view refused the record: ${JSON.stringify(parsed)}`);
        assert.deepEqual(parsed.fields, status.fields);
      }),
      { numRuns: 500 },
    );
  });

  it('a heartbeat with an unprintable field is still valid: only that field is left out, in every path', () => {
    const monitor = new HeartMonitor();
    // Escapes decode as UTF-8: caf%c3%a9 is "café" (kept), %e2%80%ae the right-to-left override (left out).
    monitor.ingest('v=1&ready=5&busy=1&zone=eu&note=%1b[31mred&caf%c3%a9=x&bidi=a%e2%80%aeb', { address: '10.0.0.1' });
    assert.deepEqual(monitor.servers()[0]?.fields, { zone: 'eu', café: 'x' });
    const file = parseHeartbeatFile('10.0.0.2 &ready=3&busy=0&lastseen=1&port=80&zone=eu&note=%07bell\n', { writtenAt: 10_000 });
    assert.deepEqual(file.servers[0]?.fields, { zone: 'eu' });
    assert.equal(file.skipped.length, 0);
  });

  it('keptFields: first 32 in order, a later value of a kept name replaces it, skipped names never kept, __proto__ stays an own field', () => {
    const many = Array.from({ length: 40 }, (_, i) => [`f${i}`, String(i)] as const);
    const kept = keptFields([...many, ['f3', 'again'], ['sig', 'x'], ['__proto__', 'p']], new Set(['sig']));
    assert.ok(kept !== undefined);
    assert.deepEqual(Object.keys(kept), many.slice(0, MAX_EXTRA_FIELDS).map(([name]) => name));
    assert.equal(kept.f3, 'again');
    assert.ok(Object.isFrozen(kept));
    assert.equal(Object.getPrototypeOf(kept), Object.prototype);
    assert.equal(keptFields([['a\u0000', 'x'], ['sig', 'y']], new Set(['sig'])), undefined);
    const proto = keptFields([['__proto__', 'p']]);
    assert.deepEqual(Object.entries(proto ?? {}), [['__proto__', 'p']]);
  });

  it('a record that would exceed what a view accepts goes without its fields rather than be refused', () => {
    const fields = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`field${i}`, 'x'.repeat(300)]));
    const text = encodeRecord({ ip: '10.0.0.1', port: 80, ready: 2, busy: 1, lastSeen: 0, fields }, 'm');
    assert.ok(text.length <= MAX_RECORD_LENGTH);
    assert.deepEqual(parseRecord('10.0.0.1', text), { ip: '10.0.0.1', port: 80, ready: 2, busy: 1, monitor: 'm' });
    // A status made by hand with an unprintable field: the rest is written.
    const mixed = encodeRecord({ ip: '10.0.0.1', port: 80, ready: 2, busy: 1, lastSeen: 0, fields: { zone: 'eu', bad: 'a\u001bb' } }, 'm');
    assert.deepEqual(parseRecord('10.0.0.1', mixed), { ip: '10.0.0.1', port: 80, ready: 2, busy: 1, monitor: 'm', fields: { zone: 'eu' } });
  });
});
