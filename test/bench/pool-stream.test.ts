import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWindowDatagram, isWindowReady, schedule, streamBeats } from '../../bench/lib/pool-stream.js';
import { MAX_SOURCES, sourceAddress } from '../../bench/lib/sources.js';
import { parseHeartbeat } from '../../src/index.js';

// The pool bench's bookkeeping: if these drift, its loss figures count the wrong datagrams.
describe('bench sources and the paced pool stream', () => {
  it('keeps the first 65,534 source addresses of the 127.0.x.y scheme and names 100,000 distinct ones', () => {
    for (let i = 0; i < 65_534; i++) {
      const n = i + 2;
      assert.equal(sourceAddress(i), `127.0.${n >> 8}.${n & 255}`);
    }
    const addresses = new Set(Array.from({ length: 100_000 }, (_, i) => sourceAddress(i)));
    assert.equal(addresses.size, 100_000);
    assert.ok(!addresses.has('127.0.0.1'), 'no source plays the receiver');
    assert.equal(sourceAddress(65_534), '127.1.0.0');
    assert.equal(sourceAddress(MAX_SOURCES - 1), '127.255.255.254');
    assert.throws(() => sourceAddress(MAX_SOURCES), RangeError);
    assert.throws(() => sourceAddress(-1), RangeError);
  });

  it('marks window beats so the bare socket and the monitor count the same datagrams', () => {
    const beat = streamBeats();
    for (let i = 0; i < 200; i++) {
      for (let round = 0; round < 40; round++) {
        for (const inWindow of [false, true]) {
          const message = beat(i, round, inWindow);
          const parsed = parseHeartbeat(message);
          assert.ok(parsed.ok, `beat of ${i} parses`);
          assert.equal(isWindowDatagram(message), inWindow);
          assert.equal(isWindowReady(parsed.ready), inWindow);
        }
      }
    }
  });

  it('schedules each origin once per second: whole seconds give whole rounds', () => {
    assert.deepEqual(schedule(14_286, 2000, 5000), { total: 7 * 14_286, firstWindowBeat: 2 * 14_286 });
    // 1.5 s of warm-up: the first half of the origins beat twice before the window opens.
    assert.deepEqual(schedule(1000, 1500, 1000), { total: 2500, firstWindowBeat: 1500 });
  });
});
