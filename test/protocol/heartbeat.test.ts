import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatHeartbeat, parseHeartbeat, type HeartbeatParseResult, type ParsedHeartbeat } from '../../src/index.js';

function ok(result: HeartbeatParseResult): ParsedHeartbeat {
  if (!result.ok) assert.fail(`expected the heartbeat to parse, got: ${result.reason}`);
  return result;
}

function reason(result: HeartbeatParseResult): string {
  if (result.ok) assert.fail(`expected the heartbeat to be rejected, got ${JSON.stringify(result)}`);
  return result.reason;
}

describe('parseHeartbeat (SPEC 1.2)', () => {
  it('parses the message a real httpd sends', () => {
    const parsed = ok(parseHeartbeat('v=1&ready=75&busy=0'));
    assert.deepEqual(
      { version: parsed.version, ready: parsed.ready, busy: parsed.busy, port: parsed.port, fields: parsed.fields },
      { version: '1', ready: 75, busy: 0, port: 80, fields: {} },
    );
  });

  it('accepts bytes as well as text, including a view into a larger buffer', () => {
    assert.equal(ok(parseHeartbeat(Buffer.from('v=1&ready=3&busy=2'))).ready, 3);
    const big = Buffer.from('XXXXv=1&ready=9&busy=1YYYY');
    assert.equal(ok(parseHeartbeat(big.subarray(4, big.length - 4))).ready, 9);
  });

  it('looks keys up case-insensitively', () => {
    const parsed = ok(parseHeartbeat('V=1&READY=5&Busy=2&PORT=8080'));
    assert.equal(parsed.ready, 5);
    assert.equal(parsed.busy, 2);
    assert.equal(parsed.port, 8080);
  });

  it('lets a later duplicate win, also across letter case', () => {
    assert.equal(ok(parseHeartbeat('v=1&ready=1&busy=0&ready=7')).ready, 7);
    assert.equal(ok(parseHeartbeat('v=1&ready=1&busy=4&BUSY=6')).busy, 6);
    // The earlier value does not have to be valid when a later one replaces it.
    assert.equal(ok(parseHeartbeat('v=1&ready=oops&busy=0&ready=2')).ready, 2);
  });

  it('gives a piece without `=` the value "1"', () => {
    const parsed = ok(parseHeartbeat('v&ready=3&busy&drain'));
    assert.equal(parsed.version, '1');
    assert.equal(parsed.busy, 1);
    assert.deepEqual(parsed.fields, { drain: '1' });
  });

  it('splits a piece at the first `=` only', () => {
    assert.deepEqual(ok(parseHeartbeat('v=1&ready=1&busy=1&sig=a=b=c')).fields, { sig: 'a=b=c' });
  });

  it('%XX-unescapes keys and values; invalid escapes stay literal', () => {
    const parsed = ok(parseHeartbeat('v=1&re%61dy=5&busy=%32&name=a%20b&city=Z%C3%BCrich&odd=100%&bad=%zz'));
    assert.equal(parsed.ready, 5);
    assert.equal(parsed.busy, 2);
    assert.deepEqual(parsed.fields, { name: 'a b', city: 'Zürich', odd: '100%', bad: '%zz' });
  });

  it('does not turn `+` into a space', () => {
    assert.deepEqual(ok(parseHeartbeat('v=1&ready=1&busy=1&name=a+b')).fields, { name: 'a+b' });
    // Apache's atoi would read "+5" as 5; we are strict.
    assert.match(reason(parseHeartbeat('v=1&ready=+5&busy=1')), /`ready`/);
  });

  it('skips empty pieces', () => {
    const parsed = ok(parseHeartbeat('&&v=1&&ready=2&&&busy=3&'));
    assert.deepEqual([parsed.ready, parsed.busy, parsed.fields], [2, 3, {}]);
  });

  for (const missing of ['v', 'ready', 'busy'] as const) {
    it(`rejects a message without \`${missing}\``, () => {
      const pieces = ['v=1', 'ready=4', 'busy=1'].filter((piece) => !piece.startsWith(`${missing}=`));
      assert.equal(reason(parseHeartbeat(pieces.join('&'))), `missing \`${missing}\``);
    });
  }

  it('rejects an empty message', () => {
    assert.match(reason(parseHeartbeat('')), /empty/);
    assert.match(reason(parseHeartbeat('&&&')), /missing/);
  });

  for (const value of ['abc', '12x', '', ' 5', '5 ', '1e3', '0x10', '1.5', '٣']) {
    it(`rejects the non-numeric ready ${JSON.stringify(value)} with a reason naming the key`, () => {
      assert.match(reason(parseHeartbeat(`v=1&ready=${encodeURIComponent(value)}&busy=0`)), /`ready` must be a decimal integer/);
    });
  }

  it('rejects negative counts', () => {
    assert.match(reason(parseHeartbeat('v=1&ready=5&busy=-1')), /`busy` must be a decimal integer in 0\.\.2147483647, got "-1"/);
    assert.match(reason(parseHeartbeat('v=1&ready=-5&busy=1')), /`ready`/);
  });

  it('accepts 2^31-1 and rejects 2147483648 and longer numbers', () => {
    assert.equal(ok(parseHeartbeat('v=1&ready=2147483647&busy=2147483647')).ready, 2 ** 31 - 1);
    assert.match(reason(parseHeartbeat('v=1&ready=2147483648&busy=0')), /`ready`/);
    assert.match(reason(parseHeartbeat('v=1&ready=0&busy=99999999999')), /`busy`/);
  });

  it('accepts leading zeros, as decimal', () => {
    assert.equal(ok(parseHeartbeat('v=1&ready=007&busy=0')).ready, 7);
  });

  it('defaults the port to 80 and accepts 1..65535 only', () => {
    assert.equal(ok(parseHeartbeat('v=1&ready=1&busy=1')).port, 80);
    assert.equal(ok(parseHeartbeat('v=1&ready=1&busy=1&port=1')).port, 1);
    assert.equal(ok(parseHeartbeat('v=1&ready=1&busy=1&port=65535')).port, 65535);
    for (const port of ['0', '65536', '-80', 'http', '']) {
      assert.match(reason(parseHeartbeat(`v=1&ready=1&busy=1&port=${port}`)), /`port` must be a decimal integer in 1\.\.65535/, port);
    }
  });

  it('keeps unknown fields (lower-cased keys) and leaves the known ones out of `fields`', () => {
    const parsed = ok(parseHeartbeat('v=2&ready=1&busy=1&port=81&Zone=eu-1&sig=abc'));
    assert.equal(parsed.version, '2');
    assert.deepEqual(parsed.fields, { zone: 'eu-1', sig: 'abc' });
  });

  it('rejects messages over maxMessageBytes instead of truncating them', () => {
    const base = 'v=1&ready=1&busy=1&pad=';
    const exactly1000 = base + 'x'.repeat(1000 - base.length);
    assert.equal(Buffer.byteLength(exactly1000), 1000);
    assert.equal(ok(parseHeartbeat(exactly1000)).ready, 1);
    assert.match(reason(parseHeartbeat(`${exactly1000}x`)), /1001 bytes, over the 1000-byte limit/);
    // Multi-byte text is measured in bytes, not characters.
    assert.match(reason(parseHeartbeat(base + 'é'.repeat(500))), /over the 1000-byte limit/);
    assert.match(reason(parseHeartbeat('v=1&ready=1&busy=1', { maxMessageBytes: 10 })), /over the 10-byte limit/);
  });

  it('rejects a NUL byte rather than cutting the message there', () => {
    assert.match(reason(parseHeartbeat('v=1&ready=1&busy=1\0garbage')), /NUL/);
  });
});

describe('formatHeartbeat (SPEC 1.1)', () => {
  it('writes exactly what mod_heartbeat sends', () => {
    assert.equal(formatHeartbeat({ ready: 75, busy: 0 }), 'v=1&ready=75&busy=0');
    assert.deepEqual(Buffer.from(formatHeartbeat({ ready: 75, busy: 0 })), Buffer.from('v=1&ready=75&busy=0', 'ascii'));
  });

  it('appends the port and escaped extra fields', () => {
    assert.equal(formatHeartbeat({ ready: 1, busy: 2, port: 8080 }), 'v=1&ready=1&busy=2&port=8080');
    assert.equal(formatHeartbeat({ ready: 1, busy: 2, fields: { 'a b': 'x&y=z' } }), 'v=1&ready=1&busy=2&a%20b=x%26y%3Dz');
  });

  it('round-trips through parseHeartbeat', () => {
    const parsed = ok(parseHeartbeat(formatHeartbeat({ ready: 12, busy: 3, port: 8443, fields: { zone: 'eu 1', note: 'a+b&c' } })));
    assert.deepEqual([parsed.ready, parsed.busy, parsed.port, parsed.fields], [12, 3, 8443, { zone: 'eu 1', note: 'a+b&c' }]);
  });

  it('refuses extra fields that would override v, ready, busy or port on the receiver', () => {
    for (const key of ['ready', 'BUSY', 'v', 'Port']) {
      assert.throws(() => formatHeartbeat({ ready: 1, busy: 1, fields: { [key]: '99' } }), { name: 'TypeError', message: /reserved key/ });
    }
  });

  it('throws RangeError for counts or ports out of range', () => {
    assert.throws(() => formatHeartbeat({ ready: -1, busy: 0 }), { name: 'RangeError', message: /`ready`/ });
    assert.throws(() => formatHeartbeat({ ready: 1.5, busy: 0 }), RangeError);
    assert.throws(() => formatHeartbeat({ ready: 0, busy: 2 ** 31 }), { name: 'RangeError', message: /`busy`/ });
    assert.throws(() => formatHeartbeat({ ready: 0, busy: 0, port: 0 }), { name: 'RangeError', message: /`port`/ });
  });
});
