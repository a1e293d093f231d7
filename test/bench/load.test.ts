/**
 * The pure parts of the load bench (bench/load/): the matrix, the origins' heartbeat,
 * cell statistics, the peers' configuration files, the table; and the open-loop generator
 * against a real loopback server (intended-time latency, bounded count and time).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cellFigures, NO_ANSWER, shareDeviation, TIMED_OUT, type RequestLog } from '../../bench/load/cell-stats.js';
import { haproxyConfig, httpdConfig } from '../../bench/load/configs.js';
import { generateLoad } from '../../bench/load/generator.js';
import { heartbeatCounts, utilisation } from '../../bench/load/origin-model.js';
import { BALANCERS, capacity, capacityShares, cellName, cellsFor, FULL_MATRIX, ORIGINS } from '../../bench/load/plan.js';
import { markdownTable } from '../../bench/load/table.js';

const members = ORIGINS.map((o, i) => ({ name: o.name, host: o.host, port: 18_100 + i }));

function logOf(entries: readonly { intended?: number; latency: number; status: number; origin?: number }[]): RequestLog {
  return {
    intended: Float64Array.from(entries.map((e) => e.intended ?? 0)),
    latency: Float64Array.from(entries.map((e) => e.latency)),
    status: Int16Array.from(entries.map((e) => e.status)),
    origin: Int8Array.from(entries.map((e) => e.origin ?? -1)),
  };
}

describe('load bench plan', () => {
  it('has three origins of 2, 4 and 10 workers on their own addresses: 800 req/s at 20 ms', () => {
    assert.deepEqual(ORIGINS.map((o) => o.workers), [2, 4, 10]);
    assert.equal(new Set(ORIGINS.map((o) => o.host)).size, 3);
    assert.equal(capacity(), 800);
    assert.deepEqual(capacityShares(), [0.125, 0.25, 0.625]);
  });

  it('groups the full matrix by balancer and proxy count: 3 loads × 2 proxy counts + 2 disturbances each', () => {
    const groups = cellsFor(FULL_MATRIX);
    const cells = groups.flat();
    assert.equal(cells.length, BALANCERS.length * (3 * 2 + 2));
    for (const group of groups) {
      assert.ok(group.every((c) => c.balancer === group[0]?.balancer && c.proxies === group[0]?.proxies));
    }
    assert.equal(new Set(cells.map(cellName)).size, cells.length, 'cell names are unique');
    assert.ok(cells.filter((c) => c.disturbance !== 'none').every((c) => c.proxies === 1));
  });
});

describe('origin heartbeat', () => {
  it('reports ready = idle workers and busy = max(1, active)', () => {
    assert.deepEqual(heartbeatCounts(4, 0), { ready: 4, busy: 1 });
    assert.deepEqual(heartbeatCounts(4, 3), { ready: 1, busy: 3 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 2000 }), (workers, active) => {
        const { ready, busy } = heartbeatCounts(workers, active);
        assert.ok(busy >= 1 && ready >= 0);
        assert.equal(ready, Math.max(0, workers - active));
      }),
    );
  });

  it('utilisation is busy worker time over workers × elapsed', () => {
    assert.equal(utilisation(1000, 2, 1000), 0.5);
    assert.equal(utilisation(5, 0, 1000), 0);
  });
});

describe('cell statistics', () => {
  it('percentiles of answered requests only; everything else is failed; shares of answered requests', () => {
    const entries = [
      ...Array.from({ length: 98 }, (_, i) => ({ latency: i + 1, status: 200, origin: i % 2 })),
      { latency: 1, status: 503 },
      { latency: 5000, status: TIMED_OUT },
    ];
    const figures = cellFigures(logOf(entries), []);
    assert.equal(figures.sent, 100);
    assert.equal(figures.ok, 98);
    assert.equal(figures.failed, 2);
    assert.equal(figures.failedPercent, 2);
    assert.equal(figures.p50, 49);
    assert.equal(figures.p99, 98);
    assert.deepEqual(figures.sharesPercent, []);
  });

  it('counts failures after a disturbance and how long after it they went on', () => {
    const log = logOf([
      { intended: 100, latency: 1, status: NO_ANSWER },
      { intended: 1000, latency: 1, status: 200, origin: 0 },
      { intended: 1200, latency: 1, status: 502 },
      { intended: 1700, latency: 1, status: NO_ANSWER },
      { intended: 1800, latency: 1, status: 200, origin: 1 },
    ]);
    const figures = cellFigures(log, [{ name: 'a', workers: 2, served: 1, busyMs: 500, elapsedMs: 1000 }, { name: 'b', workers: 4, served: 1, busyMs: 1000, elapsedMs: 1000 }], 1000);
    assert.equal(figures.failedAfterDisturbance, 2);
    assert.equal(figures.lastFailureAfterMs, 700);
    assert.deepEqual(figures.sharesPercent, [50, 50]);
    assert.deepEqual(figures.utilisationPercent, [25, 25]);
    assert.equal(figures.serviceMs, 750, 'worker time held per request served');
  });

  it('share deviation is the largest gap in points', () => {
    assert.equal(shareDeviation([12.5, 25, 62.5], capacityShares()), 0);
    assert.equal(Math.round(shareDeviation([20, 20, 60], capacityShares()) * 10) / 10, 7.5);
  });
});

describe('peer configuration', () => {
  it('haproxy: one thread, the balance asked for, every member checked, refused requests redispatched', () => {
    const text = haproxyConfig({ port: 18_000, balance: 'leastconn', members });
    assert.match(text, /^\s*balance leastconn$/m);
    assert.match(text, /^\s*nbthread 1$/m);
    assert.match(text, /^\s*option redispatch/m);
    assert.match(text, /^\s*bind 127\.0\.0\.1:18000$/m);
    for (const m of members) assert.match(text, new RegExp(`server ${m.name} ${m.host.replaceAll('.', '\\.')}:${m.port} check`));
  });

  it('configs refuse anything but loopback members and valid ports', () => {
    assert.throws(() => haproxyConfig({ port: 18_000, balance: 'roundrobin', members: [{ name: 'x', host: '10.0.0.1', port: 80 }] }), RangeError);
    assert.throws(() => haproxyConfig({ port: 0, balance: 'roundrobin', members }), RangeError);
    assert.throws(() => httpdConfig({ port: 18_000, dir: '/tmp/x', lbmethod: 'bybusyness', members: [{ name: 'x', host: 'example.com', port: 80 }] }), RangeError);
  });

  it('httpd: lbmethod, www-data, runtime dir, retry=1, and HeartbeatStorage only for heartbeat', () => {
    const heartbeat = httpdConfig({ port: 18_001, dir: '/tmp/hb', lbmethod: 'heartbeat', members, heartbeatStorage: '/tmp/data/hb.dat' });
    assert.match(heartbeat, /ProxySet lbmethod=heartbeat/);
    assert.match(heartbeat, /mod_lbmethod_heartbeat\.so/);
    assert.match(heartbeat, /HeartbeatStorage "\/tmp\/data\/hb\.dat"/);
    assert.match(heartbeat, /^User www-data$/m);
    assert.match(heartbeat, /DefaultRuntimeDir "\/tmp\/hb\/run"/);
    assert.equal(heartbeat.match(/BalancerMember http:\/\/127\.0\.0\.\d:\d+ retry=1/g)?.length, 3);
    const busy = httpdConfig({ port: 18_001, dir: '/tmp/hb', lbmethod: 'bybusyness', members });
    assert.doesNotMatch(busy, /HeartbeatStorage/);
    assert.throws(() => httpdConfig({ port: 18_001, dir: '/tmp/hb', lbmethod: 'heartbeat', members }), TypeError);
    assert.throws(() => httpdConfig({ port: 18_001, dir: 'relative', lbmethod: 'bybusyness', members }), RangeError);
  });
});

describe('table', () => {
  it('one row per cell with medians and the p99 range over runs', () => {
    const figures = cellFigures(logOf([{ latency: 10, status: 200, origin: 0 }]), []);
    const table = markdownTable([{ cell: { balancer: 'haproxy-leastconn', proxies: 4, load: 0.85, disturbance: 'none' }, runs: [figures, { ...figures, p99: 30 }] }]);
    const lines = table.split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[2] ?? '', /^\| haproxy-leastconn \| 4 \| 85 % \| {2}\| 10\.0 \| 10\.0 \| 20\.0 \(10\.0–30\.0\) \| 0\.00 \|/);
  });
});

describe('open-loop generator', () => {
  it('sends rate × duration requests and counts latency from the intended send time, also while waiting for a slot', async () => {
    const server = createServer((req, res) => {
      req.resume();
      setTimeout(() => res.writeHead(200, { 'x-origin': 'b', 'content-length': 0 }).end(), 40);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // 100 req/s for 300 ms with one request in flight at a time: each waits for the one before.
      const log = await generateLoad({ targets: [{ host: '127.0.0.1', port }], rate: 100, durationMs: 300, maxInFlight: 1, drainMs: 3000, originNames: ['a', 'b'] });
      assert.equal(log.status.length, 30);
      assert.ok(log.status.every((s) => s === 200));
      assert.ok(log.origin.every((o) => o === 1));
      // The 30th request was meant to leave at 290 ms but could only start after 29 × 40 ms.
      assert.ok((log.latency[29] ?? 0) > 29 * 40 - 290, `latency of the last request ${log.latency[29]} ms`);
      assert.ok((log.latency[0] ?? Infinity) < 1000);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('stops at its deadline: what is still open counts as timed out', async () => {
    const server = createServer((req) => req.resume()); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const started = Date.now();
      const log = await generateLoad({ targets: [{ host: '127.0.0.1', port }], rate: 50, durationMs: 200, drainMs: 300, originNames: [] });
      assert.ok(Date.now() - started < 2000);
      assert.equal(log.status.length, 10);
      assert.ok(log.status.every((s) => s === TIMED_OUT));
      assert.equal(cellFigures(log, []).failed, 10);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses targets off loopback', async () => {
    await assert.rejects(generateLoad({ targets: [{ host: '10.0.0.1', port: 80 }], rate: 1, durationMs: 1, originNames: [] }), RangeError);
  });
});
