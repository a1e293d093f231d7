// The CLI's server table and its Redis options, in-process.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { redisTarget } from '../../src/cli/redis.js';
import { renderTable, serverRows } from '../../src/cli/table.js';
import type { ServerStatus } from '../../src/protocol/server-status.js';

const NOW = 1_800_000_000_000;

describe('CLI server table', () => {
  it('drained and disabled servers weigh 0 and get no share; STATE says why a server gets nothing', () => {
    const servers: ServerStatus[] = [
      { ip: '10.0.0.1', port: 80, ready: 8, busy: 1, lastSeen: NOW, state: 'draining' },
      { ip: '10.0.0.2', port: 80, ready: 8, busy: 1, lastSeen: NOW, state: 'disabled' },
      { ip: '10.0.0.3', port: 80, ready: 6, busy: 1, lastSeen: NOW },
      { ip: '10.0.0.4', port: 80, ready: 2, busy: 1, lastSeen: NOW - 60_000 },
    ];
    const rows = serverRows(servers, NOW);
    assert.deepEqual(
      rows.map(({ ip, weight, share, state }) => ({ ip, weight, share, state })),
      [
        { ip: '10.0.0.1', weight: 0, share: 0, state: 'draining' },
        { ip: '10.0.0.2', weight: 0, share: 0, state: 'disabled' },
        { ip: '10.0.0.3', weight: 6, share: 1, state: 'active' },
        { ip: '10.0.0.4', weight: 0, share: 0, state: 'stale' },
      ],
    );
    const text = renderTable(rows);
    assert.match(text, /^IP\s+PORT\s+READY\s+BUSY\s+WEIGHT\s+LAST SEEN\s+SHARE\s+STATE$/m);
    assert.match(text, /^10\.0\.0\.1\s+80\s+8\s+1\s+0\s+0s ago\s+0\.0%\s+draining$/m);
  });

  it('for any table: only active (or failed) fresh servers weigh, and the shares of a weighing table sum to 1', () => {
    const status = fc.record({
      ready: fc.integer({ min: 0, max: 1000 }),
      busy: fc.integer({ min: 0, max: 1000 }),
      age: fc.integer({ min: 0, max: 60_000 }),
      state: fc.constantFrom(undefined, 'draining', 'disabled', 'failed'),
    });
    fc.assert(
      fc.property(fc.array(status, { maxLength: 20 }), (list) => {
        const servers: ServerStatus[] = list.map((s, i) => ({ ip: `10.0.${i >> 8}.${i & 255}`, port: 80, ready: s.ready, busy: s.busy, lastSeen: NOW - s.age, ...(s.state === undefined ? {} : { state: s.state }) }));
        const rows = serverRows(servers, NOW);
        for (const row of rows) {
          if (row.state === 'draining' || row.state === 'disabled' || row.state === 'stale') assert.equal(row.weight, 0);
          if (row.weight === 0) assert.equal(row.share, 0);
        }
        const total = rows.reduce((sum, row) => sum + row.share, 0);
        if (rows.some((row) => row.weight > 0)) assert.ok(Math.abs(total - 1) < 1e-9);
      }),
    );
  });
});

describe('CLI Redis options', () => {
  it('--redis-cluster takes comma-separated and repeated nodes; bad ones are usage errors naming the option', () => {
    assert.deepEqual(redisTarget('status', { 'redis-cluster': ['redis://10.0.0.1:7000, redis://10.0.0.2:7000', 'redis://u:p@10.0.0.3:7000'] }), {
      cluster: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000', 'redis://u:p@10.0.0.3:7000'],
      prefix: 'heartmonitor',
    });
    assert.equal(redisTarget('status', {}), undefined);
    assert.throws(() => redisTarget('status', { 'redis-prefix': 'edge' }), /--redis-prefix needs --redis or --redis-cluster/);
    assert.throws(() => redisTarget('listen', { redis: 'redis://a', 'redis-cluster': ['redis://b'] }), /not both/);
    assert.throws(() => redisTarget('listen', { 'redis-cluster': [','] }), /--redis-cluster needs at least one/);
    assert.throws(() => redisTarget('listen', { 'redis-cluster': ['redis://a,http://b'] }), /--redis-cluster must be a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/b"/);
    // Discovered nodes take the first URL's TLS setting: a mixed list would send credentials in clear.
    assert.throws(() => redisTarget('listen', { 'redis-cluster': ['redis://a:7000,rediss://b:7000'] }), /must all be redis:\/\/ or all rediss:\/\//);
  });

  it('a URL node-redis cannot parse is a usage error naming the option, not a stack trace later', () => {
    for (const url of ['redis://a b', 'redis://h:99999', 'redis://[::1', 'redis://:pa%ss@127.0.0.1:1', 'rediss://%zz@127.0.0.1']) {
      assert.throws(() => redisTarget('status', { redis: url }), { name: 'UsageError', message: /--redis must be a redis:\/\/ or rediss:\/\/ URL/ }, url);
      assert.throws(() => redisTarget('listen', { 'redis-cluster': [url] }), { name: 'UsageError', message: /--redis-cluster must be/ }, url);
    }
    assert.equal(redisTarget('status', { redis: 'rediss://:p%40ss@127.0.0.1:6380/2' })?.url, 'rediss://:p%40ss@127.0.0.1:6380/2');
  });

  it('any prefix the table keys refuse is refused before anything connects', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (prefix) => {
        const valid = /^[\w.:/@-]{1,100}$/.test(prefix);
        if (valid) assert.equal(redisTarget('listen', { redis: 'redis://127.0.0.1:6379', 'redis-prefix': prefix })?.prefix, prefix);
        else assert.throws(() => redisTarget('listen', { redis: 'redis://127.0.0.1:6379', 'redis-prefix': prefix }), /--redis-prefix must be/);
      }),
    );
  });
});
