// Issue 12, items 8 and 9: a monitor's member pick is the pure pickBackend's pick, with the
// same random number, whatever turned stale or expired since the last sweep and whatever
// listeners of the events emitted during the pick do to the members array.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HeartMonitor, MemoryStore, pickBackend } from '../../src/index.js';
import { FakeClock } from '../helpers/clock.js';
import { seededRandom } from '../helpers/random.js';

const STALE_AFTER = 10_000;
const EXPIRE_AFTER = 30_000;

type Mutation = 'none' | 'splice-first' | 'reverse' | 'push-unknown' | 'clear' | 'replace-first';

type Step =
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'beat'; readonly server: number; readonly ready: number; readonly busy: number }
  | { readonly kind: 'pick'; readonly r: number; readonly fresh: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 4000 }), fc.constantFrom(STALE_AFTER, STALE_AFTER - 1, EXPIRE_AFTER)) }),
  fc.record({ kind: fc.constant('beat' as const), server: fc.integer({ min: 1, max: 6 }), ready: fc.integer({ min: 0, max: 40 }), busy: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('pick' as const), r: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fresh: fc.boolean() }),
);

describe('member picks match the pure pickBackend', () => {
  it('property: same member for the same random number, under staleness, expiry and listeners that mutate the array', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 5, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom<Mutation>('none', 'splice-first', 'reverse', 'push-unknown', 'clear', 'replace-first'),
        (steps, hosts, mutation) => {
          const clock = new FakeClock(1_000_000, 1_000_000);
          // The monitor gets `r` for a pick's first draw and something else for any further
          // draw: a pick that draws twice (the old stale re-draw) shows as a different member.
          let first = 0;
          let draws = 0;
          const random = (): number => (draws++ === 0 ? first : (first + 0.5) % 1);
          const monitor = new HeartMonitor({ clock, random, store: new MemoryStore(), staleAfter: STALE_AFTER, expireAfter: EXPIRE_AFTER });
          const members = hosts.map((host) => `http://10.0.0.${host}:80`);
          monitor.on('stale', () => {
            switch (mutation) {
              case 'splice-first':
                members.splice(0, 1);
                break;
              case 'reverse':
                members.reverse();
                break;
              case 'push-unknown':
                members.push('http://10.0.0.99:80');
                break;
              case 'clear':
                members.length = 0;
                break;
              case 'replace-first':
                if (members.length > 0) members[0] = 'http://10.0.0.7:80';
                break;
              case 'none':
                break;
            }
          });
          for (const s of steps) {
            if (s.kind === 'advance') clock.advance(s.ms);
            else if (s.kind === 'beat') monitor.ingest(`v=1&ready=${s.ready}&busy=${s.busy}`, { address: `10.0.0.${s.server}` });
            else {
              const list = s.fresh ? [...members] : members;
              const before = [...list];
              const expected = pickBackend(monitor.servers(), before, { random: () => s.r, now: clock.now(), staleAfter: STALE_AFTER });
              first = s.r;
              draws = 0;
              const got = monitor.pickBackend(list);
              assert.equal(got, expected, `r=${s.r} members=${JSON.stringify(before)}`);
            }
          }
          void monitor.close();
        },
      ),
      { numRuns: 400 },
    );
  });

  it('20,000 picks over a reused array while servers go stale between sweeps: not one differs', () => {
    const clock = new FakeClock(1_000_000, 1_000_000);
    let first = 0;
    let draws = 0;
    const random = (): number => (draws++ === 0 ? first : (first + 0.5) % 1);
    const monitor = new HeartMonitor({ clock, random, store: new MemoryStore(), staleAfter: STALE_AFTER, expireAfter: EXPIRE_AFTER });
    const members = Object.freeze(Array.from({ length: 20 }, (_, i) => `http://10.0.1.${i + 1}:80`));
    const seeded = seededRandom(12);
    let differing = 0;
    for (let pick = 0; pick < 20_000; pick++) {
      // Every 50 ms of clock: a pick; each server beats on its own period, and half of them stop for a while.
      clock.advance(50);
      for (let i = 0; i < 20; i++) {
        const silent = i % 2 === 0 && Math.floor(pick / 400) % 3 === (i / 2) % 3;
        if (!silent && (pick + i * 7) % (20 + i) === 0) monitor.ingest(`v=1&ready=${5 + i}&busy=1`, { address: `10.0.1.${i + 1}` });
      }
      const r = seeded();
      const expected = pickBackend(monitor.servers(), members, { random: () => r, now: clock.now(), staleAfter: STALE_AFTER });
      first = r;
      draws = 0;
      if (monitor.pickBackend(members) !== expected) differing++;
    }
    assert.equal(differing, 0, `${differing} of 20,000 picks differ from the pure pickBackend`);
    void monitor.close();
  });

  it('the case of the report: a stale listener that splices the array does not change the pick', () => {
    const { monitor, members } = staleNotSwept();
    const stale: string[] = [];
    monitor.on('stale', (server) => {
      stale.push(server.ip);
      members.splice(0, 1);
    });
    assert.equal(monitor.pickBackend(members), 'http://10.0.0.1:80');
    assert.deepEqual(stale, ['10.0.0.2'], 'the event still fires, after the pick');
    assert.deepEqual(members, ['http://10.0.0.2:80']);
    void monitor.close();
  });

  it('events of acquire() wait for its result too', () => {
    const { monitor, members } = staleNotSwept();
    monitor.on('stale', () => members.reverse());
    const lease = monitor.acquire(members);
    assert.equal(lease?.member, 'http://10.0.0.1:80');
    lease?.release();
    void monitor.close();
  });
});

/** Two servers, 10.0.0.2 stale by now but not yet swept (no timer ran), and members for both. */
function staleNotSwept(): { monitor: HeartMonitor; members: string[] } {
  const clock = new FakeClock(1_000_000, 1_000_000);
  const monitor = new HeartMonitor({ clock, random: () => 0.99, store: new MemoryStore() });
  monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.1' });
  monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.2' });
  clock.advance(6000);
  monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.1' });
  clock.advance(5000);
  return { monitor, members: ['http://10.0.0.1:80', 'http://10.0.0.2:80'] };
}
