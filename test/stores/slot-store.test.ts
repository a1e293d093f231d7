/**
 * SlotStore (SPEC 1.7): worker-thread views equal the owner, never see torn slots, pick
 * like the pure function and see heartbeats at once; full stores and slot reuse through
 * the monitor.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { HeartMonitor, pickBackend, SLOT_BYTES, SlotStore, StoreError, StoreFullError, type ServerStatus } from '../../src/index.js';
import type { SlotWorkerRequest } from './slot-worker.js';
import { seededRandom } from '../helpers/random.js';
import { waitFor } from '../helpers/wait.js';
import { server } from './helpers.js';
import { tornProbe } from './torn-probe.js';

const workers: Worker[] = [];
after(async () => {
  await Promise.all(workers.map((worker) => worker.terminate()));
});

/** Start a worker attached to `buffer`, resolved once it listens for requests. */
async function startWorker(buffer: SharedArrayBuffer): Promise<Worker> {
  const worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), {
    workerData: { module: new URL('./slot-worker.ts', import.meta.url).href, buffer },
  });
  workers.push(worker);
  await once(worker, 'online');
  return worker;
}

/** Send one request and wait for the answer (bounded). */
async function ask<T>(worker: Worker, request: SlotWorkerRequest, timeout = 20_000): Promise<T> {
  const answer = once(worker, 'message', { signal: AbortSignal.timeout(timeout) });
  worker.postMessage(request);
  const [message] = (await answer) as [T];
  return message;
}

const byKey = (a: ServerStatus, b: ServerStatus): number => `${a.ip}:${a.port}`.localeCompare(`${b.ip}:${b.port}`);

describe('SlotStore', () => {
  it('uses at most 256 bytes per slot and exposes its buffer and capacity', () => {
    const store = new SlotStore({ maxServers: 32 });
    assert.ok(SLOT_BYTES <= 256);
    assert.ok(store.buffer instanceof SharedArrayBuffer);
    assert.ok(store.buffer.byteLength <= 64 + 32 * 256);
    assert.equal(store.maxServers, 32);
  });

  it('gives a worker-thread view equal to the owner’s table', async () => {
    const monitor = new HeartMonitor({ maxServers: 16, keyBy: 'ip:port' });
    try {
      monitor.ingest('v=1&ready=8&busy=2&port=8080', { address: '10.0.0.1' });
      monitor.ingest('v=1&ready=3&busy=0&port=8081', { address: '10.0.0.1' });
      monitor.ingest('v=1&ready=5&busy=5', { address: '2001:db8::7' });
      monitor.ingest('v=1&ready=0&busy=9&port=443', { address: '::ffff:10.0.0.2' });
      const store = monitor.store as SlotStore;
      const worker = await startWorker(store.buffer);
      const seen = await ask<ServerStatus[]>(worker, { type: 'servers' });
      assert.equal(seen.length, 4);
      assert.deepEqual(seen.sort(byKey), store.servers().sort(byKey));
      assert.deepEqual(seen.sort(byKey), monitor.servers().sort(byKey));
      // The header carries the monitor's settings: the view needs nothing but the buffer.
      const view = SlotStore.attach(store.buffer);
      assert.equal(view.maxServers, 16);
      assert.equal(view.settings.keyBy, 'ip:port');
    } finally {
      await monitor.close();
    }
  });

  it('never lets reader threads see a torn slot while the owner rewrites slots', async () => {
    const slots = 16;
    const store = new SlotStore({ maxServers: slots, expireAfter: 1e15 });
    const keys = Array.from({ length: slots }, (_, i) => `slot-${i}`);
    keys.forEach((key, i) => store.put(tornProbe(i), key));
    const readers = await Promise.all([startWorker(store.buffer), startWorker(store.buffer)]);
    // Words: 0 stop flag, 1 readers started, 2.. changes each reader has seen so far.
    const stop = new Int32Array(new SharedArrayBuffer(4 * (2 + readers.length)));
    const results = readers.map((worker, index) =>
      ask<{ reads: number; torn: number; distinct: number }>(worker, { type: 'torn', stop: stop.buffer, index, maxMs: 20_000 }),
    );
    await waitFor('readers to start', () => Atomics.load(stop, 1) === readers.length, { timeoutMs: 10_000 });
    // Rewrite as fast as possible (the event loop is blocked meanwhile) until every reader
    // has watched enough changes go by, bounded in count and time.
    const random = seededRandom(42);
    const deadline = Date.now() + 10_000;
    const watchedEnough = (): boolean => readers.every((_, index) => Atomics.load(stop, 2 + index) >= 200);
    let writes = 0;
    while (writes < 5_000_000) {
      if ((writes & 1023) === 0 && (Date.now() >= deadline || (writes >= 100_000 && watchedEnough()))) break;
      const slot = writes % slots;
      store.put(tornProbe(Math.floor(random() * 0xffffff)), keys[slot]);
      writes++;
    }
    Atomics.store(stop, 0, 1);
    for (const { reads, torn, distinct } of await Promise.all(results)) {
      assert.equal(torn, 0, `${torn} torn reads among ${reads}`);
      assert.ok(reads > 1000, `only ${reads} reads`);
      assert.ok(distinct >= 200, `the reader saw only ${distinct} changes during ${writes} writes`);
    }
  });

  it('picks in a worker exactly as the owner and the pure function do on the same snapshot', async () => {
    const seed = 1234;
    const monitor = new HeartMonitor({ maxServers: 10, random: seededRandom(seed) });
    try {
      const counts: [string, number, number][] = [
        ['10.0.0.1', 10, 0],
        ['10.0.0.2', 20, 3],
        ['10.0.0.3', 70, 1],
        ['10.0.0.4', 0, 9],
        ['10.0.0.5', 5, 5],
      ];
      for (const [ip, ready, busy] of counts) monitor.ingest(`v=1&ready=${ready}&busy=${busy}`, { address: ip });
      const members = [...counts.map(([ip]) => `http://${ip}:8080`), 'http://10.9.9.9:8080'];
      const snapshot = monitor.store.servers();
      const now = Math.max(...snapshot.map((s) => s.lastSeen)) + 1;
      const worker = await startWorker((monitor.store as SlotStore).buffer);

      const fromWorker = await ask<string[]>(worker, { type: 'pick', members, seed, count: 3000, now });
      const expectRandom = seededRandom(seed);
      const pure = Array.from({ length: 3000 }, () => pickBackend(snapshot, members, { random: expectRandom, now }));
      const owner = Array.from({ length: 3000 }, () => monitor.pickBackend(members));
      assert.deepEqual(fromWorker, pure);
      assert.deepEqual(fromWorker, owner);
      assert.ok(new Set(fromWorker).size >= 4);

      const allFromWorker = await ask<string[]>(worker, { type: 'pick', seed, count: 500, now });
      const allRandom = seededRandom(seed);
      assert.deepEqual(
        allFromWorker,
        Array.from({ length: 500 }, () => pickBackend(snapshot, undefined, { random: allRandom, now })?.ip),
      );
    } finally {
      await monitor.close();
    }
  });

  it('shows a heartbeat ingested by the monitor to a worker’s pickBackend without a flush', async () => {
    const monitor = new HeartMonitor({ maxServers: 10, flushInterval: 3_600_000 });
    try {
      const worker = await startWorker((monitor.store as SlotStore).buffer);
      const members = ['http://10.0.0.1:80', 'http://10.0.0.2:80'];
      assert.equal(await ask<string | null>(worker, { type: 'pick-once', members }), null);
      monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.2' });
      assert.equal(await ask<string | null>(worker, { type: 'pick-once', members }), 'http://10.0.0.2:80');
      monitor.ingest('v=1&ready=0&busy=6', { address: '10.0.0.2' });
      monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
      assert.equal(await ask<string | null>(worker, { type: 'pick-once', members }), 'http://10.0.0.1:80');
    } finally {
      await monitor.close();
    }
  });

  it('reports a full store through the monitor at once, then throttled with a count, keeping existing servers', async () => {
    const monitor = new HeartMonitor({ maxServers: 10, reportInterval: 100, staleAfter: 1000, expireAfter: 60_000 });
    try {
      const errors: Error[] = [];
      monitor.on('error', (error) => errors.push(error));
      for (let i = 1; i <= 10; i++) assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: `10.0.0.${i}` }), true);
      assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.1.1' }), false);
      assert.equal(errors.length, 1, 'the first drop is reported at once');
      const first = errors[0];
      assert.ok(first instanceof StoreFullError);
      assert.equal(first.maxServers, 10);
      assert.equal(first.lastDropped, '10.0.1.1');
      assert.match(first.message, /maxServers 10/);
      assert.match(first.message, /10\.0\.1\.1/);

      for (let i = 2; i <= 200; i++) monitor.ingest('v=1&ready=5&busy=1', { address: `10.0.1.${i}` });
      assert.equal(errors.length, 1, 'a flood is not an event storm');
      // Held servers still update.
      assert.equal(monitor.ingest('v=1&ready=50&busy=1', { address: '10.0.0.3' }), true);
      await waitFor('the throttled report', () => errors.length === 2, { timeoutMs: 5000 });
      const second = errors[1];
      assert.ok(second instanceof StoreFullError);
      assert.equal(second.dropped, 199);
      assert.equal(second.lastDropped, '10.0.1.200');
      assert.equal(monitor.stats().rejected, 200);
      const view = SlotStore.attach((monitor.store as SlotStore).buffer);
      assert.equal(view.servers().length, 10);
      assert.equal(view.servers().find((s) => s.ip === '10.0.0.3')?.ready, 50);
      assert.equal(
        view.servers().some((s) => s.ip.startsWith('10.0.1.')),
        false,
      );
    } finally {
      await monitor.close();
    }
  });

  it('frees the slot of an expired server for a new one', async () => {
    const monitor = new HeartMonitor({ maxServers: 10, staleAfter: 300, expireAfter: 1000, reportInterval: 0 });
    try {
      const errors: Error[] = [];
      monitor.on('error', (error) => errors.push(error));
      const removed: string[] = [];
      monitor.on('remove', (s) => removed.push(s.ip));
      const view = SlotStore.attach((monitor.store as SlotStore).buffer);
      for (let i = 1; i <= 10; i++) monitor.ingest('v=1&ready=5&busy=1', { address: `10.0.0.${i}` });
      assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.1.1' }), false);
      const keepAlive = setInterval(() => {
        for (let i = 2; i <= 10; i++) monitor.ingest('v=1&ready=5&busy=1', { address: `10.0.0.${i}` });
      }, 10);
      try {
        await waitFor('10.0.0.1 to expire', () => removed.includes('10.0.0.1'), { timeoutMs: 5000 });
        assert.equal(view.servers().length, 9);
        assert.equal((monitor.store as SlotStore).size, 9);
        assert.equal(monitor.ingest('v=1&ready=7&busy=1', { address: '10.0.1.1' }), true);
        assert.equal(view.servers().length, 10);
        assert.equal(view.servers().find((s) => s.ip === '10.0.1.1')?.ready, 7);
        assert.equal(monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.1.2' }), false);
      } finally {
        clearInterval(keepAlive);
      }
      assert.ok(errors.every((error) => error instanceof StoreFullError));
    } finally {
      await monitor.close();
    }
  });

  it('refuses an address longer than a slot holds with a StoreError', () => {
    const store = new SlotStore({ maxServers: 10 });
    assert.throws(() => store.put(server(`fe80::1%${'x'.repeat(80)}`)), StoreError);
    assert.equal(store.size, 0);
    assert.equal(store.put(server('ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255')), true);
  });

  it('rejects buffers that are not SlotStore buffers, and bad options', () => {
    assert.throws(() => SlotStore.attach(new SharedArrayBuffer(16)), { name: 'TypeError', message: /SlotStore buffer/ });
    assert.throws(() => SlotStore.attach(new SharedArrayBuffer(4096)), { name: 'TypeError', message: /SlotStore header/ });
    assert.throws(() => SlotStore.attach(new ArrayBuffer(4096) as unknown as SharedArrayBuffer), { name: 'TypeError' });
    const store = new SlotStore({ maxServers: 10 });
    assert.throws(() => SlotStore.attach(store.buffer.slice(0, 200)), { name: 'TypeError', message: /too small/ });
    assert.throws(() => new SlotStore({ maxServers: 0 }), { name: 'RangeError', message: /`maxServers`/ });
    assert.throws(() => new SlotStore({ maxServers: 1.5 }), { name: 'TypeError', message: /`maxServers`/ });
    assert.throws(() => SlotStore.attach(store.buffer, { keyBy: 'x' as 'ip' }), { name: 'TypeError', message: /`keyBy`/ });
  });
});
