// Issue 12, items 11 (bounded shutdown) and 12 (the smaller defects), each with variants.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { closeWithin } from '../../src/cli/listen.js';
import { formatHeartbeat, HeartMonitor, MemoryStore, parseHeartbeat, pickBackend, type HeartbeatStore, type HeartMonitorOptions, type ServerStatus } from '../../src/index.js';
import { DEFAULT_MEMORY_MAX_SERVERS } from '../../src/stores/memory-store.js';
import { waitFor } from '../helpers/wait.js';

describe('smaller items of issue 12', () => {
  it('property: an escaped NUL (%00) is refused wherever it appears, like a raw one', () => {
    const piece = fc.constantFrom('v=1', 'ready=5', 'busy=1', 'port=80', 'x=y', 'k');
    fc.assert(
      fc.property(fc.array(piece, { minLength: 0, maxLength: 5 }), fc.nat(6), fc.constantFrom('%00', 'a%00', '%00b', '%2500'), fc.boolean(), (pieces, at, nul, inKey) => {
        const base = ['v=1', 'ready=5', 'busy=1', ...pieces];
        const position = Math.min(at, base.length);
        const injected = inKey ? `${nul}=1` : `extra=${nul}`;
        const message = [...base.slice(0, position), injected, ...base.slice(position)].join('&');
        const result = parseHeartbeat(message);
        if (nul === '%2500') assert.equal(result.ok, true, message); // %25 is "%": no NUL here
        else {
          assert.equal(result.ok, false, message);
          assert.match(result.ok ? '' : result.reason, /NUL/);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('formatHeartbeat refuses a NUL in fields (the parser would drop the message)', () => {
    assert.throws(() => formatHeartbeat({ ready: 1, busy: 0, fields: { 'a\0': 'x' } }), TypeError);
    assert.throws(() => formatHeartbeat({ ready: 1, busy: 0, fields: { a: 'x\0' } }), TypeError);
    assert.equal(parseHeartbeat(formatHeartbeat({ ready: 1, busy: 0, fields: { a: 'x%00' } })).ok, true, 'a literal "%00" is escaped, not a NUL');
  });

  it('refuses expireAfter < staleAfter, warmupDivisor 0 and null balancing options at construction', () => {
    assert.throws(() => new HeartMonitor({ staleAfter: 10_000, expireAfter: 5_000 }), RangeError);
    assert.throws(() => new HeartMonitor({ expireAfter: 9_999 }), /`expireAfter` \(9999\) to be at least `staleAfter` \(10000\)/);
    assert.doesNotThrow(() => void new HeartMonitor({ staleAfter: 5_000, expireAfter: 5_000 }).close());
    for (const option of ['pickMode', 'noFreshServer', 'failure', 'warmupDivisor', 'staleAfter', 'keyBy'] as const) {
      assert.throws(() => new HeartMonitor(JSON.parse(`{"${option}": null}`) as HeartMonitorOptions), TypeError, `${option}: null`);
    }
    const servers: ServerStatus[] = [{ ip: '10.0.0.1', port: 80, ready: 8, busy: 0, lastSeen: Date.now() }];
    for (const options of [{ warmupDivisor: 0 }, { warmupDivisor: -1 }, { warmupDivisor: 1.5 }, { staleAfter: 0 }, { keyBy: 'host' }, { random: 5 }]) {
      assert.throws(() => pickBackend(servers, undefined, options as never), /Expected `/, JSON.stringify(options));
    }
  });

  it('a heartbeat ingested after close() still ages: stale, then removed', async () => {
    const monitor = new HeartMonitor({ store: new MemoryStore(), staleAfter: 40, expireAfter: 80 });
    await monitor.close();
    const events: string[] = [];
    monitor.on('stale', (server) => events.push(`stale ${server.ip}`));
    monitor.on('remove', (server) => events.push(`remove ${server.ip}`));
    assert.equal(monitor.ingest('v=1&ready=1&busy=1', { address: '10.0.0.1' }), true);
    await waitFor('the stale and remove events', () => events.length >= 2, { timeoutMs: 3000 });
    assert.deepEqual(events, ['stale 10.0.0.1', 'remove 10.0.0.1']);
    assert.equal(monitor.servers().length, 0);
    await monitor.close();
  });

  it('docs/storage.md and docs/security.md state MemoryStore\'s real default bound', () => {
    const bound = DEFAULT_MEMORY_MAX_SERVERS.toLocaleString('en-US');
    assert.match(readFileSync('docs/storage.md', 'utf8'), new RegExp(`bounded Map \\(${bound} servers by default\\)`));
    assert.match(readFileSync('docs/security.md', 'utf8'), new RegExp(`\`MemoryStore\` and \`FileStore\` default to \\*\\*${bound} servers\\*\\*`));
  });

  it('the CLI shutdown is bounded whatever the store does', async () => {
    const hanging: HeartbeatStore = {
      put: () => true,
      delete: () => true,
      servers: () => [],
      flush: () => new Promise<void>(() => undefined),
      close: () => new Promise<void>(() => undefined),
    };
    const monitor = new HeartMonitor({ store: hanging });
    const started = Date.now();
    assert.equal(await closeWithin(monitor, 100), false);
    assert.ok(Date.now() - started < 2000);
    assert.equal(await closeWithin(new HeartMonitor({ store: new MemoryStore() }), 1000), true);
  });
});
