import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHeartbeat } from '../../src/index.js';
import { seededRandom } from '../helpers/random.js';

const KEYS = ['v', 'V', 'ready', 'READY', 'Ready', 'busy', 'bUsy', 'port', 'Port', 'load', 'x', ''];
const VALUES = ['1', '0', '75', '2147483647', '2147483648', '-1', '12x', '', '007', '65535', '65536', 'abc', '1.5'];

/**
 * The same message with its first letter %-escaped: it means the same to the parser
 * (keys and values are unescaped) but cannot take the fast path, which skips escapes.
 */
function escapedTwin(message: string): string | undefined {
  const at = message.search(/[a-zA-Z]/);
  if (at === -1) return undefined;
  return `${message.slice(0, at)}%${message.charCodeAt(at).toString(16)}${message.slice(at + 1)}`;
}

describe('parseHeartbeat fast path', () => {
  it('gives the full parser result for generated messages (keys, case, duplicates, bare pieces, bad numbers)', () => {
    const random = seededRandom(42);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    let compared = 0;
    let accepted = 0;
    for (let n = 0; n < 5000; n++) {
      const pieces: string[] = [];
      const count = 1 + Math.floor(random() * 6);
      for (let k = 0; k < count; k++) {
        const roll = random();
        if (roll < 0.05) pieces.push('');
        else if (roll < 0.1) pieces.push(pick(KEYS));
        else pieces.push(`${pick(KEYS)}=${pick(VALUES)}`);
      }
      // Mostly well-formed heartbeats, so the fast path is exercised, plus the random pieces.
      const message = random() < 0.6 ? [`v=1`, `ready=${pick(VALUES)}`, `busy=${pick(VALUES)}`, ...pieces].join('&') : pieces.join('&');
      const twin = escapedTwin(message);
      if (twin === undefined) continue;
      const fast = parseHeartbeat(message);
      assert.deepEqual(fast, parseHeartbeat(twin), `message ${JSON.stringify(message)}`);
      compared++;
      if (fast.ok) accepted++;
    }
    assert.ok(compared > 4500 && accepted > 500, `compared ${compared}, accepted ${accepted}`);
  });

  it('agrees with the full parser on byte-level edge cases (NUL, zero padding, digit limits, `=` in values, bytes over 0x7f)', () => {
    const messages = [
      'v=1&ready=5&busy=0\0',
      'v=1\0&ready=5&busy=0',
      'v=1&ready=0000000000002147483647&busy=0',
      'v=1&ready=21474836470&busy=0',
      'v=1&ready=2147483648&busy=0',
      'v=1&ready=00000000000&busy=0',
      'v==1&ready=1&busy=1',
      'v=&ready=1&busy=1',
      'v=1&ready&busy&port',
      'v=1&ready=1&busy=1&port=0',
      'v=1&ready=1&busy=1&port=065535',
      'v=1&ready=1&busy=1&PORT=80&pOrT=81',
      'v=1&ready=1&busy=1&bust=1',
      'v=1&ready=1&busy=1&pory=1',
      'v=1&ready=+1&busy=1',
      'v=1&ready=1 &busy=1',
      'v=\u00e9&ready=1&busy=1',
      'v=1.0&ready=1&busy=1',
    ];
    for (const message of messages) {
      const twin = escapedTwin(message);
      assert.ok(twin !== undefined);
      assert.deepEqual(parseHeartbeat(message), parseHeartbeat(twin), `message ${JSON.stringify(message)}`);
      assert.deepEqual(parseHeartbeat(Buffer.from(message)), parseHeartbeat(twin), `bytes of ${JSON.stringify(message)}`);
    }
  });

  it('parses the messages real senders send', () => {
    assert.deepEqual(parseHeartbeat('v=1&ready=75&busy=0'), { ok: true, version: '1', ready: 75, busy: 0, port: 80, fields: {} });
    assert.deepEqual(parseHeartbeat(Buffer.from('v=1&ready=3&busy=2&port=8080')), { ok: true, version: '1', ready: 3, busy: 2, port: 8080, fields: {} });
    assert.deepEqual(parseHeartbeat('V=2&Ready=4&BUSY=1&ready=5&&'), { ok: true, version: '2', ready: 5, busy: 1, port: 80, fields: {} });
  });
});
