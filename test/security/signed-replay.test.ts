// Issue 12, item 10: a monitor never republishes a heartbeat's `ts`/`sig` (a ready-made
// signed datagram), and a restart does not reopen the replay window.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HeartMonitor, MemoryStore, signHeartbeat } from '../../src/index.js';
import { httpRequest } from '../helpers/node-side.js';

const SECRET = 'correct horse battery staple';

describe('signed heartbeats: nothing to replay', () => {
  it('property: no view of the monitor carries ts or sig (servers, events, describe, metrics, status JSON and HTML)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.dictionary(fc.constantFrom('zone', 'role', 'ts', 'sig', 'TS', 'Sig'), fc.stringMatching(/^[a-z0-9]{1,8}$/), { maxKeys: 3 }), async (withSecret, extra) => {
        const monitor = new HeartMonitor({ store: new MemoryStore(), ...(withSecret ? { secret: SECRET } : {}) });
        const updates: unknown[] = [];
        monitor.on('update', (server) => updates.push(server));
        const extras = Object.entries(extra)
          .filter(([key]) => !['ts', 'sig'].includes(key.toLowerCase()))
          .map(([key, value]) => `&${key}=${value}`)
          .join('');
        const signed = signHeartbeat(`v=1&ready=5&busy=1${extras}`, SECRET, Date.now());
        const sig = /sig=([0-9a-f]+)/.exec(signed)?.[1] ?? '';
        assert.equal(monitor.ingest(signed, { address: '10.0.0.1' }), true);
        const server = createServer(monitor.statusHandler());
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const json = (await httpRequest(`${base}/?format=json`)).body;
        const html = (await httpRequest(`${base}/`)).body;
        server.close();
        for (const [what, text] of [
          ['servers()', JSON.stringify(monitor.servers())],
          ['update event', JSON.stringify(updates)],
          ['describe()', JSON.stringify(monitor.describe())],
          ['metrics()', JSON.stringify(monitor.metrics())],
          ['status JSON', json],
          ['status HTML', html],
        ] as const) {
          assert.ok(!text.includes(sig), `${what} contains the signature`);
          assert.doesNotMatch(text, /"(ts|sig)"/, what);
        }
        // Other extra fields are still kept.
        const kept = monitor.servers()[0]?.fields ?? {};
        for (const key of Object.keys(extra).filter((k) => !['ts', 'sig'].includes(k.toLowerCase()))) assert.ok(key.toLowerCase() in kept, key);
        await monitor.close();
      }),
      { numRuns: 30 },
    );
  });

  it('a datagram captured before a restart is refused by the restarted monitor, from any source', async () => {
    const before = new HeartMonitor({ store: new MemoryStore(), secret: SECRET });
    const captured = signHeartbeat('v=1&ready=50&busy=0', SECRET, Date.now());
    assert.equal(before.ingest(captured, { address: '10.0.0.1' }), true);
    await before.close();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const after = new HeartMonitor({ store: new MemoryStore(), secret: SECRET });
    const codes: string[] = [];
    after.on('rejected', (info) => codes.push(info.code));
    for (const address of ['10.0.0.1', '10.0.0.2', '::1']) assert.equal(after.ingest(captured, { address }), false, address);
    assert.deepEqual(codes, ['replay', 'replay', 'replay']);
    // A heartbeat signed after the start is accepted.
    assert.equal(after.ingest(signHeartbeat('v=1&ready=5&busy=0', SECRET, Date.now() + 1), { address: '10.0.0.1' }), true);
    await after.close();
  });
});
