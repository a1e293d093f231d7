import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalHost, FileStore, formatHeartbeat, HeartMonitor, MAX_COUNT, parseHeartbeat, pickBackend, readHeartbeatFile, type ServerStatus } from '../../src/index.js';
import { referenceParse } from '../helpers/reference-heartbeat.js';
import { size } from '../helpers/stress.js';

const runs = size(3000, 200_000);

/** Pieces that are close to the grammar, so generated messages are often valid and often barely not. */
const keyArb = fc.constantFrom('v', 'V', 'ready', 'READY', 'Ready', 'busy', 'bUsY', 'port', 'PORT', '%72eady', 'b%75sy', 'x', 'ts', 'sig', '', '%', '%zz');
const numberText = fc.oneof(
  fc.nat({ max: 100 }).map(String),
  fc.integer({ min: 0, max: Number(MAX_COUNT) + 10 }).map(String),
  fc.integer({ min: 0, max: 70_000 }).map(String),
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
  fc.tuple(fc.nat({ max: 12 }), fc.nat({ max: 999 })).map(([zeros, n]) => '0'.repeat(zeros) + String(n)),
  fc.constantFrom('', '-1', '+1', ' 1', '1 ', '12x', '0x10', '1e3', '1.0', '%31', '%3', '٣', 'NaN', '1%00'),
);
const pieceArb = fc.oneof(
  fc.tuple(keyArb, numberText).map(([k, v]) => `${k}=${v}`),
  keyArb,
  fc.tuple(keyArb, numberText, numberText).map(([k, a, b]) => `${k}=${a}=${b}`),
  fc.string({ maxLength: 6 }),
);
const nearValid = fc.array(pieceArb, { maxLength: 8 }).chain((pieces) =>
  fc.constantFrom('&', '&&').map((sep) => pieces.join(sep)),
);

function parseMatchesReference(bytes: Uint8Array): void {
  const actual = parseHeartbeat(bytes);
  const expected = referenceParse(bytes);
  assert.equal(actual.ok, expected.ok, `ok differs for ${JSON.stringify(Buffer.from(bytes).toString('latin1'))}: ${actual.ok ? '' : actual.reason}`);
  if (actual.ok && expected.ok) {
    assert.deepEqual([actual.ready, actual.busy, actual.port], [expected.ready, expected.busy, expected.port]);
  }
}

describe('parseHeartbeat (property)', () => {
  it('never throws and agrees with the reference grammar on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1100 }), (bytes) => parseMatchesReference(bytes)),
      { numRuns: runs },
    );
  });

  it('never throws and agrees with the reference on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        assert.doesNotThrow(() => parseHeartbeat(text));
        parseMatchesReference(Buffer.from(text, 'utf8'));
      }),
      { numRuns: runs },
    );
  });

  it('agrees with the reference on near-valid messages (both outcomes occur)', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(nearValid, (text) => {
        const bytes = Buffer.from(text, 'utf8');
        parseMatchesReference(bytes);
        if (referenceParse(bytes).ok) accepted++;
        else refused++;
      }),
      // Found by this property: zero-padded numbers longer than 10 digits were refused, and
      // a `%00` in a piece whose key a later duplicate overrides was accepted.
      { numRuns: runs, examples: [['b%75sy=00000000100&%72eady=0&v=0'], ['v=1%00&READY=0&b%75sy&v='], ['v=1%00=0&v=&busy&READY']] },
    );
    // The generator must exercise both sides of the grammar, or the property says little.
    assert.ok(accepted > runs / 100, `only ${accepted} of ${runs} generated messages were valid`);
    assert.ok(refused > runs / 100, `only ${refused} of ${runs} generated messages were invalid`);
  });

  it('accepts every mod_heartbeat message in range and refuses the first value past it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number(MAX_COUNT) }), fc.integer({ min: 0, max: Number(MAX_COUNT) }), (ready, busy) => {
        const parsed = parseHeartbeat(`v=1&ready=${ready}&busy=${busy}`);
        assert.ok(parsed.ok);
        assert.deepEqual([parsed.ready, parsed.busy, parsed.port], [ready, busy, 80]);
      }),
      { numRuns: runs },
    );
    assert.equal(parseHeartbeat(`v=1&ready=${MAX_COUNT + 1}&busy=0`).ok, false);
  });
});

// NUL has no place in a heartbeat (formatHeartbeat refuses it; see the test below).
const extraKey = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 8 })
  .filter((key) => key === key.toLowerCase() && !['v', 'ready', 'busy', 'port'].includes(key) && !key.includes('\0'));

describe('formatHeartbeat → parseHeartbeat (property)', () => {
  it('round-trips counts, port and extra fields', () => {
    fc.assert(
      fc.property(
        fc.record({
          ready: fc.integer({ min: 0, max: Number(MAX_COUNT) }),
          busy: fc.integer({ min: 0, max: Number(MAX_COUNT) }),
          port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
          fields: fc.dictionary(extraKey, fc.string({ unit: 'binary', maxLength: 12 }).filter((value) => !value.includes('\0')), { maxKeys: 4 }),
        }),
        (heartbeat) => {
          const parsed = parseHeartbeat(formatHeartbeat(heartbeat), { maxMessageBytes: 65507 });
          assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
          assert.equal(parsed.ready, heartbeat.ready);
          assert.equal(parsed.busy, heartbeat.busy);
          assert.equal(parsed.port, heartbeat.port ?? 80);
          assert.deepEqual({ ...parsed.fields }, { ...heartbeat.fields });
        },
      ),
      // Found by this property: a leading U+FEFF was dropped by the UTF-8 decoder.
      { numRuns: runs, examples: [[{ ready: 0, busy: 0, port: undefined, fields: { k: '\uFEFF' } }]] },
    );
  });
});

const NOW = 1_700_000_000_000;
const hosts = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', 'fd00::1', 'fd00::2'];
const serverArb = fc.record({
  ip: fc.constantFrom(...hosts),
  port: fc.constantFrom(80, 8080),
  ready: fc.oneof(fc.constant(0), fc.nat({ max: 50 }), fc.integer({ min: 0, max: Number(MAX_COUNT) })),
  busy: fc.oneof(fc.constant(0), fc.nat({ max: 50 })),
  lastSeen: fc.integer({ min: NOW - 40_000, max: NOW }),
});
const tableArb: fc.Arbitrary<ServerStatus[]> = fc.uniqueArray(serverArb, { selector: (s) => s.ip, maxLength: hosts.length });
const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const weight = (s: ServerStatus): number => (s.busy === 0 && s.ready > 0 ? Math.floor(s.ready / 4) : s.ready);
const usable = (s: ServerStatus): boolean => NOW - s.lastSeen < 10_000 && weight(s) > 0;

describe('pickBackend (property)', () => {
  it('never returns a stale, zero-weight or unknown server, and finds one when any is usable', () => {
    fc.assert(
      fc.property(tableArb, randomArb, (table, r) => {
        const chosen = pickBackend(table, undefined, { now: NOW, random: () => r });
        if (chosen === undefined) assert.ok(!table.some(usable), 'undefined although a server was usable');
        else {
          assert.ok(table.includes(chosen), 'returned a server not in the table');
          assert.ok(usable(chosen), `returned an unusable server ${JSON.stringify(chosen)}`);
        }
      }),
      { numRuns: runs },
    );
  });

  it('picks only members whose server is known, fresh and weighted', () => {
    const memberArb = fc.array(
      fc.tuple(fc.constantFrom(...hosts, '10.9.9.9', 'fd00::9'), fc.constantFrom(80, 8080)).map(([h, p]) => (h.includes(':') ? `http://[${h}]:${p}` : `http://${h}:${p}`)),
      { maxLength: 10 },
    );
    fc.assert(
      fc.property(tableArb, memberArb, randomArb, (table, members, r) => {
        const chosen = pickBackend(table, members, { now: NOW, random: () => r });
        const serverOf = (member: string): ServerStatus | undefined => table.find((s) => new URL(member).hostname.replace(/^\[|\]$/g, '') === s.ip);
        if (chosen === undefined) {
          assert.ok(!members.some((m) => { const s = serverOf(m); return s !== undefined && usable(s); }));
        } else {
          assert.ok(members.includes(chosen));
          const server = serverOf(chosen);
          assert.ok(server !== undefined && usable(server), `picked ${chosen} whose server is ${JSON.stringify(server)}`);
        }
      }),
      { numRuns: runs },
    );
  });

  it("HeartMonitor.pickBackend never returns a stale or zero-weight server for any table and age", () => {
    const heartbeatArb = fc.record({ host: fc.constantFrom(...hosts), ready: fc.nat({ max: 40 }), busy: fc.nat({ max: 3 }), at: fc.nat({ max: 30_000 }) });
    fc.assert(
      fc.property(fc.array(heartbeatArb, { maxLength: 20 }), fc.nat({ max: 40_000 }), randomArb, (beats, later, r) => {
        let t = 0;
        const monitor = new HeartMonitor({ clock: { now: () => NOW + t, monotonic: () => t }, random: () => r });
        try {
          for (const beat of [...beats].sort((a, b) => a.at - b.at)) {
            t = beat.at;
            monitor.ingest(`v=1&ready=${beat.ready}&busy=${beat.busy}`, { address: beat.host });
          }
          t += later;
          const chosen = monitor.pickBackend();
          const fresh = monitor.servers().filter((s) => NOW + t - s.lastSeen < 10_000 && weight(s) > 0);
          if (chosen === undefined) assert.equal(fresh.length, 0);
          else assert.ok(fresh.includes(chosen), `picked ${JSON.stringify(chosen)} at t=${t}`);
        } finally {
          void monitor.close();
        }
      }),
      { numRuns: Math.min(runs, 2000) },
    );
  });
});

describe('hb.dat: FileStore write → readHeartbeatFile (property)', () => {
  let dir = '';
  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  const statusArb = fc.record({
    ip: fc.oneof(fc.ipV4(), fc.ipV6()).map(canonicalHost),
    port: fc.integer({ min: 1, max: 65535 }),
    ready: fc.integer({ min: 0, max: Number(MAX_COUNT) }),
    busy: fc.integer({ min: 0, max: Number(MAX_COUNT) }),
    age: fc.nat({ max: 29_000 }),
  });

  it('reads back every server with its counts, port and lastSeen to the second', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hm-security-hbdat-'));
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(statusArb, { selector: (s) => `${s.ip} ${s.port}`, maxLength: 40 }), async (rows) => {
        const path = join(dir, `hb-${round++}.dat`);
        const store = new FileStore({ path });
        const now = Date.now();
        const written = rows.map(({ age, ...rest }) => ({ ...rest, lastSeen: now - age }));
        for (const server of written) assert.ok(store.put(server, `${server.ip} ${server.port}`));
        await store.flush();
        const read = await readHeartbeatFile(path);
        assert.equal(read.length, written.length);
        for (const server of written) {
          const back = read.find((r) => r.ip === server.ip && r.port === server.port);
          assert.ok(back !== undefined, `${server.ip}:${server.port} missing`);
          assert.deepEqual([back.ready, back.busy], [server.ready, server.busy]);
          // lastseen is whole seconds, and the reader ages entries by the file's mtime, which the
          // kernel stamps from a coarse clock (a few ms behind Date.now()): found by this property.
          assert.ok(back.lastSeen > server.lastSeen - 50 && back.lastSeen < server.lastSeen + 2000, `lastSeen ${back.lastSeen} vs ${server.lastSeen}`);
        }
        await rm(path, { force: true });
      }),
      { numRuns: Math.min(runs, 200) },
    );
  });
});

describe('HeartMonitor.pickBackend with administrative states (property)', () => {
  it('never returns a drained or disabled server, with or without members', () => {
    const heartbeatArb = fc.record({ host: fc.constantFrom(...hosts), ready: fc.nat({ max: 40 }), busy: fc.nat({ max: 3 }) });
    fc.assert(
      fc.property(fc.array(heartbeatArb, { maxLength: 20 }), fc.subarray(hosts), fc.subarray(hosts), fc.array(randomArb, { minLength: 1, maxLength: 20 }), (beats, drained, disabled, draws) => {
        let next = 0;
        const monitor = new HeartMonitor({ clock: { now: () => NOW, monotonic: () => 0 }, random: () => draws[next++ % draws.length] ?? 0 });
        for (const beat of beats) monitor.ingest(`v=1&ready=${beat.ready}&busy=${beat.busy}`, { address: beat.host });
        for (const ip of drained) monitor.drain(ip);
        for (const ip of disabled) monitor.disable(ip);
        // States survive later heartbeats.
        for (const beat of beats) monitor.ingest(`v=1&ready=${beat.ready}&busy=${beat.busy}`, { address: beat.host });
        const members = hosts.map((h) => (h.includes(':') ? `http://[${h}]:80` : `http://${h}:80`));
        for (let i = 0; i < draws.length; i++) {
          const chosen = monitor.pickBackend();
          if (chosen !== undefined) assert.ok(!drained.includes(chosen.ip) && !disabled.includes(chosen.ip), `picked ${chosen.ip}`);
          const member = monitor.pickBackend(members);
          if (member !== undefined) {
            const host = new URL(member).hostname.replace(/^\[|\]$/g, '');
            assert.ok(!drained.includes(host) && !disabled.includes(host), `picked member ${member}`);
          }
        }
        void monitor.close();
      }),
      { numRuns: Math.min(runs, 2000) },
    );
  });
});
