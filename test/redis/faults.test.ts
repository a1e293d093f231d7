import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { HeartMonitor } from '../../src/index.js';
import { RedisStore, tableKeys, type RedisView } from '../../src/redis.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { server } from '../stores/helpers.js';
import { Clients, uniquePrefix } from './support.js';

const clients = new Clients();
const servers: RedisServer[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

after(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  clients.closeAll();
  for (const server of servers.splice(0)) await server.stop();
});

/** A monitor that hears `ips` every 100 ms, counting its `error` events; `stop()` silences it and closes it. */
function beatingMonitor(store: RedisStore, ips: string[]): { monitor: HeartMonitor; errors: Error[]; stop: () => Promise<void> } {
  const monitor = new HeartMonitor({ store, flushInterval: 100 });
  const errors: Error[] = [];
  monitor.on('error', (error) => errors.push(error));
  const beat = (): void => {
    for (const ip of ips) monitor.ingest('v=1&ready=6&busy=1', { address: ip });
  };
  beat();
  const timer = setInterval(beat, 100);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    await monitor.close().catch(() => undefined);
  };
  cleanups.push(stop);
  return { monitor, errors, stop };
}

/** A redis-server of the test's own, and a monitor beating 10.0.0.1–3 into a table of a prefix of its own. */
async function beatingTable(name: string): Promise<{ redis: RedisServer; prefix: string; reader: Awaited<ReturnType<Clients['connect']>>; monitor: HeartMonitor; errors: Error[] }> {
  const redis = await RedisServer.start();
  servers.push(redis);
  const prefix = uniquePrefix(name);
  const writer = await clients.connect(redis.url);
  const reader = await clients.connect(redis.url);
  const { monitor, errors } = beatingMonitor(new RedisStore({ client: writer, prefix }), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  return { redis, prefix, reader, monitor, errors };
}

/** A view of `prefix` that probes every 100 ms and gives up after 300 ms, closed after the tests. */
async function quickView(reader: Awaited<ReturnType<Clients['connect']>>, prefix: string): Promise<RedisView> {
  const view = await RedisStore.attach({ client: reader, prefix, probeInterval: 100, timeout: 300 });
  cleanups.push(() => view.close());
  return view;
}

/** The number of the table's change messages a view has applied reaches `count` (so its sequence number is at least that). */
async function messagesApplied(view: RedisView, count: number): Promise<void> {
  await waitFor(`${count} change messages`, () => view.metrics().source_messages >= count, { timeoutMs: 5000 });
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
    const { redis, prefix, reader, errors } = await beatingTable('kill');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const view = await quickView(reader, prefix);
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
    assert.match(await (await fetch(pageUrl)).text(), /<p id="source" class="source-up">Source: Redis table \{hm-test-stop-\d+-\d+\}:servers, connected\. <span id="refused">0 record\(s\) refused\.<\/span><\/p>/);
    redis.pause();
    try {
      await waitFor('source down', () => view.metrics().source_connected === 0, { timeoutMs: 2000 });
      // The status page says so, in both of its formats.
      assert.match(await (await fetch(pageUrl)).text(), /<p id="source" class="source-down">Source down: Redis table .* has not answered for \d+ s\./);
      const json = (await (await fetch(`${pageUrl}?format=json`)).json()) as { source: { connected: boolean; refused: number }; metrics: { source_connected: number } };
      assert.equal(json.source.connected, false);
      assert.equal(json.source.refused, 0);
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
    const { redis, prefix, reader, monitor } = await beatingTable('admin');
    const keys = tableKeys(prefix);
    monitor.drain('10.0.0.1');
    monitor.disable('10.0.0.2');
    monitor.disable('10.0.0.3');
    monitor.enable('10.0.0.3');
    await monitor.store.flush();
    const expected = { '10.0.0.1': 'draining', '10.0.0.2': 'disabled' };
    assert.deepEqual({ ...(await reader.hGetAll(keys.admin)) }, expected);
    const view = await quickView(reader, prefix);
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
    const view = await quickView(reader, prefix);
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

describe('Redis restarted under a view (kill -9, data lost)', () => {
  it('the view keeps every server, picking all along, with its own failure state and leases; the monitors rewrite them in place', async () => {
    const { redis, prefix, reader, errors } = await beatingTable('restart');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const view = await quickView(reader, prefix);
    view.on('error', () => undefined);
    const removed: string[] = [];
    view.on('remove', (gone) => removed.push(gone.ip));
    // The view's sequence number is well ahead of what the restarted Redis will number first.
    await messagesApplied(view, 5);
    // Its own state: a failure that took 10.0.0.2 out, and an open lease.
    view.markFailed('10.0.0.2');
    const lease = view.acquire(['http://10.0.0.1:80']);
    assert.ok(lease !== undefined);
    assert.equal(view.serverState('10.0.0.2')?.state, 'failed');

    const members = ['http://10.0.0.1:80', 'http://10.0.0.2:80', 'http://10.0.0.3:80'];
    let picks = 0;
    let unanswered = 0;
    const picking = setInterval(() => {
      picks++;
      if (view.pickBackend(members) === undefined) unanswered++;
    }, 2);
    try {
      await redis.kill9();
      await waitFor('source down', () => view.metrics().source_connected === 0, { timeoutMs: 3000 });
      const snapshotsBefore = view.metrics().source_snapshots;
      await redis.spawn();
      // The view resynchronises with an empty (or partly rewritten) table, then the monitor's
      // rewrite comes as change messages.
      await waitFor('resynchronised', () => view.metrics().source_connected === 1 && view.metrics().source_snapshots > snapshotsBefore, { timeoutMs: 5000 });
      const check = await clients.connect(redis.url);
      let written = 0;
      await waitFor('monitor rewrote the table', () => written === 3, { timeoutMs: 5000, intervalMs: 50, onTick: () => void check.hLen(`{${prefix}}:servers`).then((n) => (written = n)) });
      const before = view.metrics().source_messages;
      await waitFor('changes flow again', () => view.metrics().source_messages > before, { timeoutMs: 3000 });
    } finally {
      clearInterval(picking);
    }
    assert.ok(picks > 0);
    assert.equal(unanswered, 0, `${unanswered} of ${picks} picks found no server`);
    assert.deepEqual(removed, [], 'no server left the view');
    assert.deepEqual(view.servers().map((s) => s.ip).sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.equal(view.serverState('10.0.0.2')?.state, 'failed', 'its failure state is kept');
    assert.equal(view.serverState('10.0.0.1')?.inFlight, 1, 'its lease is kept');
    lease.release();
    assert.equal(view.serverState('10.0.0.1')?.inFlight, 0);
    assert.equal(errors.length, 1);
  });

  it('a server no monitor rewrites leaves at expireAfter by the view timers; a removal after the restart still reaches the view', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const prefix = uniquePrefix('restart-gone');
    const reader = await clients.connect(redis.url);
    const stays = beatingMonitor(new RedisStore({ client: await clients.connect(redis.url), prefix }), ['10.0.0.1']);
    const dies = beatingMonitor(new RedisStore({ client: await clients.connect(redis.url), prefix }), ['10.0.0.2']);
    // A store without a monitor: it rewrites its server after the restart, then deletes it.
    const leaving = new RedisStore({ client: await clients.connect(redis.url), prefix });
    cleanups.push(() => leaving.close().catch(() => undefined));
    leaving.put(server('10.0.0.3'));
    await leaving.flush();
    const view = await RedisStore.attach({ client: reader, prefix, probeInterval: 100, timeout: 300, staleAfter: 1000, expireAfter: 3000 });
    cleanups.push(() => view.close());
    view.on('error', () => undefined);
    const events: string[] = [];
    view.on('stale', (s) => events.push(`stale ${s.ip}`));
    view.on('remove', (s) => events.push(`remove ${s.ip}`));
    await messagesApplied(view, 5);
    assert.deepEqual(view.servers().map((s) => s.ip).sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);

    // 10.0.0.2's monitor dies with Redis: nobody will write it again.
    await dies.stop();
    await redis.kill9();
    await redis.spawn();
    await waitFor('resynchronised', () => view.metrics().source_connected === 1 && view.metrics().source_snapshots >= 2, { timeoutMs: 5000 });
    assert.ok(view.servers().some((s) => s.ip === '10.0.0.2'), 'kept through the reset');

    // A genuine removal after the restart: the store writes its server again, then deletes it.
    await leaving.flush().catch(() => undefined); // reports the outage once, and rewrites
    await leaving.flush();
    leaving.delete('10.0.0.3');
    await leaving.flush();
    await waitFor('10.0.0.3 removed by its D message', () => events.includes('remove 10.0.0.3'), { timeoutMs: 3000 });

    // 10.0.0.2 turns stale, then leaves, by the view's own timers and its last report.
    let ageAtRemoval = Number.NaN;
    view.on('remove', (s) => {
      if (s.ip === '10.0.0.2') ageAtRemoval = Date.now() - s.lastSeen;
    });
    await waitFor('10.0.0.2 expired', () => events.includes('remove 10.0.0.2'), { timeoutMs: 6000 });
    assert.ok(events.indexOf('stale 10.0.0.2') < events.indexOf('remove 10.0.0.2'));
    assert.ok(ageAtRemoval >= 3000, `removed at age ${ageAtRemoval} ms`);
    assert.deepEqual(view.servers().map((s) => s.ip), ['10.0.0.1'], 'the server its monitor rewrote stays');
    assert.ok(!events.includes('remove 10.0.0.1'));
    assert.equal(stays.errors.length, 1);
  });
});

describe('Redis down when processes start, as docs/multi-host.md sets them up', () => {
  it('the monitor serves picks from memory; attach() rejects within its timeout naming the table, leaves no subscriber, and works once Redis is up', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const prefix = uniquePrefix('docs-down');
    // The monitor host, as in the docs: connect() is not awaited (it would wait for Redis).
    const redisErrors: string[] = [];
    const client = createClient({ url });
    client.on('error', (error: Error) => redisErrors.push(`redis: ${error.message}`));
    client.connect().catch((error: Error) => redisErrors.push(`redis: ${error.message}`));
    cleanups.push(() => {
      if (client.isOpen) client.destroy();
    });
    const monitor = new HeartMonitor({ store: new RedisStore({ client, prefix, expireAfter: 30_000 }) });
    const monitorErrors: Error[] = [];
    monitor.on('error', (error) => monitorErrors.push(error));
    cleanups.push(() => monitor.close().catch(() => undefined));
    monitor.ingest('v=1&ready=6&busy=1', { address: '10.0.0.1' });
    assert.equal(monitor.pickBackend(['http://10.0.0.1:8080', 'http://10.0.0.2:8080']), 'http://10.0.0.1:8080');

    // The proxy host: the same client setup; attach() is awaited and rejects in bounded time.
    const proxyClient = createClient({ url });
    proxyClient.on('error', () => undefined);
    proxyClient.connect().catch(() => undefined);
    cleanups.push(() => {
      if (proxyClient.isOpen) proxyClient.destroy();
    });
    const made: { isOpen: boolean }[] = [];
    const spying = Object.assign(Object.create(proxyClient) as typeof proxyClient, {
      duplicate: () => {
        const subscriber = proxyClient.duplicate();
        made.push(subscriber);
        return subscriber;
      },
    });
    const started = Date.now();
    await assert.rejects(RedisStore.attach({ client: spying, prefix, timeout: 300 }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'HM_STORE_ERROR');
      assert.match(error.message, new RegExp(`^Cannot attach to Redis table \\{${prefix}\\}:servers: no subscription and first snapshot within 300 ms \\(the view's \`timeout\`\\)`));
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'settled, not hanging');
    assert.equal(made.length, 1);
    assert.equal(made[0]?.isOpen, false, 'the subscriber is destroyed');

    // Once Redis is up, the monitor writes its table and attach() works; the subscriber of
    // the failed attach never connects (one connection per client, and redis-cli's).
    const redis = await RedisServer.start({ port });
    servers.push(redis);
    await waitFor('monitor wrote its table', () => (monitor.store as RedisStore).stats().down === false && (monitor.store as RedisStore).stats().writes > 0, { timeoutMs: 5000 });
    const view = await waitFor('attached', () => RedisStore.attach({ client: proxyClient, prefix, timeout: 300 }).catch(() => undefined), { timeoutMs: 5000, intervalMs: 100 });
    cleanups.push(() => view.close());
    assert.equal(view.pickBackend(['http://10.0.0.1:8080']), 'http://10.0.0.1:8080');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const connections = (await redis.cli('client', 'list')).split('\n').length;
    assert.equal(connections, 4, 'monitor client, proxy client, the view subscriber, redis-cli');
    assert.ok(monitorErrors.length <= 1, 'an outage is reported once at most');
    assert.ok(redisErrors.length > 0);
  });
});

describe('attach() with Redis down, in a process of its own', () => {
  it('rejects within its timeout, and leaves nothing that keeps the process alive', async () => {
    const port = await freePort();
    const prefix = uniquePrefix('down-process');
    const script = fileURLToPath(new URL('attach-down-process.ts', import.meta.url));
    // The process must end by itself once its client is destroyed: a subscriber left
    // reconnecting (or any timer of the view) would keep it running until this kills it.
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx/esm', script, `redis://127.0.0.1:${port}`, prefix], { timeout: 15_000, killSignal: 'SIGKILL' });
    const result = JSON.parse(stdout.trim()) as { code: string; message: string };
    assert.equal(result.code, 'HM_STORE_ERROR');
    assert.match(result.message, new RegExp(`^Cannot attach to Redis table \\{${prefix}\\}:servers: no subscription and first snapshot within 300 ms`));
  });
});

describe('a view on a client with no error listener of its own', () => {
  it('Redis dies: the process does not crash, the view reports one error and keeps serving', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const prefix = uniquePrefix('no-listener');
    beatingMonitor(new RedisStore({ client: await clients.connect(redis.url), prefix }), ['10.0.0.1']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const client = createClient({ url: redis.url, socket: { reconnectStrategy: () => 50 } });
    await client.connect();
    const view = await RedisStore.attach({ client, prefix, probeInterval: 100, timeout: 300 });
    cleanups.push(async () => {
      // The view's listener leaves with close(): give the client one first.
      client.on('error', () => undefined);
      await view.close();
      if (client.isOpen) client.destroy();
    });
    assert.equal(client.listenerCount('error'), 1, "the view's");
    const errors: Error[] = [];
    view.on('error', (error) => errors.push(error));
    await redis.kill9();
    await waitFor('source down', () => view.metrics().source_connected === 0, { timeoutMs: 3000 });
    // Several reconnect attempts, each an `error` event on the client.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(errors.length, 1, errors.map((error) => error.message).join('; '));
    assert.match(errors[0]?.message ?? '', /Redis source unreachable/);
    assert.equal(view.pickBackend(['http://10.0.0.1:80']), 'http://10.0.0.1:80');
    assert.equal(view.metrics().heartbeats_malformed, 0, 'an outage is not malformed data');
    await view.close();
    assert.equal(client.listenerCount('error'), 0, 'close() takes the listener off');
    client.on('error', () => undefined);
  });
});
