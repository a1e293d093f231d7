import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HeartbeatFileReader, SlotStore, formatHeartbeatFile, pickBackend, type ServerStatus } from '../../src/index.js';
import { seededRandom } from '../helpers/random.js';

const RANDOMS = Array.from({ length: 97 }, (_, i) => i / 97);

/** A random source the test steers, and a wall clock it moves. */
function steering() {
  let next = 0;
  let now = 1_700_000_000_000;
  return {
    random: () => next,
    clock: { now: () => now },
    set: (r: number) => void (next = r),
    advance: (ms: number) => void (now += ms),
    now: () => now,
  };
}

describe('SlotStore view picks (indexed) equal the pure function on the same snapshot', () => {
  it('across writes, staleness and in-place changes to a members array', () => {
    const s = steering();
    const store = new SlotStore({ maxServers: 32, staleAfter: 10_000, expireAfter: 30_000 });
    const view = SlotStore.attach(store.buffer, { random: s.random, clock: s.clock });
    const check = (members: readonly string[] | undefined, note: string): void => {
      for (const r of RANDOMS) {
        s.set(r);
        const got = members === undefined ? view.pickBackend() : view.pickBackend(members);
        const want = pickBackend(view.servers(), members as readonly string[], { random: () => r, now: s.now(), staleAfter: 10_000 });
        assert.deepEqual(got, want, `${note}, random ${r}`);
      }
    };
    for (let i = 1; i <= 12; i++) store.put({ ip: `10.0.0.${i}`, port: 80, ready: i * 2, busy: i % 3, lastSeen: s.now() - i * 1000 });
    const frozen = Object.freeze(['10.0.0.1:80', 'http://10.0.0.5', '10.0.0.9:1', 'http://10.0.0.77']);
    const plain = ['10.0.0.2:80', '10.0.0.6:80', '10.0.0.12:80'];
    // Members whose servers the writes below change, checked after each write.
    const watched = Object.freeze(['10.0.0.6:80', '10.0.0.12:80', '10.0.0.40:80', '10.0.0.3:80', '10.0.0.2:80']);
    for (const round of [1, 2]) {
      check(undefined, `all servers, round ${round}`);
      check(frozen, `frozen members, round ${round}`);
      check(plain, `plain members, round ${round}`);
      check(watched, `watched members, round ${round}`);
    }
    s.advance(2_500); // 10.0.0.8 … 10.0.0.12 turn stale with no write in between
    check(undefined, 'after time passed');
    check(frozen, 'frozen, after time passed');
    check(plain, 'plain, after time passed');
    store.put({ ip: '10.0.0.12', port: 80, ready: 50, busy: 1, lastSeen: s.now() });
    plain.push('10.0.0.11:80');
    check(plain, 'after a write and a push');
    check(watched, 'watched, after a write');
    plain[0] = '10.0.0.12:80';
    check(plain, 'after replacing a member');
    store.delete('10.0.0.2');
    store.put({ ip: '10.0.0.40', port: 80, ready: 7, busy: 1, lastSeen: s.now() });
    plain.push('10.0.0.40:80');
    check(plain, 'after a slot was reused by another server');
    check(undefined, 'all servers, after a slot was reused');
    check(watched, 'watched, after a slot was reused');
    // Two servers on one IP (stored under ip:port keys), matched by IP as Apache does.
    store.put({ ip: '10.0.0.6', port: 81, ready: 33, busy: 2, lastSeen: s.now() }, '10.0.0.6:81');
    check(plain, 'with two servers on one IP');
    check(watched, 'watched, with two servers on one IP');
    store.put({ ip: '10.0.0.6', port: 80, ready: 3, busy: 2, lastSeen: s.now() });
    check(plain, 'after the first of them changed');
    check(watched, 'watched, after the first of them changed');
    store.put({ ip: '10.0.0.6', port: 81, ready: 1, busy: 1, lastSeen: s.now() }, '10.0.0.6:81');
    check(watched, 'watched, after the second of them changed');
    store.delete('10.0.0.6:81');
    store.put({ ip: '10.0.0.41', port: 80, ready: 4, busy: 1, lastSeen: s.now() });
    check(watched, 'watched, after the second of them left and its slot was reused');
    check(frozen, 'frozen, at the end');
  });
});

describe('hb.dat reader picks (indexed) equal the pure function on the servers it reads', () => {
  it('across re-reads, staleness and expiry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hm-snapshot-pick-'));
    try {
      const s = steering();
      const path = join(dir, 'hb.dat');
      const write = (servers: ServerStatus[]): void => writeFileSync(path, formatHeartbeatFile(servers, s.now()));
      const reader = new HeartbeatFileReader({ path, random: s.random, clock: s.clock, checkInterval: 0, staleAfter: 10_000, expireAfter: 20_000 });
      const members = Object.freeze(['10.0.1.1:80', '10.0.1.2:80', '10.0.1.3:80', '10.0.1.4:80']);
      const check = (note: string): void => {
        for (const r of RANDOMS) {
          s.set(r);
          const servers = reader.servers();
          assert.deepEqual(reader.pickBackend(members), pickBackend(servers, members, { random: () => r, now: s.now(), staleAfter: 10_000 }), `${note}, random ${r}`);
          assert.deepEqual(reader.pickBackend(), pickBackend(servers, undefined, { random: () => r, now: s.now(), staleAfter: 10_000 }), `${note} (all), random ${r}`);
        }
      };
      write([1, 2, 3].map((i) => ({ ip: `10.0.1.${i}`, port: 80, ready: i * 4, busy: i === 2 ? 0 : 1, lastSeen: s.now() - i * 3000 })));
      check('first read');
      s.advance(2_000); // 10.0.1.3 is now 11 s old: stale
      check('a server turned stale');
      write([{ ip: '10.0.1.4', port: 80, ready: 9, busy: 2, lastSeen: s.now() }, { ip: '10.0.1.1', port: 80, ready: 1, busy: 1, lastSeen: s.now() }]);
      check('re-read');
      s.advance(9_999);
      check('just before staleness');
      s.advance(1);
      check('stale');
      assert.equal(reader.pickBackend(members), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SlotStore view picks while servers come and go', () => {
  it('equal the pure function after every write, delete and clock step (slots taken, freed and reused)', () => {
    const s = steering();
    const store = new SlotStore({ maxServers: 40, staleAfter: 10_000, expireAfter: 30_000 });
    const view = SlotStore.attach(store.buffer, { random: s.random, clock: s.clock });
    const ops = seededRandom(21);
    const ips = Array.from({ length: 30 }, (_, i) => `10.0.4.${i + 1}`);
    const members = Object.freeze([...ips.map((ip) => `http://${ip}:80`), 'http://10.0.4.7:80', '10.0.4.250:80']);
    const held = new Set<string>();
    let deletes = 0;
    for (let step = 0; step < 800; step++) {
      const op = ops();
      const ip = ips[Math.floor(ops() * ips.length)] as string;
      if (op < 0.55) {
        store.put({ ip, port: 80, ready: Math.floor(ops() * 5) * 4, busy: ops() < 0.3 ? 0 : 1, lastSeen: s.now() });
        held.add(ip);
      } else if (op < 0.85) {
        if (store.delete(ip)) deletes++;
        held.delete(ip);
      } else {
        s.advance(Math.floor(ops() * 6_000));
      }
      // Several writes between picks now and then, so one pick replays a batch of them.
      if (ops() < 0.3) continue;
      const servers = view.servers();
      for (const r of [0, 0.21, 0.5, 0.83, 0.999]) {
        s.set(r);
        assert.equal(view.pickBackend(members), pickBackend(servers, members, { random: () => r, now: s.now(), staleAfter: 10_000 }), `step ${step}, random ${r}`);
        assert.deepEqual(view.pickBackend(), pickBackend(servers, undefined, { random: () => r, now: s.now(), staleAfter: 10_000 }), `step ${step} (all), random ${r}`);
      }
    }
    assert.ok(deletes > 100, `slots were freed and reused (${deletes} deletes)`);
  });
});
