import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { HeartMonitor, MemoryStore, pickBackend } from '../../src/index.js';
import { FakeClock } from '../helpers/clock.js';
import { seededRandom } from '../helpers/random.js';

/** A clock the test moves by hand. */
/** A monitor whose random returns the value the test sets, plus the pure function over the same numbers. */
function setup(options: { staleAfter?: number; expireAfter?: number } = {}) {
  const clock = new FakeClock(1_000_000, 1_000_000);
  let next = 0;
  const monitor = new HeartMonitor({ clock, random: () => next, store: new MemoryStore(), ...options });
  const pure = <M extends string>(members: readonly M[], r: number): M | undefined =>
    pickBackend(monitor.servers(), members, { random: () => r, now: clock.now(), ...(options.staleAfter === undefined ? {} : { staleAfter: options.staleAfter }) });
  const pick = <M extends string>(members: readonly M[], r: number): M | undefined => {
    next = r;
    return monitor.pickBackend(members);
  };
  return { monitor, clock, pick, pure };
}

const RANDOMS = Array.from({ length: 101 }, (_, i) => i / 101);

function assertSameAsPure(ctx: ReturnType<typeof setup>, members: readonly string[], note: string): void {
  for (const r of RANDOMS) assert.equal(ctx.pick(members, r), ctx.pure(members, r), `${note}: random ${r}`);
}

describe('pickBackend(members) on a reused members array', () => {
  it('chooses what the pure function chooses, frozen or not, for every random number', () => {
    const ctx = setup();
    for (let i = 1; i <= 20; i++) ctx.monitor.ingest(`v=1&ready=${i * 3}&busy=${i % 4}`, { address: `10.0.0.${i}` });
    const list = ['http://10.0.0.3:80', '10.0.0.7:8080', 'http://10.0.0.99', 'http://10.0.0.12:1', '10.0.0.3:9'];
    assertSameAsPure(ctx, Object.freeze([...list]), 'frozen');
    const reused = [...list];
    assertSameAsPure(ctx, reused, 'reused, first and later calls');
    assertSameAsPure(ctx, reused, 'reused again');
    ctx.monitor.close();
  });

  it('follows heartbeats that change weights, new servers, and servers that turn stale or expire', () => {
    const ctx = setup({ staleAfter: 10_000, expireAfter: 30_000 });
    const members = Object.freeze(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80']);
    ctx.monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.1' });
    ctx.monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.2' });
    assertSameAsPure(ctx, members, 'two servers');
    ctx.monitor.ingest('v=1&ready=40&busy=0', { address: '10.0.0.2' });
    ctx.monitor.ingest('v=1&ready=5&busy=2', { address: '10.0.0.4' });
    assertSameAsPure(ctx, members, 'a weight changed and a server appeared');
    ctx.clock.advance(6_000);
    ctx.monitor.ingest('v=1&ready=7&busy=1', { address: '10.0.0.1' });
    ctx.clock.advance(5_000); // 10.0.0.2 and .4 are stale now, before any sweep ran
    assertSameAsPure(ctx, members, 'stale servers skipped');
    for (const r of RANDOMS) assert.equal(ctx.pick(members, r), '10.0.0.1:80');
    ctx.clock.advance(30_000);
    assert.equal(ctx.pick(members, 0.5), undefined, 'nothing fresh');
    ctx.monitor.ingest('v=1&ready=3&busy=3', { address: '10.0.0.3' });
    assertSameAsPure(ctx, members, 'a server came back');
    ctx.monitor.close();
  });

  it('honours changes made in place to a members array that is not frozen', () => {
    const ctx = setup();
    for (let i = 1; i <= 5; i++) ctx.monitor.ingest(`v=1&ready=${i}&busy=1`, { address: `10.0.0.${i}` });
    const members = ['10.0.0.1:80', '10.0.0.2:80'];
    assertSameAsPure(ctx, members, 'before');
    members.push('10.0.0.5:80');
    assertSameAsPure(ctx, members, 'after push');
    members[0] = '10.0.0.4:80';
    assertSameAsPure(ctx, members, 'after replacing a member');
    members.length = 1;
    for (const r of RANDOMS) assert.equal(ctx.pick(members, r), '10.0.0.4:80');
    ctx.monitor.close();
  });

  it('stays exact after more weight changes than the journal keeps', () => {
    const ctx = setup();
    const members = Object.freeze(Array.from({ length: 50 }, (_, i) => `10.0.1.${i}:80`));
    for (let i = 0; i < 50; i++) ctx.monitor.ingest(`v=1&ready=${i + 1}&busy=1`, { address: `10.0.1.${i}` });
    assertSameAsPure(ctx, members, 'built');
    for (let k = 0; k < 70_000; k++) ctx.monitor.ingest(`v=1&ready=${(k % 9) + 1}&busy=${k % 3}`, { address: `10.0.1.${k % 50}` });
    assertSameAsPure(ctx, members, 'after 70,000 heartbeats');
    ctx.monitor.close();
  });

  it('still rejects an invalid member with a TypeError, and does not cache it', () => {
    const ctx = setup();
    ctx.monitor.ingest('v=1&ready=3&busy=1', { address: '10.0.0.1' });
    const members = Object.freeze(['10.0.0.1:80', 'http://[::1']);
    assert.throws(() => ctx.pick(members, 0.1), TypeError);
    assert.throws(() => ctx.pick(members, 0.1), TypeError);
    ctx.monitor.close();
  });
});

describe('pickBackend on a table that churns (slot reuse, re-added servers, duplicate members)', () => {
  // Seeded random operations; after each, both pick forms must equal the pure function.
  for (const keyBy of ['ip', 'ip:port'] as const) {
    it(`matches the pure function after every operation (keyBy ${keyBy})`, (t) => {
      mock.timers.enable({ apis: ['setInterval'] });
      t.after(() => mock.timers.reset());
      const clock = new FakeClock(1_000_000, 1_000_000);
      let next = 0;
      const monitor = new HeartMonitor({ clock, random: () => next, store: new MemoryStore(), keyBy, staleAfter: 10_000, expireAfter: 30_000 });
      const ops = seededRandom(keyBy === 'ip' ? 11 : 12);
      const ips = Array.from({ length: 12 }, (_, i) => `10.0.3.${i + 1}`);
      // Duplicates (one server twice, by URL and host:port), unknown servers and a second port.
      const members = Object.freeze([...ips.map((ip) => `http://${ip}:80`), 'http://10.0.3.2:80', '10.0.3.5:80', '10.0.3.5:81', 'http://10.0.3.99:80']);
      const plain = [...members].reverse();
      let changes = 0;
      let added = 0;
      let removed = 0;
      monitor.on('add', () => void added++);
      monitor.on('remove', () => void removed++);
      for (let step = 0; step < 600; step++) {
        const op = ops();
        const ip = ips[Math.floor(ops() * ips.length)] as string;
        if (op < 0.6) {
          // ready 0 and busy 0 included: weight 0 and Apache's ready / 4 rule.
          const ready = Math.floor(ops() * 6) * 3;
          const busy = ops() < 0.3 ? 0 : Math.floor(ops() * 4);
          const port = ops() < 0.2 ? 81 : 80;
          assert.ok(monitor.ingest(`v=1&ready=${ready}&busy=${busy}&port=${port}`, { address: ip }));
        } else if (op < 0.9) {
          // Time passes: servers turn stale (marked at pick time) and expire on the sweep.
          clock.advance(Math.floor(ops() * 8_000));
          mock.timers.tick(1000);
        } else {
          changes++;
          plain.reverse();
        }
        for (const list of [members, plain]) {
          for (const r of [0, 0.13, 0.5, 0.77, 0.999]) {
            next = r;
            const want = pickBackend(monitor.servers(), list, { random: () => r, now: clock.now(), staleAfter: 10_000, keyBy });
            assert.equal(monitor.pickBackend(list), want, `step ${step}, random ${r}`);
          }
        }
        // Among all servers the monitor draws in slot order, which differs from the table's
        // order once slots are reused: the same servers are eligible, not the same one drawn.
        next = 0.42;
        const all = monitor.pickBackend();
        const eligible = monitor.servers().filter((server) => pickBackend([server], undefined, { random: () => 0, now: clock.now(), staleAfter: 10_000 }) !== undefined);
        if (eligible.length === 0) assert.equal(all, undefined, `step ${step}: nothing is eligible`);
        else assert.ok(all !== undefined && eligible.includes(all), `step ${step}: picked an eligible server`);
      }
      assert.ok(changes > 10, 'the plain members array was changed in place');
      // Servers left and came back, so slots were freed and reused by other servers.
      assert.ok(removed > 10 && added > ips.length + 10, `churn: ${added} added, ${removed} removed`);
      void monitor.close();
    });
  }
});

describe('pickBackend() without members on the monitor', () => {
  it('draws what the pure function draws over monitor.servers(), also after a slot was freed and reused', () => {
    const ctx = setup({ staleAfter: 10_000, expireAfter: 30_000 });
    const drawAll = (note: string): void => {
      for (const r of RANDOMS) {
        ctx.pick([], r); // sets the monitor's next random number (an empty members array picks nothing)
        const pure = pickBackend(ctx.monitor.servers(), undefined, { random: () => r, now: ctx.clock.now() });
        assert.equal(ctx.monitor.pickBackend(), pure, `${note}: random ${r}`);
      }
    };
    for (let i = 1; i <= 5; i++) ctx.monitor.ingest(`v=1&ready=${i * 4}&busy=1`, { address: `10.0.1.${i}` });
    drawAll('five servers');
    // 10.0.1.2 falls silent and expires; the others keep beating.
    ctx.clock.advance(20_000);
    for (const i of [1, 3, 4, 5]) ctx.monitor.ingest(`v=1&ready=${i * 4}&busy=1`, { address: `10.0.1.${i}` });
    ctx.clock.advance(15_000);
    for (const i of [1, 3, 4, 5]) ctx.monitor.ingest(`v=1&ready=${i * 4}&busy=1`, { address: `10.0.1.${i}` });
    (ctx.monitor as unknown as { sweep(): void }).sweep();
    assert.equal(ctx.monitor.servers().length, 4, '10.0.1.2 expired');
    // A newcomer takes the freed slot: it is listed where draws find it, not last.
    ctx.monitor.ingest('v=1&ready=40&busy=2', { address: '10.0.1.9' });
    assert.deepEqual(
      ctx.monitor.servers().map((server) => server.ip),
      ['10.0.1.1', '10.0.1.9', '10.0.1.3', '10.0.1.4', '10.0.1.5'],
    );
    drawAll('after slot reuse');
    void ctx.monitor.close();
  });
});
