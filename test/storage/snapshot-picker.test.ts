/**
 * The cached picker behind SlotStoreView and HeartbeatFileReader returns exactly what the
 * pure pickBackend returns, on random snapshots and member lists.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickBackend, type BackendMember, type KeyBy, type ServerStatus } from '../../src/index.js';
import { SnapshotPicker } from '../../src/stores/snapshot-picker.js';
import { seededRandom } from './helpers.js';

const NOW = 1_700_000_000_000;

function randomSnapshot(random: () => number): ServerStatus[] {
  const count = Math.floor(random() * 12);
  return Array.from({ length: count }, () => ({
    // Few distinct hosts and ports, so duplicate keys occur.
    ip: random() < 0.2 ? `2001:db8::${Math.floor(random() * 4)}` : `10.0.0.${Math.floor(random() * 6)}`,
    port: random() < 0.5 ? 80 : 8080,
    ready: Math.floor(random() * 40),
    busy: random() < 0.3 ? 0 : Math.floor(random() * 10),
    lastSeen: NOW - Math.floor(random() * 15_000),
  }));
}

function randomMembers(random: () => number): BackendMember[] {
  const count = 1 + Math.floor(random() * 8);
  return Array.from({ length: count }, (): BackendMember => {
    const host = random() < 0.2 ? `[2001:db8::${Math.floor(random() * 4)}]` : `10.0.0.${Math.floor(random() * 7)}`;
    const port = random() < 0.5 ? 80 : 8080;
    const shape = random();
    if (shape < 0.4) return `http://${host}:${port}`;
    if (shape < 0.6) return `${host}:${port}`;
    if (shape < 0.8) return new URL(`http://${host}:${port}/`);
    return { host: host.replace(/^\[|\]$/g, ''), port };
  });
}

describe('SnapshotPicker', () => {
  for (const keyBy of ['ip', 'ip:port'] as KeyBy[]) {
    it(`matches the pure pickBackend on 300 random snapshots (keyBy ${keyBy})`, () => {
      const shapes = seededRandom(99);
      for (let round = 0; round < 300; round++) {
        const servers = randomSnapshot(shapes);
        const members = randomMembers(shapes);
        const seed = round + 1;
        const picker = new SnapshotPicker({ keyBy, staleAfter: 10_000, warmupDivisor: 4, expireAfter: 30_000, random: seededRandom(seed), now: () => NOW });
        picker.use(servers);
        const expected = seededRandom(seed);
        for (let i = 0; i < 20; i++) {
          const withMembers = i % 2 === 0;
          const got = picker.pick(withMembers ? members : undefined);
          const want = withMembers
            ? pickBackend(servers, members, { random: expected, now: NOW, keyBy })
            : pickBackend(servers, undefined, { random: expected, now: NOW, keyBy });
          assert.equal(got, want, `round ${round}, pick ${i}`);
        }
      }
    });
  }

  it('treats expired servers as weightless, and notices a changed URL member', () => {
    const servers: ServerStatus[] = [
      { ip: '10.0.0.1', port: 80, ready: 5, busy: 1, lastSeen: NOW - 5000 },
      { ip: '10.0.0.2', port: 80, ready: 5, busy: 1, lastSeen: NOW },
    ];
    const picker = new SnapshotPicker({ keyBy: 'ip', staleAfter: 10_000, warmupDivisor: 4, expireAfter: 3000, random: () => 0, now: () => NOW });
    picker.use(servers);
    assert.equal(picker.pick(undefined), servers[1]);
    const member = new URL('http://10.0.0.1/');
    assert.equal(picker.pick([member]), undefined);
    member.hostname = '10.0.0.2';
    assert.equal(picker.pick([member]), member);
  });
});
