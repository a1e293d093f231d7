import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlotStore, pickBackend, type ServerStatus } from '../../src/index.js';
import { changedSlots, generation as generationOf, readHeader, ringEntries } from '../../src/stores/slot-layout.js';

const RANDOMS = Array.from({ length: 41 }, (_, i) => i / 41);
const START = 1_700_000_000_000;

/** A store of `maxServers` slots, a view on it with a steered random and clock, and a seeded write stream. */
function setup(maxServers: number) {
  let now = START;
  let next = 0;
  let seed = 12345;
  const store = new SlotStore({ maxServers, staleAfter: 10_000, expireAfter: 30_000 });
  const view = SlotStore.attach(store.buffer, { random: () => next, clock: { now: () => now } });
  const words = new Int32Array(store.buffer);
  /** Deterministic pseudo-random integer below `n` (a test needs repeatable streams). */
  const below = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const ips = Array.from({ length: maxServers + 20 }, (_, i) => `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  /** One write: mostly heartbeats of known servers, sometimes a new server or a removal. */
  const write = (): void => {
    now += 1;
    const ip = ips[below(ips.length)] ?? '10.9.9.9';
    if (below(10) === 0) store.delete(ip);
    else store.put({ ip, port: 80, ready: below(100), busy: below(4), lastSeen: now - below(12_000) });
  };
  /** Every pick of the view equals the pure function's on the owner's snapshot. */
  const check = (note: string): void => {
    const owner = store.servers();
    const byIp = (a: ServerStatus, b: ServerStatus): number => a.ip.localeCompare(b.ip);
    assert.deepEqual([...view.servers()].sort(byIp), [...owner].sort(byIp), `${note}: same servers`);
    const members = ips.map((ip) => `http://${ip}:80`);
    for (const r of RANDOMS) {
      next = r;
      const options = { random: () => r, now, staleAfter: 10_000 };
      assert.equal(view.pickBackend(members), pickBackend(owner, members, options), `${note}, members, random ${r}`);
      // Without members the order of the snapshot matters: the view's is slot order.
      assert.deepEqual(view.pickBackend(), pickBackend(view.servers(), undefined, options), `${note}, all servers, random ${r}`);
    }
  };
  return { store, view, words, write, check, generation: () => generationOf(words) };
}

describe('SlotStore change ring', () => {
  it('lists exactly the slots written since a generation, and refuses once the writer lapped it', () => {
    const { store, words, generation } = setup(100);
    const header = readHeader(store.buffer);
    const entries = ringEntries(100);
    const into = new Int32Array(entries);
    const since = generation();
    const slots: number[] = [];
    const at = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const ip = `10.2.0.${(i % 7) + 1}`;
      store.put({ ip, port: 80, ready: i, busy: 1, lastSeen: START });
      if (!at.has(ip)) at.set(ip, at.size);
      slots.push(at.get(ip) ?? -1);
    }
    const count = changedSlots(words, header, since, generation(), into);
    assert.equal(count, 30);
    assert.deepEqual([...into.subarray(0, 30)], slots);
    for (let i = 0; i < entries; i++) store.put({ ip: '10.2.0.1', port: 80, ready: i, busy: 1, lastSeen: START });
    assert.equal(changedSlots(words, header, since, generation(), into), false);
    // Caught up to within the ring again: listed.
    const recent = (generation() - 5) | 0;
    assert.equal(changedSlots(words, header, recent, generation(), into), 5);
  });

  it('a view catching up through the ring after each batch sees every change', () => {
    const { write, check, generation } = setup(200);
    const entries = ringEntries(200);
    check('first look');
    for (let batch = 1; batch <= 40; batch++) {
      const before = generation();
      for (let i = 0; i < 1 + ((batch * 7) % 60); i++) write();
      assert.ok(((generation() - before) | 0) < entries, 'the batch fits in the ring');
      check(`batch ${batch}`);
    }
  });

  it('a view that fell behind the ring falls back to a scan and stays correct', () => {
    const { write, check, generation } = setup(100);
    const entries = ringEntries(100);
    check('first look');
    for (let batch = 1; batch <= 6; batch++) {
      const before = generation();
      for (let i = 0; i < entries * 2 + batch; i++) write();
      assert.ok(((generation() - before) | 0) > entries, 'the writer lapped the ring');
      check(`lapped, batch ${batch}`);
      // And back on the ring afterwards.
      for (let i = 0; i < 5; i++) write();
      check(`after lap ${batch}, through the ring`);
    }
  });

  it('after batches of heartbeats edited into the snapshot in place, picks equal the pure function', () => {
    const { store, view, check } = setup(300);
    const now = START;
    for (let i = 0; i < 250; i++) store.put({ ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 80, ready: 10, busy: 1, lastSeen: now });
    check('first look');
    for (let batch = 1; batch <= 30; batch++) {
      // Known servers only, so every change keeps its position; some twice in a batch,
      // some dropping to weight 0 (ready 0 or stale), some coming back.
      for (let i = 0; i < batch * 3; i++) {
        const n = (batch * 37 + i * 11) % 250;
        store.put({ ip: `10.1.0.${n + 1}`, port: 80, ready: (batch + i) % 5 === 0 ? 0 : (n % 40) + batch, busy: i % 3, lastSeen: now - ((n + batch) % 7 === 0 ? 11_000 : 0) });
      }
      // More listed changes than servers between two picks (servers() only reads).
      if (batch % 10 === 0) {
        for (let i = 0; i < 400; i++) {
          store.put({ ip: `10.1.0.${(i % 250) + 1}`, port: 80, ready: (i % 9) + 1, busy: 0, lastSeen: now });
          if (i % 50 === 0) view.servers();
        }
      }
      check(`batch ${batch}`);
    }
  });
});
