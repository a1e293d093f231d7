// Issue 12, items 5, 6 and 12: what ingest() lets into the table and the file, how it
// counts, and what a faulty or full store does to the table's bound.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FileStore,
  formatHeartbeatLine,
  HeartMonitor,
  MemoryStore,
  parseHeartbeatFile,
  StoreError,
  type HeartbeatStore,
  type ServerStatus,
} from '../../src/index.js';
import { httpRequest } from '../helpers/node-side.js';

const HB = 'v=1&ready=5&busy=1';
const ZONE = /^[A-Za-z0-9._-]{1,15}$/;

/** What an IP literal the library accepts looks like (the oracle, written independently). */
function isAcceptableSource(text: string): boolean {
  const zoneAt = text.indexOf('%');
  if (zoneAt === -1) return isIP(text) !== 0;
  return isIP(text.slice(0, zoneAt)) === 6 && ZONE.test(text.slice(zoneAt + 1));
}

/** Addresses: real ones, near misses, and injection attempts. */
const address = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.tuple(fc.ipV6(), fc.string({ minLength: 0, maxLength: 40 })).map(([ip, zone]) => `${ip}%${zone}`),
  fc.tuple(fc.ipV4(), fc.constantFrom(' &ready=9999&busy=0&lastseen=0&port=80\n10.0.0.2', '\n', ' ', '&', '%eth0', '#', '\r\n127.0.0.9 ', '')).map(([ip, tail]) => ip + tail),
  fc.constantFrom('', ' ', 'localhost', '[::1]', '10.0.0.1:80', '::ffff:10.0.0.1', 'fe80::1%' + 'x'.repeat(16), 'fe80::1%eth0', '0x7f.1', '1.2.3.04'),
  fc.string({ maxLength: 30 }),
);

describe('ingest(): sources must be IP literals', () => {
  it('refuses the forged-line source of the report and the empty source', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hm-forge-'));
    const path = join(dir, 'hb.dat');
    const monitor = new HeartMonitor({ store: new FileStore({ path }), flushInterval: 60_000 });
    assert.equal(monitor.ingest(HB, { address: '10.0.0.1 &ready=9999&busy=0&lastseen=0&port=80\n10.0.0.2' }), false);
    assert.equal(monitor.ingest(HB, { address: '' }), false);
    assert.equal(monitor.ingest(HB, { address: '10.0.0.3' }), true);
    await monitor.close();
    assert.deepEqual(parseHeartbeatFile(readFileSync(path)).servers.map((s) => s.ip), ['10.0.0.3']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('property: a source becomes a server exactly when it is an IP literal; the hb.dat written reads back to those servers only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hm-sources-'));
    try {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(address, { minLength: 1, maxLength: 12 }), async (sources) => {
          const path = join(dir, `hb-${run++}.dat`);
          const monitor = new HeartMonitor({ store: new FileStore({ path }), flushInterval: 60_000 });
          for (const source of sources) {
            assert.equal(monitor.ingest(HB, { address: source }), isAcceptableSource(source), JSON.stringify(source));
          }
          const stats = monitor.stats();
          assert.equal(stats.received, stats.accepted + stats.malformed + stats.rejected);
          await monitor.close();
          const written = parseHeartbeatFile(readFileSync(path));
          assert.deepEqual(written.skipped, []);
          assert.deepEqual(written.servers.map((s) => s.ip).sort(), monitor.servers().map((s) => s.ip).sort());
          for (const server of written.servers) assert.ok(isAcceptableSource(server.ip), server.ip);
        }),
        { numRuns: 150 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('property: received = accepted + malformed + rejected for any message and source, whatever their type', () => {
    const anything = fc.oneof(fc.string(), fc.uint8Array({ maxLength: 40 }), fc.constant(HB), fc.integer(), fc.constant(null), fc.constant(undefined), fc.object());
    fc.assert(
      fc.property(fc.array(fc.tuple(anything, fc.oneof(address, fc.constant(undefined), fc.integer()), fc.boolean()), { maxLength: 20 }), (calls) => {
        const monitor = new HeartMonitor({ store: new MemoryStore({ maxServers: 3 }), allow: ['0.0.0.0/1', '::/1'] });
        monitor.on('error', () => undefined);
        for (const [message, source, asObject] of calls) {
          const from = (asObject ? { address: source } : source) as never;
          assert.doesNotThrow(() => monitor.ingest(message as never, from));
        }
        const stats = monitor.stats();
        assert.equal(stats.received, calls.length);
        assert.equal(stats.received, stats.accepted + stats.malformed + stats.rejected);
        void monitor.close();
      }),
      { numRuns: 300 },
    );
  });

  it('the hb.dat writer refuses anything that is not an IP literal (defence in depth)', () => {
    const now = Date.now();
    for (const ip of ['10.0.0.1 &ready=1', '', 'host', '10.0.0.1\n10.0.0.2', 'fe80::1%a b']) {
      assert.throws(() => formatHeartbeatLine({ ip, port: 80, ready: 1, busy: 0, lastSeen: now }, now), TypeError, ip);
      assert.throws(() => new FileStore({ path: '/nonexistent/hb.dat' }).put({ ip, port: 80, ready: 1, busy: 0, lastSeen: now }), TypeError, ip);
    }
    assert.throws(() => formatHeartbeatLine({ ip: '10.0.0.1', port: 0, ready: 1, busy: 0, lastSeen: now }, now), TypeError);
    assert.equal(formatHeartbeatLine({ ip: 'fe80::1%eth0', port: 80, ready: 1, busy: 0, lastSeen: now }, now), 'fe80::1%eth0 &ready=1&busy=0&lastseen=0&port=80\n');
  });

  describe('X-Forwarded-For with trustProxy', () => {
    const monitor = new HeartMonitor({ store: new MemoryStore() });
    const server = createServer(monitor.httpHandler({ trustProxy: true }));
    after(async () => {
      server.closeAllConnections();
      server.close();
      await monitor.close();
    });

    it('property: the rightmost entry becomes the server only when it is an IP literal; otherwise 400', async () => {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      // Header values node will send (no CR/LF, visible ASCII and spaces).
      const headerSafe = address.filter((text) => /^[\x20-\x7e]*$/.test(text));
      // Zone ids: bounded in length (node's isIP alone takes any length).
      for (const [entry, status] of [
        [`fe80::1%${'x'.repeat(16)}`, 400],
        [`fe80::1%${'x'.repeat(15)}`, 200],
        ['10.0.0.1%eth0', 400],
        ['[fe80::2%lo]', 200],
      ] as const) {
        const response = await httpRequest(url, { method: 'POST', body: HB, headers: { 'x-forwarded-for': `10.9.9.9, ${entry}` } });
        assert.equal(response.status, status, entry);
      }
      await fc.assert(
        fc.asyncProperty(fc.array(headerSafe, { minLength: 1, maxLength: 3 }), async (entries) => {
          const header = entries.join(', ');
          const last = (header.split(',').pop() ?? '').trim();
          const unbracketed = last.startsWith('[') && last.endsWith(']') ? last.slice(1, -1) : last;
          const response = await httpRequest(url, { method: 'POST', body: HB, headers: { 'x-forwarded-for': header } });
          const expected = isAcceptableSource(unbracketed);
          assert.equal(response.status, expected ? 200 : 400, `${JSON.stringify(header)} → ${response.status} ${response.body}`);
          for (const s of monitor.servers()) assert.ok(isAcceptableSource(s.ip), s.ip);
        }),
        { numRuns: 100 },
      );
    });
  });
});

/** A store whose put always throws. */
class ThrowingStore implements HeartbeatStore {
  constructor(readonly maxServers?: number) {}
  put(): boolean {
    throw new Error('disk on fire');
  }
  delete(): boolean {
    throw new Error('disk on fire');
  }
  servers(): ServerStatus[] {
    return [];
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('a faulty store', () => {
  for (const maxServers of [100, undefined]) {
    it(`keeps the table's bound (${maxServers ?? 'default 10,000'}) and reports the faults throttled`, async () => {
      const monitor = new HeartMonitor({ store: new ThrowingStore(maxServers), reportInterval: 60_000 });
      const errors: Error[] = [];
      monitor.on('error', (error) => errors.push(error));
      const bound = maxServers ?? 10_000;
      const sources = bound + 5000;
      for (let i = 0; i < sources; i++) monitor.ingest(HB, { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
      const stats = monitor.stats();
      assert.equal(stats.servers, bound);
      assert.equal(stats.accepted, bound);
      assert.equal(stats.rejected, sources - bound);
      assert.ok(errors.length <= 2, `${errors.length} error events for ${sources} faults`);
      assert.ok(errors[0] instanceof StoreError);
      await monitor.close();
    });
  }

  it('is checked at construction: the interface methods and maxServers', () => {
    for (const store of [{}, null, 5, { put() {}, delete() {}, servers() {}, flush() {} }, { ...new MemoryStore(), put: 1 }]) {
      assert.throws(() => new HeartMonitor({ store: store as never }), (error: Error) => error instanceof TypeError && /`store`/.test(error.message), JSON.stringify(store));
    }
    const bad = Object.assign(new ThrowingStore(), { maxServers: 0 });
    assert.throws(() => new HeartMonitor({ store: bad }), RangeError);
  });

  it('a full store emits `rejected` (code store-full) for each refused heartbeat, as it counts them', async () => {
    const monitor = new HeartMonitor({ store: new MemoryStore({ maxServers: 2 }) });
    const rejected: string[] = [];
    monitor.on('rejected', (info) => rejected.push(`${info.from.address} ${info.code}`));
    monitor.on('error', () => undefined);
    for (let i = 1; i <= 4; i++) monitor.ingest(HB, { address: `10.0.0.${i}` });
    assert.deepEqual(rejected, ['10.0.0.3 store-full', '10.0.0.4 store-full']);
    assert.equal(monitor.stats().rejected, 2);
    await monitor.close();
  });
});
