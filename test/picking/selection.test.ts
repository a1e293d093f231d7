import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartMonitor, heartbeatWeight, pickBackend, type ServerStatus } from '../../src/index.js';
import { WeightedIndex } from '../../src/picking/weighted-index.js';
import { FakeClock } from '../helpers/clock.js';
import { countPicks, seededRandom, shares } from '../helpers/random.js';

const ROUNDS = 20_000;
const TOLERANCE = 2; // percentage points
const NOW = Date.UTC(2026, 0, 1);

function server(ip: string, ready: number, busy: number, ageMs = 0, port = 80): ServerStatus {
  return { ip, port, ready, busy, lastSeen: NOW - ageMs };
}

/** Assert observed shares (percent) are within TOLERANCE of `weights`' proportions. */
function assertProportional(counts: Map<string, number>, weights: Record<string, number>): void {
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  const observed = shares(counts, ROUNDS);
  for (const [label, weight] of Object.entries(weights)) {
    const expected = (100 * weight) / total;
    const seen = observed[label] ?? 0;
    assert.ok(Math.abs(seen - expected) <= TOLERANCE, `${label}: expected ${expected.toFixed(2)} %, saw ${seen.toFixed(2)} % (all: ${JSON.stringify(observed)})`);
  }
  for (const label of counts.keys()) assert.ok(label in weights, `picked ${label}, which has no weight`);
}

describe('heartbeatWeight (SPEC 1.8 step 2)', () => {
  it('is ready, or floor(ready / 4) when busy is 0', () => {
    assert.equal(heartbeatWeight({ ready: 10, busy: 1 }), 10);
    assert.equal(heartbeatWeight({ ready: 10, busy: 0 }), 2);
    assert.equal(heartbeatWeight({ ready: 3, busy: 0 }), 0);
    assert.equal(heartbeatWeight({ ready: 0, busy: 0 }), 0);
    assert.equal(heartbeatWeight({ ready: 0, busy: 5 }), 0);
    assert.equal(heartbeatWeight({ ready: 10, busy: 0 }, 1), 10);
  });
});

describe('pickBackend (pure)', () => {
  it('picks in exact proportion to ready', () => {
    const servers = [server('10.0.0.1', 10, 1), server('10.0.0.2', 20, 1), server('10.0.0.3', 70, 1)];
    const random = seededRandom(1);
    const counts = countPicks(ROUNDS, () => pickBackend(servers, undefined, { random, now: NOW }), (s) => s.ip);
    assertProportional(counts, { '10.0.0.1': 10, '10.0.0.2': 20, '10.0.0.3': 70 });
  });

  it('applies busy = 0 → floor(ready / 4) (Apache measured 10/20/70 with busy=0)', () => {
    const servers = [server('10.0.0.1', 10, 0), server('10.0.0.2', 20, 0), server('10.0.0.3', 70, 0)];
    const random = seededRandom(2);
    const counts = countPicks(ROUNDS, () => pickBackend(servers, undefined, { random, now: NOW }), (s) => s.ip);
    // floor(10/4), floor(20/4), floor(70/4)
    assertProportional(counts, { '10.0.0.1': 2, '10.0.0.2': 5, '10.0.0.3': 17 });
  });

  it('turns the warm-up rule off with warmupDivisor 1', () => {
    const servers = [server('10.0.0.1', 30, 0), server('10.0.0.2', 10, 2)];
    const random = seededRandom(3);
    const counts = countPicks(ROUNDS, () => pickBackend(servers, undefined, { random, now: NOW, warmupDivisor: 1 }), (s) => s.ip);
    assertProportional(counts, { '10.0.0.1': 30, '10.0.0.2': 10 });
  });

  it('never picks stale or zero-weight servers', () => {
    const servers = [
      server('10.0.0.1', 50, 1),
      server('10.0.0.2', 0, 9), // no idle worker
      server('10.0.0.3', 3, 0), // floor(3 / 4) = 0
      server('10.0.0.4', 500, 1, 10_000), // lastseen 10 s
      server('10.0.0.5', 500, 1, 60_000),
      server('10.0.0.6', 50, 1, 9_000),
    ];
    const random = seededRandom(4);
    const counts = countPicks(ROUNDS, () => pickBackend(servers, undefined, { random, now: NOW }), (s) => s.ip);
    assertProportional(counts, { '10.0.0.1': 50, '10.0.0.6': 50 });
  });

  it('uses a server seen 9 s (and 9.999 s) ago, not one seen 10 s ago', () => {
    const pickAt = (age: number): ServerStatus | undefined => pickBackend([server('10.0.0.1', 5, 1, age)], undefined, { now: NOW });
    assert.equal(pickAt(9_000)?.ip, '10.0.0.1');
    assert.equal(pickAt(9_999)?.ip, '10.0.0.1');
    assert.equal(pickAt(10_000), undefined);
    assert.equal(pickAt(10_001), undefined);
  });

  it('honours staleAfter and a `now` function', () => {
    const servers = [server('10.0.0.1', 5, 1, 3_000)];
    assert.equal(pickBackend(servers, undefined, { now: () => NOW, staleAfter: 3_000 }), undefined);
    assert.equal(pickBackend(servers, undefined, { now: () => NOW, staleAfter: 3_001 })?.ip, '10.0.0.1');
  });

  it('returns undefined when the weights sum to 0 or there are no servers', () => {
    assert.equal(pickBackend([], undefined, { now: NOW }), undefined);
    assert.equal(pickBackend([server('10.0.0.1', 0, 3), server('10.0.0.2', 2, 0)], undefined, { now: NOW }), undefined);
    assert.equal(pickBackend([server('10.0.0.1', 4, 1)], ['http://10.0.0.9:80'], { now: NOW }), undefined);
  });

  it('returns the member itself, in proportion, never a member without a server', () => {
    const servers = [server('10.0.0.1', 10, 1), server('10.0.0.2', 30, 1), server('10.0.0.3', 99, 1, 20_000)];
    const objectMember = { host: '10.0.0.2', port: 8080 };
    const members = ['http://10.0.0.1:8080', objectMember, 'http://10.0.0.3:8080', 'http://10.0.0.4:8080', '10.9.9.9:80'] as const;
    const random = seededRandom(5);
    const labels = new Map<unknown, string>(members.map((m, i) => [m, `member${i}`]));
    const counts = countPicks(ROUNDS, () => pickBackend(servers, members, { random, now: NOW }), (m) => labels.get(m) ?? 'not a member');
    assertProportional(counts, { member0: 10, member1: 30 });
  });

  it("matches members by IP alone by default (Apache ignores the member's port)", () => {
    const servers = [server('10.0.0.1', 10, 1, 0, 8080)];
    assert.equal(pickBackend(servers, ['http://10.0.0.1:9999'], { now: NOW }), 'http://10.0.0.1:9999');
  });

  it("matches members by IP and port with keyBy 'ip:port'", () => {
    const servers = [server('10.0.0.1', 10, 1, 0, 8080), server('10.0.0.1', 30, 1, 0, 8081), server('::1', 20, 1, 0, 8080)];
    const members = ['http://10.0.0.1:8080', 'http://10.0.0.1:8081', 'http://10.0.0.1:9999', 'http://[::1]:8080'];
    const random = seededRandom(6);
    const counts = countPicks(ROUNDS, () => pickBackend(servers, members, { random, now: NOW, keyBy: 'ip:port' }), (m) => m);
    assertProportional(counts, { 'http://10.0.0.1:8080': 10, 'http://10.0.0.1:8081': 30, 'http://[::1]:8080': 20 });
  });
});

describe('HeartMonitor.pickBackend (Fenwick index)', () => {
  function monitorWith(seed: number, heartbeats: [ip: string, message: string][]): { monitor: HeartMonitor; clock: FakeClock } {
    const clock = new FakeClock(NOW);
    const monitor = new HeartMonitor({ random: seededRandom(seed), clock });
    for (const [ip, message] of heartbeats) assert.equal(monitor.ingest(message, { address: ip }), true);
    return { monitor, clock };
  }

  it('picks servers in the same proportions as the pure function, warm-up rule included', async () => {
    const { monitor } = monitorWith(7, [
      ['10.0.0.1', 'v=1&ready=10&busy=2'],
      ['10.0.0.2', 'v=1&ready=80&busy=0'], // floor(80 / 4) = 20
      ['10.0.0.3', 'v=1&ready=70&busy=5'],
      ['10.0.0.4', 'v=1&ready=0&busy=5'],
    ]);
    const counts = countPicks(ROUNDS, () => monitor.pickBackend(), (s) => s.ip);
    assertProportional(counts, { '10.0.0.1': 10, '10.0.0.2': 20, '10.0.0.3': 70 });
    const random = seededRandom(7);
    const pure = countPicks(ROUNDS, () => pickBackend(monitor.servers(), undefined, { random, now: NOW }), (s) => s.ip);
    assertProportional(pure, { '10.0.0.1': 10, '10.0.0.2': 20, '10.0.0.3': 70 });
    await monitor.close();
  });

  it('picks members in proportion and returns the member object', async () => {
    const { monitor } = monitorWith(8, [
      ['10.0.0.1', 'v=1&ready=25&busy=1'],
      ['10.0.0.2', 'v=1&ready=75&busy=1'],
    ]);
    const first = new URL('http://10.0.0.1:8080');
    const second = { host: '10.0.0.2', port: 8080 };
    const members = [first, second, 'http://10.0.0.3:8080'];
    const counts = countPicks(ROUNDS, () => monitor.pickBackend(members), (m) => (m === first ? 'first' : m === second ? 'second' : 'another member'));
    assertProportional(counts, { first: 25, second: 75 });
    await monitor.close();
  });

  it('follows weight changes and skips servers once they are 10 s old', async () => {
    const { monitor, clock } = monitorWith(9, [
      ['10.0.0.1', 'v=1&ready=50&busy=1'],
      ['10.0.0.2', 'v=1&ready=50&busy=1'],
    ]);
    monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.2' });
    assertProportional(
      countPicks(ROUNDS, () => monitor.pickBackend(), (s) => s.ip),
      { '10.0.0.1': 50, '10.0.0.2': 10 },
    );
    clock.advance(9_000);
    monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.2' });
    assert.equal(monitor.pickBackend(['10.0.0.1']), '10.0.0.1', '9 s old is still used');
    clock.advance(1_000);
    const counts = countPicks(1_000, () => monitor.pickBackend(), (s) => s.ip);
    assert.deepEqual([...counts.keys()], ['10.0.0.2'], '10 s old is never picked');
    assert.equal(monitor.pickBackend(['10.0.0.1']), undefined);
    await monitor.close();
  });

  it("keys by ip:port when asked, so two origins on one IP are both picked", async () => {
    const monitor = new HeartMonitor({ keyBy: 'ip:port', random: seededRandom(10) });
    monitor.ingest('v=1&ready=30&busy=1&port=8080', { address: '10.0.0.1' });
    monitor.ingest('v=1&ready=10&busy=1&port=8081', { address: '10.0.0.1' });
    assert.equal(monitor.servers().length, 2);
    const members = ['http://10.0.0.1:8080', 'http://10.0.0.1:8081', 'http://10.0.0.1:80'];
    assertProportional(
      countPicks(ROUNDS, () => monitor.pickBackend(members), (m) => m),
      { 'http://10.0.0.1:8080': 30, 'http://10.0.0.1:8081': 10 },
    );
    await monitor.close();
  });

  it("keys by IP by default: a second port on the same IP overwrites the first (as Apache)", async () => {
    const monitor = new HeartMonitor();
    monitor.ingest('v=1&ready=30&busy=1&port=8080', { address: '10.0.0.1' });
    monitor.ingest('v=1&ready=10&busy=1&port=8081', { address: '10.0.0.1' });
    assert.deepEqual(
      monitor.servers().map((s) => [s.ip, s.port, s.ready]),
      [['10.0.0.1', 8081, 10]],
    );
    await monitor.close();
  });
});

describe('WeightedIndex', () => {
  /** The slot a linear scan of cumulative weights gives for `target`. */
  function linearFind(weights: number[], target: number): number {
    let remaining = target;
    for (let slot = 0; slot < weights.length; slot++) {
      const weight = weights[slot] ?? 0;
      if (remaining < weight) return slot;
      remaining -= weight;
    }
    return -1;
  }

  function assertMatchesLinear(index: WeightedIndex, weights: number[]): void {
    const total = weights.reduce((a, b) => a + b, 0);
    assert.equal(index.total, total);
    for (let target = 0; target < total; target++) assert.equal(index.find(target), linearFind(weights, target), `target ${target}`);
  }

  it('finds each slot for exactly `weight` targets, zero-weight slots never', () => {
    const index = new WeightedIndex(4);
    const weights = [3, 0, 2, 1];
    for (const weight of weights) index.set(index.allocate(), weight);
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((t) => index.find(t)), [0, 0, 0, 2, 2, 3]);
    assertMatchesLinear(index, weights);
  });

  it('grows past its initial capacity and keeps every weight', () => {
    const index = new WeightedIndex(2);
    const weights: number[] = [];
    for (let i = 0; i < 100; i++) {
      const slot = index.allocate();
      assert.equal(slot, i);
      weights[slot] = (i * 7) % 5;
      index.set(slot, weights[slot]);
    }
    assertMatchesLinear(index, weights);
    for (let slot = 0; slot < 100; slot += 3) assert.equal(index.get(slot), weights[slot]);
  });

  it('releases slots (weight 0) and reuses them', () => {
    const index = new WeightedIndex(8);
    const weights = [4, 5, 6];
    for (const weight of weights) index.set(index.allocate(), weight);
    index.release(1);
    weights[1] = 0;
    assert.equal(index.get(1), 0);
    assertMatchesLinear(index, weights);
    assert.equal(index.allocate(), 1, 'the released slot is handed out again');
    assert.equal(index.get(1), 0);
    index.set(1, 2);
    weights[1] = 2;
    assertMatchesLinear(index, weights);
    assert.equal(index.allocate(), 3, 'then new slots continue after the high-water mark');
  });

  it('updates weights up and down, and ignores a no-op set', () => {
    const index = new WeightedIndex(4);
    const a = index.allocate();
    const b = index.allocate();
    index.set(a, 5);
    index.set(b, 5);
    index.set(a, 1);
    index.set(b, 9);
    index.set(b, 9);
    assertMatchesLinear(index, [1, 9]);
  });

  it('finds the last slot of a full, power-of-two sized index', () => {
    const index = new WeightedIndex(8);
    const weights = [1, 1, 1, 1, 1, 1, 1, 5];
    for (const weight of weights) index.set(index.allocate(), weight);
    assert.equal(index.find(index.total - 1), 7);
    assertMatchesLinear(index, weights);
  });

  it('stays exact over several tree levels while it grows and weights change', () => {
    // 70,000 slots: five levels of 16-way nodes, grown by doubling from one slot.
    const random = seededRandom(5);
    const index = new WeightedIndex(1);
    const weights: number[] = [];
    const prefix = (): number[] => {
      const sums: number[] = [];
      let sum = 0;
      for (const weight of weights) sums.push((sum += weight));
      return sums;
    };
    /** The slot for `target` by binary search over prefix sums (the reference). */
    const expected = (sums: readonly number[], target: number): number => {
      let low = 0;
      let high = sums.length - 1;
      while (low < high) {
        const mid = (low + high) >> 1;
        if ((sums[mid] ?? 0) > target) high = mid;
        else low = mid + 1;
      }
      return low;
    };
    for (const size of [17, 300, 4_097, 70_000]) {
      while (weights.length < size) {
        const slot = index.allocate();
        weights[slot] = random() < 0.3 ? 0 : Math.floor(random() * 1_000_000);
        index.set(slot, weights[slot]);
      }
      for (let k = 0; k < 2_000; k++) {
        const slot = Math.floor(random() * size);
        weights[slot] = random() < 0.3 ? 0 : Math.floor(random() * 2 ** 31);
        index.set(slot, weights[slot]);
      }
      const sums = prefix();
      const total = sums.at(-1) ?? 0;
      assert.equal(index.total, total, `total at ${size}`);
      for (const target of [0, total - 1, ...Array.from({ length: 3_000 }, () => Math.floor(random() * total))]) {
        assert.equal(index.find(target), expected(sums, target), `size ${size}, target ${target}`);
      }
    }
  });
});
