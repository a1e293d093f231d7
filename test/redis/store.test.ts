import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { createClient } from 'redis';
import { HeartMonitor } from '../../src/index.js';
import { parseRecord, RedisStore, tableKeys, type RedisView } from '../../src/redis.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { storeContract } from '../stores/store-contract.js';
import { server } from '../stores/helpers.js';
import { Clients, uniquePrefix } from './support.js';

let redis: RedisServer;
const clients = new Clients();
let shared: ReturnType<typeof createClient>;

before(async () => {
  redis = await RedisServer.start();
  shared = await clients.connect(redis.url);
});
const views: RedisView[] = [];
after(async () => {
  // Closed here too: a view left open by a failing test would keep its subscriber reconnecting, and the file would never end.
  for (const view of views.splice(0)) await view.close();
  clients.closeAll();
  await redis.stop();
});

async function attach(prefix: string): Promise<RedisView> {
  const view = await RedisStore.attach({ client: shared, prefix });
  views.push(view);
  return view;
}

const contractStores: RedisStore[] = [];
storeContract('RedisStore', {
  create: (maxServers) => {
    const store = new RedisStore({ client: shared, prefix: uniquePrefix('contract'), maxServers });
    contractStores.push(store);
    return store;
  },
  // Each store watches the shared client for errors until it is closed.
  cleanup: () => {
    for (const store of contractStores.splice(0)) store.close().catch(() => undefined);
  },
});

describe('RedisStore writes one shared table', () => {
  it('stores records with the reporting monitor, on the Redis clock, with a TTL of expireAfter (the sequence number: a day)', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore({ client: shared, prefix, monitorId: 'segment-a', expireAfter: 5000 });
    store.put(server('10.0.0.1', { ready: 7, busy: 2, port: 8080 }));
    await store.flush();
    const keys = tableKeys(prefix);
    const text = (await shared.hGet(keys.servers, '10.0.0.1')) ?? '';
    assert.equal(text, '10.0.0.1\t8080\tsegment-a\t7\t2');
    assert.deepEqual(parseRecord('10.0.0.1', text), { ip: '10.0.0.1', port: 8080, ready: 7, busy: 2, monitor: 'segment-a' });
    const [seconds] = await shared.time();
    const seen = await shared.zScore(keys.seen, '10.0.0.1');
    assert.ok(seen !== null && Math.abs(seen - Number(seconds) * 1000) < 2000, `seen ${seen} is on the Redis clock`);
    const ttl = await shared.pTTL(keys.servers);
    assert.ok(ttl > 0 && ttl <= 5000, `ttl ${ttl}`);
    // The sequence number outlives a quiet table by far: views attached to it must never see the numbering restart.
    const sequenceTtl = await shared.pTTL(keys.sequence);
    assert.ok(sequenceTtl > 23 * 3_600_000, `sequence ttl ${sequenceTtl}`);
    await store.close();
  });

  it('batches: a thousand heartbeats in one interval are one script run', async () => {
    const store = new RedisStore({ client: shared, prefix: uniquePrefix(), batchInterval: 50 });
    for (let i = 0; i < 1000; i++) store.put(server(`10.1.${i >> 8}.${i & 255}`));
    await store.flush();
    assert.equal(store.stats().writes, 1);
    assert.equal(store.stats().reportsSent, 1000);
    assert.equal(await shared.hLen(store.keys.servers), 1000);
    await store.close();
  });

  it('keeps the newest report whichever monitor made it; a monitor deletes only what it reported last', async () => {
    const prefix = uniquePrefix();
    const a = new RedisStore({ client: shared, prefix, monitorId: 'a' });
    const b = new RedisStore({ client: shared, prefix, monitorId: 'b' });
    a.put(server('10.0.0.1', { ready: 1 }));
    await a.flush();
    b.put(server('10.0.0.1', { ready: 2 }));
    await b.flush();
    const view = await attach(prefix);
    assert.equal(view.records()[0]?.monitor, 'b');
    assert.equal(view.records()[0]?.server.ready, 2);
    // a expires the server in its own table: b's newer report stays.
    a.delete('10.0.0.1');
    await a.flush();
    assert.equal(await shared.hExists(a.keys.servers, '10.0.0.1'), 1);
    b.delete('10.0.0.1');
    await b.flush();
    await waitFor('removal reaches the view', () => view.servers().length === 0);
    view.close();
    await a.close();
    await b.close();
  });

  it('an older report arriving later does not overwrite a newer one', async () => {
    const prefix = uniquePrefix();
    const keys = tableKeys(prefix);
    const fresh = new RedisStore({ client: shared, prefix, monitorId: 'fresh' });
    fresh.put(server('10.0.0.9', { ready: 5 }));
    await fresh.flush();
    // A monitor whose report waited 3 s before it could be sent (its age says so) writes after it.
    const slow = new RedisStore({ client: shared, prefix, monitorId: 'slow' });
    const internals = slow as unknown as { held: Map<string, { heardAt: number }> };
    slow.put(server('10.0.0.9', { ready: 1 }));
    const held = internals.held.get('10.0.0.9');
    assert.ok(held);
    held.heardAt -= 3000;
    await slow.flush();
    const record = parseRecord('10.0.0.9', (await shared.hGet(keys.servers, '10.0.0.9')) ?? '');
    assert.equal(typeof record === 'string' ? record : record.monitor, 'fresh');
    await fresh.close();
    await slow.close();
  });

  it('trims servers no monitor reported for expireAfter, and the keys expire when nobody writes', async () => {
    const prefix = uniquePrefix();
    const gone = new RedisStore({ client: shared, prefix, monitorId: 'gone', expireAfter: 1000 });
    gone.put(server('10.0.0.1'));
    await gone.flush();
    const alive = new RedisStore({ client: shared, prefix, monitorId: 'alive', expireAfter: 1000 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    alive.put(server('10.0.0.2'));
    await alive.flush();
    assert.deepEqual(await shared.hKeys(alive.keys.servers), ['10.0.0.2']);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal(await shared.exists(alive.keys.servers), 0);
    await gone.close();
    await alive.close();
  });

  it('drain and disable on a monitor reach the view; enable clears them', async () => {
    const prefix = uniquePrefix();
    const monitor = new HeartMonitor({ store: new RedisStore({ client: shared, prefix }) });
    monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.1' });
    monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.2' });
    await monitor.store.flush();
    const view = await attach(prefix);
    const members = ['http://10.0.0.1:80', 'http://10.0.0.2:80'];
    monitor.disable('10.0.0.1');
    monitor.drain('10.0.0.2');
    await waitFor('admin states', () => view.servers().every((s) => s.state !== undefined));
    assert.equal(view.pickBackend(members), undefined);
    // A view attached later reads them from the snapshot.
    const late = await attach(prefix);
    assert.deepEqual(late.servers().map((s) => s.state).sort(), ['disabled', 'draining']);
    monitor.enable('10.0.0.1');
    await waitFor('enabled', () => view.pickBackend(members) === 'http://10.0.0.1:80');
    view.close();
    late.close();
    await monitor.close();
  });

  it('drain, disable and enable rewrite the record without making it younger: a silent server stays stale in every view', async () => {
    const prefix = uniquePrefix();
    const monitor = new HeartMonitor({ store: new RedisStore({ client: shared, prefix, batchInterval: 1 }) });
    monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.1' });
    await monitor.store.flush();
    const view = await RedisStore.attach({ client: shared, prefix, staleAfter: 400 });
    views.push(view);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const ageOf = (): number => view.describe()[0]?.age ?? Number.NaN;
    for (const step of ['drain', 'disable', 'enable'] as const) {
      const before = Date.now();
      monitor[step]('10.0.0.1');
      await monitor.store.flush();
      const state = step === 'drain' ? 'draining' : step === 'disable' ? 'disabled' : 'stale';
      await waitFor(`${step} reaches the view`, () => view.describe()[0]?.state === state);
      assert.ok(ageOf() >= 600 + (Date.now() - before) - 50, `${step}: the view's age ${ageOf()} ms counts from the heartbeat`);
      // A view attached now reads the same age from the snapshot.
      const late = await RedisStore.attach({ client: shared, prefix, staleAfter: 400 });
      views.push(late);
      assert.ok((late.describe()[0]?.age ?? 0) >= 600, `${step}: a late view's age ${late.describe()[0]?.age}`);
      assert.equal(late.describe()[0]?.state, state);
      await late.close();
    }
    assert.equal(view.pickBackend()?.ip, '10.0.0.1', "noFreshServer 'last-known' still picks it, by its last weight");
    await view.close();
    await monitor.close();
  });

  it("a monitor's own rewrite of a heartbeat lands however the transit times differ; another monitor's older report does not", async () => {
    const prefix = uniquePrefix();
    const keys = tableKeys(prefix);
    const own = new RedisStore({ client: shared, prefix, monitorId: 'own' });
    const internals = own as unknown as { held: Map<string, { heardAt: number }> };
    const heartbeat = server('10.0.0.9', { ready: 5 });
    own.put(heartbeat);
    await own.flush();
    const seen = await shared.zScore(keys.seen, '10.0.0.9');
    // The rewrite of the same heartbeat (same lastSeen) computes an age 50 ms larger than its
    // first write did, as a slower trip to Redis would: it is still this monitor's newest word.
    const held = internals.held.get('10.0.0.9');
    assert.ok(held);
    held.heardAt -= 50;
    own.put({ ...heartbeat, inRotationSince: heartbeat.lastSeen + 1 });
    await own.flush();
    const record = parseRecord('10.0.0.9', (await shared.hGet(keys.servers, '10.0.0.9')) ?? '');
    assert.ok(typeof record !== 'string' && record.inRotationMs === -1, `the rewrite landed: ${JSON.stringify(record)}`);
    // Its latest word is the truth about its heartbeat: the time follows it, back by the 50 ms.
    const moved = await shared.zScore(keys.seen, '10.0.0.9');
    assert.ok(seen !== null && moved !== null && moved < seen, `the time ${moved} moved back from ${seen}`);
    const other = new RedisStore({ client: shared, prefix, monitorId: 'other' });
    other.put(server('10.0.0.9', { ready: 1 }));
    const older = (other as unknown as { held: Map<string, { heardAt: number }> }).held.get('10.0.0.9');
    assert.ok(older);
    older.heardAt -= 3000;
    await other.flush();
    const kept = parseRecord('10.0.0.9', (await shared.hGet(keys.servers, '10.0.0.9')) ?? '');
    assert.equal(typeof kept === 'string' ? kept : kept.monitor, 'own');
    await own.close();
    await other.close();
  });

  it('a report time ahead of the Redis clock (hostile write, clock stepped back) loses to a live report, never stays ahead, and expires', async () => {
    const prefix = uniquePrefix('future');
    const keys = tableKeys(prefix);
    const redisNow = async (): Promise<number> => {
      const [seconds, micros] = await shared.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    };
    const start = await redisNow();
    // Two ghosts ten minutes ahead: one a live monitor reports, one nobody reports.
    await shared.zAdd(keys.seen, [
      { score: start + 600_000, value: '10.0.0.1' },
      { score: start + 600_000, value: '10.0.0.8' },
    ]);
    await shared.hSet(keys.servers, { '10.0.0.1': '10.0.0.1\t80\tghost\t9\t0', '10.0.0.8': '10.0.0.8\t80\tghost\t9\t0' });
    const real = new RedisStore({ client: shared, prefix, monitorId: 'real', expireAfter: 1000 });
    real.put(server('10.0.0.1', { ready: 2 }));
    await real.flush();
    const record = parseRecord('10.0.0.1', (await shared.hGet(keys.servers, '10.0.0.1')) ?? '');
    assert.equal(typeof record === 'string' ? record : record.monitor, 'real', 'the live report replaced the future-dated one');
    const after = await redisNow();
    for (const key of ['10.0.0.1', '10.0.0.8']) {
      const seen = await shared.zScore(keys.seen, key);
      assert.ok(seen !== null && seen <= after, `${key}: stored time ${seen} is not ahead of the clock ${after}`);
    }
    // The view runs with the table's expireAfter, so it drops the ghost by its own clock too.
    const view = await RedisStore.attach({ client: shared, prefix, staleAfter: 500, expireAfter: 1000 });
    views.push(view);
    assert.equal(view.records().find((r) => r.server.ip === '10.0.0.1')?.monitor, 'real');
    // The unreported ghost now ages like any record and is trimmed after expireAfter.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    real.put(server('10.0.0.1', { ready: 3 }));
    await real.flush();
    assert.deepEqual(await shared.hKeys(keys.servers), ['10.0.0.1']);
    await waitFor('the ghost leaves the view', () => view.servers().length === 1);
    await view.close();
    await real.close();
  });

  it("a connection blip on one monitor does not put back a drain another monitor has lifted since; a Redis that lost the table gets it back", async () => {
    const prefix = uniquePrefix('blip');
    const keys = tableKeys(prefix);
    const own = await clients.connect(redis.url);
    const a = new RedisStore({ client: own, prefix, monitorId: 'a', batchInterval: 1 });
    const b = new RedisStore({ client: shared, prefix, monitorId: 'b' });
    a.put(server('10.0.0.1'));
    a.setAdmin('10.0.0.1', 'draining');
    await a.flush();
    b.setAdmin('10.0.0.1', undefined);
    await b.flush();
    assert.deepEqual({ ...(await shared.hGetAll(keys.admin)) }, {});
    // A's client reports an error (a reset connection): its next write rewrites its table.
    own.emit('error', new Error('read ECONNRESET'));
    a.put(server('10.0.0.1', { ready: 4 }));
    await waitFor('the rewrite after the blip', () => !a.stats().down && a.stats().writes >= 2);
    assert.deepEqual({ ...(await shared.hGetAll(keys.admin)) }, {}, "b's enable stands");
    // The table lost (as after a restart without persistence): the rewrite puts the drain back.
    await shared.del([keys.servers, keys.seen, keys.sequence, keys.admin]);
    const writes = a.stats().writes;
    own.emit('error', new Error('read ECONNRESET'));
    a.put(server('10.0.0.1', { ready: 5 }));
    await waitFor('the rewrite after the loss', () => !a.stats().down && a.stats().writes > writes);
    assert.deepEqual({ ...(await shared.hGetAll(keys.admin)) }, { '10.0.0.1': 'draining' });
    await a.close().catch(() => undefined);
    await b.close();
  });

  it('stores on one client share one error listener, which leaves with the last close(); a write after close() puts it back', async () => {
    const client = await clients.connect(redis.url);
    const before = client.listenerCount('error');
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    const stores = Array.from({ length: 12 }, () => new RedisStore({ client, prefix: uniquePrefix() }));
    assert.equal(client.listenerCount('error'), before + 1);
    // Every store hears an error of the client: each starts an outage (reported by its next flush).
    client.emit('error', new Error('connection reset'));
    assert.ok(stores.every((store) => store.stats().down));
    await Promise.all(stores.slice(1).map((store) => store.close().catch(() => undefined)));
    assert.equal(client.listenerCount('error'), before + 1, 'one store still listens');
    await stores[0]?.close().catch(() => undefined);
    assert.equal(client.listenerCount('error'), before);
    const reused = stores[0] as RedisStore;
    reused.put({ ip: '10.0.0.9', port: 80, ready: 1, busy: 1, lastSeen: Date.now() });
    assert.equal(client.listenerCount('error'), before + 1);
    await reused.close();
    assert.equal(client.listenerCount('error'), before);
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    assert.deepEqual(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning'), []);
  });

  it('rejects bad options naming them', () => {
    assert.throws(() => new RedisStore({ client: shared, prefix: 'a{b}' }), /`prefix`/);
    assert.throws(() => new RedisStore({ client: shared, expireAfter: 10 }), /`expireAfter`/);
    assert.throws(() => new RedisStore({ client: shared, monitorId: 'a\nb' }), /`monitorId`/);
    assert.throws(() => new RedisStore({ client: {} as never }), /`client`/);
  });
});
