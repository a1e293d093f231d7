import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createClient } from 'redis';
import { HeartMonitor } from '../../src/index.js';
import { parseRecord, RedisStore, tableKeys, type RedisView } from '../../src/redis.js';
import { encodeChanges } from '../../src/stores/redis/changes.js';
import { encodeRecord } from '../../src/stores/redis/record.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { server } from '../stores/helpers.js';
import { Clients, uniquePrefix } from './support.js';

let redis: RedisServer;
const clients = new Clients();
let shared: ReturnType<typeof createClient>;
const views: RedisView[] = [];

before(async () => {
  redis = await RedisServer.start();
  shared = await clients.connect(redis.url);
});
after(async () => {
  for (const view of views.splice(0)) view.close();
  clients.closeAll();
  await redis.stop();
});

async function attach(options: Omit<Parameters<typeof RedisStore.attach>[0], 'client'>): Promise<RedisView> {
  const view = await RedisStore.attach({ client: shared, probeInterval: 100, ...options });
  views.push(view);
  return view;
}

describe('RedisView', () => {
  it('ages by the report age, not by any host clock: a view an hour ahead and a monitor an hour behind agree', async () => {
    const prefix = uniquePrefix();
    const monitor = new HeartMonitor({ store: new RedisStore({ client: shared, prefix }), clock: { now: () => Date.now() - 3_600_000, monotonic: () => performance.now() } });
    monitor.ingest('v=1&ready=4&busy=1', { address: '10.0.0.1' });
    await monitor.store.flush();
    const ahead = () => Date.now() + 3_600_000;
    const view = await attach({ prefix, clock: { now: ahead } });
    const [record] = view.records();
    assert.ok(record !== undefined && record.age >= 0 && record.age < 1000, `age ${record?.age}`);
    assert.ok(Math.abs(record.server.lastSeen - ahead()) < 1000);
    assert.equal(view.pickBackend()?.ip, '10.0.0.1');
    monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
    await waitFor('update', () => view.servers()[0]?.ready === 5);
    assert.ok(ahead() - (view.servers()[0]?.lastSeen ?? 0) < 1000);
    await monitor.close();
  });

  it('carries when the monitor put a server into rotation, on the view clock: ramps in step an hour apart, and enable() restarts them', async () => {
    const prefix = uniquePrefix();
    const behind = (): number => Date.now() - 3_600_000;
    const ahead = (): number => Date.now() + 3_600_000;
    const slowStart = { window: 60_000 };
    const monitor = new HeartMonitor({ store: new RedisStore({ client: shared, prefix, batchInterval: 1 }), slowStart, clock: { now: behind, monotonic: () => performance.now() } });
    const enteredAt = ahead();
    monitor.ingest('v=1&ready=40&busy=1', { address: '10.0.0.1' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A later heartbeat of a server in rotation keeps the time it entered.
    monitor.ingest('v=1&ready=41&busy=1', { address: '10.0.0.1' });
    await monitor.store.flush();
    const view = await attach({ prefix, slowStart, clock: { now: ahead } });
    const carried = view.servers()[0]?.inRotationSince ?? Number.NaN;
    assert.ok(Math.abs(carried - enteredAt) < 100, `in rotation since ${carried - enteredAt} ms off the view's clock`);
    const monitorRamp = monitor.serverState('10.0.0.1')?.slowStart ?? Number.NaN;
    const viewRamp = view.serverState('10.0.0.1')?.slowStart ?? Number.NaN;
    assert.ok(Math.abs(viewRamp - monitorRamp) < 0.005, `ramp progress: view ${viewRamp}, monitor ${monitorRamp}`);
    assert.ok(viewRamp > 0.004, 'the view ramps from the monitor moment, not from the snapshot');

    // Back from the operator the server re-enters rotation now, after its last heartbeat:
    // the monitor rewrites the record with that time and the view ramps from it.
    monitor.disable('10.0.0.1');
    await waitFor('disabled', () => view.servers()[0]?.state === 'disabled');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const enabledAt = ahead();
    monitor.enable('10.0.0.1');
    await waitFor('enabled', () => (view.servers()[0]?.inRotationSince ?? 0) > carried + 400, { timeoutMs: 3000 });
    const since = view.servers()[0]?.inRotationSince ?? Number.NaN;
    assert.ok(Math.abs(since - enabledAt) < 100, `in rotation since ${since - enabledAt} ms off the enable`);
    assert.ok((view.serverState('10.0.0.1')?.slowStart ?? 1) < 0.01, `ramp restarted: ${view.serverState('10.0.0.1')?.slowStart}`);
    await monitor.close();
  });

  it('checks its options as every view does: staleAfter beyond expireAfter, a missing options bag', async () => {
    await assert.rejects(RedisStore.attach({ client: shared, staleAfter: 60_000 }), { name: 'RangeError', message: 'Expected `expireAfter` (30000) to be at least `staleAfter` (60000)' });
    await assert.rejects(RedisStore.attach(null as never), { name: 'TypeError', message: 'Expected `options` to be an object with a `client`, got null' });
    await assert.rejects(RedisStore.attach({ client: {} as never }), { name: 'TypeError', message: /^Expected `client` to be a node-redis client, cluster or Sentinel client, got / });
    await assert.rejects(RedisStore.attach({ client: shared, subscriber: 'redis://x' as never }), { name: 'TypeError', message: /^Expected `subscriber` to be a node-redis connection with sSubscribe\(\) and sUnsubscribe\(\), or undefined, got / });
    assert.throws(() => new RedisStore(null as never), { name: 'TypeError', message: 'Expected `options` to be an object with a `client`, got null' });
  });

  it('turns servers stale and removes them by its own timers when nothing more arrives', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore({ client: shared, prefix, expireAfter: 5000 });
    store.put(server('10.0.0.1'));
    await store.flush();
    const view = await attach({ prefix, staleAfter: 200, expireAfter: 500, noFreshServer: 'fail' });
    const events: string[] = [];
    view.on('stale', (s) => events.push(`stale ${s.ip}`));
    view.on('remove', (s) => events.push(`remove ${s.ip}`));
    assert.equal(view.pickBackend()?.ip, '10.0.0.1');
    await waitFor('removed', () => events.length === 2, { timeoutMs: 3000 });
    assert.deepEqual(events, ['stale 10.0.0.1', 'remove 10.0.0.1']);
    assert.equal(view.pickBackend(), undefined);
    await store.close();
  });

  it("noFreshServer 'last-known' (the default) picks stale servers by their last weights until they expire; 'fail' does not", async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore({ client: shared, prefix });
    store.put(server('10.0.0.1', { ready: 3 }));
    await store.flush();
    const lastKnown = await attach({ prefix, staleAfter: 100, expireAfter: 60_000 });
    const failing = await attach({ prefix, staleAfter: 100, expireAfter: 60_000, noFreshServer: 'fail' });
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(lastKnown.pickBackend(['http://10.0.0.1:80']), 'http://10.0.0.1:80');
    assert.equal(failing.pickBackend(['http://10.0.0.1:80']), undefined);
    await store.close();
  });

  it('refuses and counts records it cannot parse, keeps the valid ones, and reports once', async () => {
    const prefix = uniquePrefix();
    const keys = tableKeys(prefix);
    const store = new RedisStore({ client: shared, prefix });
    store.put(server('10.0.0.1'));
    await store.flush();
    const hostile: Record<string, string> = {
      '10.0.0.2': '10.0.0.2\t80\t<script>alert(1)</script>\n10.9.9.9 &ready=9\t1\t0',
      '10.0.0.3': 'not a record',
      '10.0.0.4': '10.0.0.4\n10.6.6.6 &ready=99&busy=0&lastseen=0&port=80\t80\tm\t1\t0',
      '10.0.0.5': '10.0.0.6\t80\tm\t1\t0',
      '10.0.0.7': '10.0.0.7\t80\tm\t-1\t0',
      '10.0.0.8': '10.0.0.8\t80\tm\t1\t0\t{"x":"a\\u0007b"}',
    };
    for (const [key, text] of Object.entries(hostile)) {
      await shared.hSet(keys.servers, key, text);
      await shared.zAdd(keys.seen, { score: Number((await shared.time())[0]) * 1000, value: key });
    }
    const view = await attach({ prefix });
    assert.deepEqual(view.servers().map((s) => s.ip), ['10.0.0.1']);
    assert.equal(view.metrics().records_refused, 6);
    // A forged change message with the next sequence number is refused line by line too.
    const errors: Error[] = [];
    view.on('error', (error) => errors.push(error));
    const sequence = Number(await shared.incr(keys.sequence));
    await shared.sPublish(keys.changes, `${sequence} 0\nP 10.0.0.9 0 10.0.0.9\t0\tm\t1\t0\nX junk\nA 10.0.0.1 <b>`);
    await waitFor('refusals counted', () => view.metrics().records_refused === 9);
    assert.deepEqual(view.servers().map((s) => s.ip), ['10.0.0.1']);
    await waitFor('one report', () => errors.length === 1, { timeoutMs: 2000 });
    // heartbeats_malformed counts the same refusals (not the reports of them).
    const metrics = view.metrics();
    assert.equal(metrics.heartbeats_malformed, 9);
    assert.equal(metrics.heartbeats_received, metrics.heartbeats_accepted + metrics.heartbeats_malformed);
    // The status page shows them with the source.
    const page = createServer(view.statusHandler());
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(page.address() as AddressInfo).port}/`;
      assert.match(await (await fetch(url)).text(), /<p id="source" class="source-up">Source: Redis table \{hm-test-t-\d+-\d+\}:servers, connected\. <span id="refused">9 record\(s\) refused\.<\/span><\/p>/);
      const json = (await (await fetch(`${url}?format=json`)).json()) as { source: { refused: number } };
      assert.equal(json.source.refused, 9);
    } finally {
      await new Promise<void>((resolve) => page.close(() => resolve()));
    }
    await store.close();
  });

  it('refuses a record without a report time: the scripts write both at once, so no monitor wrote it', async () => {
    const prefix = uniquePrefix();
    const keys = tableKeys(prefix);
    const store = new RedisStore({ client: shared, prefix });
    store.put(server('10.0.0.1'));
    await store.flush();
    await shared.hSet(keys.servers, '10.0.0.2', '10.0.0.2\t80\thand\t1\t0');
    const view = await attach({ prefix });
    assert.deepEqual(view.servers().map((s) => s.ip), ['10.0.0.1']);
    assert.equal(view.metrics().records_refused, 1);
    assert.equal(view.metrics().heartbeats_malformed, 1);
    await store.close();
  });

  it('a snapshot after missed messages is the truth: a server it lacks has left', async () => {
    const prefix = uniquePrefix();
    const keys = tableKeys(prefix);
    const store = new RedisStore({ client: shared, prefix });
    store.put(server('10.0.0.1'));
    store.put(server('10.0.0.2'));
    await store.flush();
    const view = await attach({ prefix });
    const removed: string[] = [];
    view.on('remove', (gone) => removed.push(gone.ip));
    // Removed behind the view's back, with a sequence number it never receives.
    await shared.hDel(keys.servers, '10.0.0.2');
    await shared.zRem(keys.seen, '10.0.0.2');
    await shared.incr(keys.sequence);
    await waitFor('removed by the resync', () => removed.length === 1, { timeoutMs: 3000 });
    assert.deepEqual(removed, ['10.0.0.2']);
    assert.deepEqual(view.servers().map((s) => s.ip), ['10.0.0.1']);
    await store.close();
  });

  it('a table whose sequence went back (Redis lost its data): the view keeps its servers until reported again, removed, or expired', async () => {
    const prefix = uniquePrefix();
    const keys = tableKeys(prefix);
    const store = new RedisStore({ client: shared, prefix });
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) store.put(server(ip, { ready: 4 }));
    await store.flush();
    const view = await attach({ prefix, staleAfter: 60_000, expireAfter: 60_000 });
    store.put(server('10.0.0.1', { ready: 5 }));
    await store.flush();
    await waitFor('sequence 2', () => view.servers().find((s) => s.ip === '10.0.0.1')?.ready === 5);
    view.markFailed('10.0.0.3');
    const removed: string[] = [];
    view.on('remove', (gone) => removed.push(gone.ip));
    // Everything gone, as after a restart without persistence: the sequence is back at 0.
    await shared.del([keys.servers, keys.seen, keys.sequence]);
    await waitFor('resync after the sequence went back', () => view.metrics().source_snapshots === 2, { timeoutMs: 3000 });
    assert.equal(removed.length, 0, removed.join());
    assert.deepEqual(view.servers().map((s) => s.ip).sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.equal(view.serverState('10.0.0.3')?.state, 'failed');
    // A new report updates a kept server in place; a later snapshot after a gap still keeps
    // the servers nobody reported since (that Redis never held them) ...
    const writer = new RedisStore({ client: shared, prefix, monitorId: 'other' });
    writer.put(server('10.0.0.1', { ready: 7 }));
    await writer.flush();
    await waitFor('rewritten', () => view.servers().find((s) => s.ip === '10.0.0.1')?.ready === 7);
    await shared.incr(keys.sequence);
    await waitFor('resync after a gap', () => view.metrics().source_snapshots === 3, { timeoutMs: 3000 });
    assert.equal(removed.length, 0, removed.join());
    assert.equal(view.serverState('10.0.0.3')?.state, 'failed');
    // ... but a server the current table held and then lost has left.
    await shared.hDel(keys.servers, '10.0.0.1');
    await shared.zRem(keys.seen, '10.0.0.1');
    await shared.incr(keys.sequence);
    await waitFor('resync after another gap', () => view.metrics().source_snapshots === 4, { timeoutMs: 3000 });
    assert.deepEqual(removed, ['10.0.0.1']);
    // A removal message reaches a kept server too.
    writer.put(server('10.0.0.2'));
    await writer.flush();
    writer.delete('10.0.0.2');
    await writer.flush();
    await waitFor('removed by its D message', () => removed.includes('10.0.0.2'));
    assert.deepEqual(view.servers().map((s) => s.ip), ['10.0.0.3']);
    await writer.close();
    await store.close();
  });

  it('views of two tables share one subscription connection given as `subscriber`; close() unsubscribes only its own', async () => {
    const subscriber = await clients.connect(redis.url);
    const [a, b] = [uniquePrefix('shared-a'), uniquePrefix('shared-b')];
    const stores = [a, b].map((prefix) => new RedisStore({ client: shared, prefix }));
    const viewA = await attach({ prefix: a, subscriber });
    const viewB = await attach({ prefix: b, subscriber });
    stores[0]?.put(server('10.0.1.1'));
    stores[1]?.put(server('10.0.2.1'));
    await waitFor('both tables', () => viewA.servers().length === 1 && viewB.servers().length === 1, { timeoutMs: 3000 });
    assert.equal(viewA.metrics().source_snapshots, 1, 'by change messages');
    const subscriptions = async (): Promise<unknown> => shared.sendCommand(['PUBSUB', 'SHARDNUMSUB', tableKeys(a).changes, tableKeys(b).changes]);
    assert.deepEqual(await subscriptions(), [tableKeys(a).changes, 1, tableKeys(b).changes, 1]);
    await viewA.close();
    await waitFor('a unsubscribed', async () => JSON.stringify(await subscriptions()) === JSON.stringify([tableKeys(a).changes, 0, tableKeys(b).changes, 1]), { timeoutMs: 3000 });
    stores[1]?.put(server('10.0.2.2'));
    await waitFor('b still follows', () => viewB.servers().length === 2, { timeoutMs: 3000 });
    assert.equal(subscriber.isOpen, true, 'the given connection stays open');
    for (const store of stores) await store?.close();
  });

  it('a lost change message is noticed by the probe and repaired by a snapshot', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore({ client: shared, prefix });
    store.put(server('10.0.0.1'));
    await store.flush();
    const view = await attach({ prefix });
    assert.equal(view.metrics().source_snapshots, 1);
    // Written behind the view's back: a sequence number it never received, and a record.
    const keys = tableKeys(prefix);
    await shared.hSet(keys.servers, '10.0.0.2', '10.0.0.2\t80\thand\t1\t0');
    await shared.zAdd(keys.seen, { score: Number((await shared.time())[0]) * 1000, value: '10.0.0.2' });
    await shared.incr(keys.sequence);
    await waitFor('resync', () => view.servers().length === 2, { timeoutMs: 3000 });
    assert.ok(view.metrics().source_snapshots >= 2);
    await store.close();
  });

  it('holds at most maxServers servers', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore({ client: shared, prefix });
    for (let i = 1; i <= 20; i++) store.put(server(`10.0.1.${i}`));
    await store.flush();
    const view = await attach({ prefix, maxServers: 10 });
    assert.equal(view.servers().length, 10);
    assert.ok(view.metrics().records_refused >= 1);
    await store.close();
  });

  it('a batch of reports: the view applies what parseRecord accepts, refuses and counts the rest, whatever the order (property, real Redis)', async () => {
    const prefix = uniquePrefix();
    const keys = tableKeys(prefix);
    const view = await attach({ prefix, staleAfter: 3_600_000, expireAfter: 3_600_000 });
    const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
    const good = fc.record({ ip: fc.constantFrom(...ips), ready: fc.nat(50), busy: fc.nat(50), monitor: fc.constantFrom('a', 'b'), fields: fc.option(fc.constantFrom<Readonly<Record<string, string>>>({ t: '1' }, { t: '2', u: 'x' }), { nil: undefined }) });
    const record = fc.oneof(
      good.map((r) => ({ key: r.ip, text: encodeRecord({ ...r, port: 80, lastSeen: 0 }, r.monitor) })),
      // Damaged: the identity of a known record with bad counts or fields, or a wrong key.
      good.chain((r) =>
        fc.constantFrom(`${r.ip}\t80\t${r.monitor}\t-1\t0`, `${r.ip}\t80\t${r.monitor}\t1\tx`, `${r.ip}\t80\t${r.monitor}\t1\t0\t{"t":1}`, `${r.ip}\t80\t${r.monitor}\t1\t0\t{`, `${r.ip}\t81\t${r.monitor}\t1`).map((text) => ({ key: r.ip, text })),
      ),
      good.map((r) => ({ key: r.ip === '10.0.0.1' ? '10.0.0.2' : '10.0.0.1', text: encodeRecord({ ...r, port: 80, lastSeen: 0 }, r.monitor) })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 30 }), async (batch) => {
        const model = new Map(view.records().map((held) => [held.key, { ready: held.server.ready, busy: held.server.busy, monitor: held.monitor, fields: held.server.fields }]));
        let refusals = 0;
        for (const { key, text } of batch) {
          const parsed = parseRecord(key, text);
          if (typeof parsed === 'string') refusals++;
          else model.set(key, { ready: parsed.ready, busy: parsed.busy, monitor: parsed.monitor, fields: parsed.fields });
        }
        const refusedBefore = view.metrics().records_refused;
        const messagesBefore = view.metrics().source_messages;
        const sequence = Number(await shared.incr(keys.sequence));
        await shared.sPublish(keys.changes, encodeChanges(sequence, 0, batch.map(({ key, text }) => ({ kind: 'put', key, age: 0, record: text }))));
        await waitFor('message applied', () => view.metrics().source_messages > messagesBefore, { timeoutMs: 2000, intervalMs: 2 });
        assert.equal(view.metrics().records_refused - refusedBefore, refusals);
        const held = new Map(view.records().map((r) => [r.key, { ready: r.server.ready, busy: r.server.busy, monitor: r.monitor, fields: r.server.fields }]));
        assert.deepEqual(held, model);
        assert.equal(view.metrics().source_snapshots, 1, 'no gap, no resync');
      }),
      { numRuns: 60 },
    );
  });
});

// AUTH comes from the client (the view's own subscriber, made with duplicate(), authenticates
// the same way), and `prefix` keeps tables apart on one Redis.
const password = 'hm-test-secret';
describe('Redis with AUTH, and tables apart by prefix', () => {
  let redis: RedisServer;
  const clients = new Clients();
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    redis = await RedisServer.start({ password });
  });
  after(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    clients.closeAll();
    await redis.stop();
  });

  it('monitor and view authenticate with the credentials of the client they are given; without them attach() rejects', async () => {
    const url = `redis://:${password}@127.0.0.1:${redis.port}`;
    const prefix = uniquePrefix('auth');
    const monitor = new HeartMonitor({ store: new RedisStore({ client: await clients.connect(url), prefix }) });
    cleanups.push(() => monitor.close());
    monitor.ingest('v=1&ready=3&busy=1', { address: '10.0.0.1' });
    await monitor.store.flush();
    const view = await RedisStore.attach({ client: await clients.connect(url), prefix });
    cleanups.push(() => view.close());
    assert.deepEqual(view.servers().map((server) => [server.ip, server.ready]), [['10.0.0.1', 3]]);
    // Changes reach the view through its duplicated, authenticated subscriber.
    monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
    await waitFor('change through the subscriber', () => view.servers()[0]?.ready === 5, { timeoutMs: 3000 });
    // A client without the password cannot run a command: the view never opens.
    const anonymous = createClient({ url: redis.url, socket: { reconnectStrategy: false } });
    anonymous.on('error', () => undefined);
    await anonymous.connect();
    cleanups.push(() => anonymous.destroy());
    await assert.rejects(RedisStore.attach({ client: anonymous, prefix, timeout: 1000 }), /NOAUTH|Authentication/i);
  });

  it('a view sees only the table of its prefix', async () => {
    const url = `redis://:${password}@127.0.0.1:${redis.port}`;
    const client = await clients.connect(url);
    const [a, b] = [uniquePrefix('pool-a'), uniquePrefix('pool-b')];
    const monitors = [a, b].map((prefix) => new HeartMonitor({ store: new RedisStore({ client, prefix }) }));
    cleanups.push(async () => {
      for (const monitor of monitors) await monitor.close();
    });
    monitors[0]?.ingest('v=1&ready=1&busy=0', { address: '10.0.1.1' });
    monitors[1]?.ingest('v=1&ready=1&busy=0', { address: '10.0.2.1' });
    for (const monitor of monitors) await monitor.store.flush();
    const [viewA, viewB] = await Promise.all([RedisStore.attach({ client, prefix: a }), RedisStore.attach({ client, prefix: b })]);
    cleanups.push(() => viewA.close(), () => viewB.close());
    monitors[0]?.ingest('v=1&ready=2&busy=0', { address: '10.0.1.2' });
    await waitFor('the second server of pool a', () => viewA.servers().length === 2, { timeoutMs: 3000 });
    assert.deepEqual(viewA.servers().map((server) => server.ip).sort(), ['10.0.1.1', '10.0.1.2']);
    assert.deepEqual(viewB.servers().map((server) => server.ip), ['10.0.2.1']);
  });
});
