import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { HeartMonitor } from '../../src/index.js';
import { RedisStore, tableKeys, type RedisView } from '../../src/redis.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { Clients, uniquePrefix } from './support.js';

const clients = new Clients();
const servers: RedisServer[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

after(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  clients.closeAll();
  for (const server of servers.splice(0)) await server.stop();
});

/** A monitor that hears `ips` every 100 ms, counting its `error` events. */
function beatingMonitor(store: RedisStore, ips: string[]): { monitor: HeartMonitor; errors: Error[] } {
  const monitor = new HeartMonitor({ store, flushInterval: 100 });
  const errors: Error[] = [];
  monitor.on('error', (error) => errors.push(error));
  const beat = (): void => {
    for (const ip of ips) monitor.ingest('v=1&ready=6&busy=1', { address: ip });
  };
  beat();
  const timer = setInterval(beat, 100);
  cleanups.push(async () => {
    clearInterval(timer);
    await monitor.close();
  });
  return { monitor, errors };
}

describe('Redis faults', () => {
  it('Redis down when the monitor starts: it serves from memory, reports once, and writes its table when Redis comes', async () => {
    const port = await freePort();
    const client = clients.connecting(`redis://127.0.0.1:${port}`);
    const prefix = uniquePrefix('down');
    const { monitor, errors } = beatingMonitor(new RedisStore({ client, prefix }), ['10.0.0.1', '10.0.0.2']);
    assert.equal(monitor.pickBackend(['http://10.0.0.1:80']), 'http://10.0.0.1:80');
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal(errors.length, 1, 'one error for the outage, not one per heartbeat or flush');
    assert.match(errors[0]?.message ?? '', /Redis unreachable/);
    const redis = await RedisServer.start({ port });
    servers.push(redis);
    await waitFor('table written', () => (monitor.store as RedisStore).stats().down === false, { timeoutMs: 5000 });
    const check = await clients.connect(redis.url);
    assert.equal(await check.hLen(`{${prefix}}:servers`), 2);
    assert.equal(errors.length, 1);
  });

  it('kill -9 and restart: the monitor rewrites the table, the view resynchronises, each reports the outage once', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const prefix = uniquePrefix('kill');
    const writer = await clients.connect(redis.url);
    const reader = await clients.connect(redis.url);
    const { errors } = beatingMonitor(new RedisStore({ client: writer, prefix }), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const view = await RedisStore.attach({ client: reader, prefix, probeInterval: 100, timeout: 300 });
    cleanups.push(() => view.close());
    const viewErrors: Error[] = [];
    view.on('error', (error) => viewErrors.push(error));
    assert.equal(view.servers().length, 3);
    await redis.kill9();
    await waitFor('view sees the source down', () => view.metrics().source_connected === 0, { timeoutMs: 3000 });
    assert.equal(view.servers().length, 3, 'the view keeps its table meanwhile');
    await redis.spawn();
    const check = await clients.connect(redis.url);
    let written = 0;
    await waitFor('monitor rewrote the table', () => written === 3, {
      timeoutMs: 5000,
      intervalMs: 100,
      onTick: () => void check.hLen(`{${prefix}}:servers`).then((n) => (written = n)),
    });
    await waitFor('view resynchronised', () => view.metrics().source_connected === 1 && view.metrics().source_snapshots >= 2, { timeoutMs: 5000 });
    const before = view.metrics().source_messages;
    await waitFor('changes flow again', () => view.metrics().source_messages > before, { timeoutMs: 3000 });
    assert.equal(errors.length, 1, `monitor errors: ${errors.map((e) => e.message).join('; ')}`);
    assert.equal(viewErrors.length, 1);
  });

  it('Redis frozen (SIGSTOP) longer than staleAfter: the view keeps picking by last weights, then drops servers at expireAfter, and recovers on SIGCONT', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const prefix = uniquePrefix('stop');
    const writer = await clients.connect(redis.url);
    const reader = await clients.connect(redis.url);
    beatingMonitor(new RedisStore({ client: writer, prefix }), ['10.0.0.1', '10.0.0.2']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const view: RedisView = await RedisStore.attach({ client: reader, prefix, probeInterval: 100, timeout: 200, staleAfter: 400, expireAfter: 1500 });
    cleanups.push(() => view.close());
    view.on('error', () => undefined);
    const members = ['http://10.0.0.1:80', 'http://10.0.0.2:80'];
    const page = createServer(view.statusHandler());
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => page.close(() => resolve())));
    const pageUrl = `http://127.0.0.1:${(page.address() as AddressInfo).port}/`;
    assert.match(await (await fetch(pageUrl)).text(), /<p id="source" class="source-up">Source: Redis table \{hm-test-stop-\d+-\d+\}:servers, connected\.<\/p>/);
    redis.pause();
    try {
      await waitFor('source down', () => view.metrics().source_connected === 0, { timeoutMs: 2000 });
      // The status page says so, in both of its formats.
      assert.match(await (await fetch(pageUrl)).text(), /<p id="source" class="source-down">Source down: Redis table .* has not answered for \d+ s\./);
      const json = (await (await fetch(`${pageUrl}?format=json`)).json()) as { source: { connected: boolean }; metrics: { source_connected: number } };
      assert.equal(json.source.connected, false);
      assert.equal(json.metrics.source_connected, 0);
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(view.metrics().servers_fresh, 0, 'frozen data is not fresh');
      assert.ok(view.pickBackend(members) !== undefined, 'still picking by last-known weights');
      assert.ok(view.metrics().source_down_seconds > 0);
      await waitFor('expired', () => view.servers().length === 0, { timeoutMs: 2000 });
      assert.equal(view.pickBackend(members), undefined);
    } finally {
      redis.resume();
    }
    await waitFor('recovered', () => view.metrics().source_connected === 1 && view.servers().length === 2, { timeoutMs: 5000 });
    assert.ok(members.includes(view.pickBackend(members) ?? ''));
    assert.match(await (await fetch(pageUrl)).text(), /class="source-up"/);
  });
});

describe('Redis faults: what a restart or a stall must not lose', () => {
  it('kill -9 and restart: the drained and disabled states come back with the rewrite', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const prefix = uniquePrefix('admin');
    const keys = tableKeys(prefix);
    const writer = await clients.connect(redis.url);
    const reader = await clients.connect(redis.url);
    const { monitor } = beatingMonitor(new RedisStore({ client: writer, prefix }), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    monitor.drain('10.0.0.1');
    monitor.disable('10.0.0.2');
    monitor.disable('10.0.0.3');
    monitor.enable('10.0.0.3');
    await monitor.store.flush();
    const expected = { '10.0.0.1': 'draining', '10.0.0.2': 'disabled' };
    assert.deepEqual({ ...(await writer.hGetAll(keys.admin)) }, expected);
    const view = await RedisStore.attach({ client: reader, prefix, probeInterval: 100, timeout: 300 });
    cleanups.push(() => view.close());
    view.on('error', () => undefined);
    await redis.kill9();
    await redis.spawn();
    const check = await clients.connect(redis.url);
    let admin: Record<string, string> = {};
    await waitFor('admin states rewritten', () => admin['10.0.0.1'] === 'draining' && admin['10.0.0.2'] === 'disabled', {
      timeoutMs: 5000,
      intervalMs: 100,
      onTick: () => void check.hGetAll(keys.admin).then((value) => (admin = { ...value })),
    });
    assert.deepEqual(admin, expected, 'an enabled server is not re-sent as a state');
    await waitFor('view resynchronised with the states', () => view.metrics().source_snapshots >= 2 && view.servers().find((s) => s.ip === '10.0.0.1')?.state === 'draining', { timeoutMs: 5000 });
    // A view attached now (a proxy started after the restart) sees them too.
    const late = await RedisStore.attach({ client: check, prefix });
    cleanups.push(() => late.close());
    for (const each of [view, late]) {
      assert.equal(each.servers().find((s) => s.ip === '10.0.0.1')?.state, 'draining');
      assert.equal(each.servers().find((s) => s.ip === '10.0.0.2')?.state, 'disabled');
      for (let i = 0; i < 20; i++) assert.equal(each.pickBackend(['http://10.0.0.1:80', 'http://10.0.0.2:80', 'http://10.0.0.3:80']), 'http://10.0.0.3:80');
    }
  });

  it('a write queued while Redis was frozen (SIGSTOP) is sent again with its true age once Redis answers', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const prefix = uniquePrefix('stall');
    const keys = tableKeys(prefix);
    const writer = await clients.connect(redis.url);
    const reader = await clients.connect(redis.url);
    const store = new RedisStore({ client: writer, prefix, timeout: 500 });
    const monitor = new HeartMonitor({ store });
    monitor.on('error', () => undefined);
    cleanups.push(() => monitor.close());
    const view = await RedisStore.attach({ client: reader, prefix, probeInterval: 100, timeout: 300 });
    cleanups.push(() => view.close());
    view.on('error', () => undefined);
    redis.pause();
    try {
      // One heartbeat, then silence: its write waits in the frozen server's socket.
      monitor.ingest('v=1&ready=5&busy=0', { address: '10.0.0.1' });
      await new Promise((resolve) => setTimeout(resolve, 3000));
    } finally {
      redis.resume();
    }
    await waitFor('the slow write was corrected', () => store.stats().corrections === 1 && store.stats().writes >= 2, { timeoutMs: 5000 });
    const [seconds, micros] = await reader.time();
    const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const seen = await reader.zScore(keys.seen, '10.0.0.1');
    assert.ok(seen !== null && redisNow - seen >= 2900, `stored age ${redisNow - (seen ?? 0)} ms, the heartbeat is over 3 s old`);
    await waitFor('the view has the true age', () => (view.records().find((r) => r.server.ip === '10.0.0.1')?.age ?? 0) >= 2900, { timeoutMs: 5000 });
    const late = await RedisStore.attach({ client: reader, prefix });
    cleanups.push(() => late.close());
    assert.ok((late.records()[0]?.age ?? 0) >= 2900, `a new view's age: ${late.records()[0]?.age}`);
  });
});

describe('Redis faults: closing', () => {
  it('a monitor closes within its timeout while Redis is frozen, and reports the outage once', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const client = await clients.connect(redis.url);
    const monitor = new HeartMonitor({ store: new RedisStore({ client, prefix: uniquePrefix('close'), timeout: 300 }) });
    const errors: Error[] = [];
    monitor.on('error', (error) => errors.push(error));
    monitor.ingest('v=1&ready=1&busy=0', { address: '10.0.0.1' });
    await monitor.store.flush();
    redis.pause();
    try {
      monitor.ingest('v=1&ready=2&busy=0', { address: '10.0.0.1' });
      const started = Date.now();
      await monitor.close();
      assert.ok(Date.now() - started < 2000, `close took ${Date.now() - started} ms`);
      assert.equal(errors.length, 1);
      assert.match(errors[0]?.message ?? '', /Redis unreachable/);
    } finally {
      redis.resume();
    }
  });
});
