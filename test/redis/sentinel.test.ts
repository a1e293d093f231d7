import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createSentinel } from 'redis';
import { HeartMonitor } from '../../src/index.js';
import { RedisStore, tableKeys } from '../../src/redis.js';
import { RedisServer } from '../helpers/redis-server.js';
import { RedisSentinelProcess } from '../helpers/redis-sentinel.js';
import { waitFor } from '../helpers/wait.js';
import { uniquePrefix } from './support.js';

// A Sentinel client (createSentinel) finds the master through a real sentinel process. It
// has no duplicate(): a view subscribes through the Sentinel client itself (`subscriber`),
// which keeps a pub/sub connection of its own to the master.
let master: RedisServer;
let sentinel: RedisSentinelProcess;
const cleanups: (() => unknown)[] = [];

before(async () => {
  master = await RedisServer.start();
  sentinel = await RedisSentinelProcess.start(master);
});
after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await sentinel.stop();
  await master.stop();
});

async function sentinelClient(): Promise<ReturnType<typeof createSentinel>> {
  const client = createSentinel({ name: sentinel.name, sentinelRootNodes: [{ host: '127.0.0.1', port: sentinel.port }] });
  client.on('error', () => undefined);
  await client.connect();
  cleanups.push(() => client.destroy());
  return client;
}

describe('Redis Sentinel', () => {
  it('a monitor writes through a Sentinel client; a view reads and follows through another, subscribing with it', async () => {
    const prefix = uniquePrefix('sentinel');
    const monitor = new HeartMonitor({ store: new RedisStore({ client: await sentinelClient(), prefix }) });
    cleanups.push(() => monitor.close());
    monitor.ingest('v=1&ready=4&busy=1', { address: '10.0.0.1' });
    await monitor.store.flush();
    const client = await sentinelClient();
    const view = await RedisStore.attach({ client, subscriber: client, prefix, probeInterval: 100 });
    cleanups.push(() => view.close());
    assert.deepEqual(view.servers().map((server) => [server.ip, server.ready]), [['10.0.0.1', 4]]);
    monitor.ingest('v=1&ready=6&busy=1', { address: '10.0.0.1' });
    monitor.ingest('v=1&ready=2&busy=0', { address: '10.0.0.2' });
    await waitFor('changes through the subscription', () => view.servers().length === 2 && view.servers()[0]?.ready === 6, { timeoutMs: 3000 });
    assert.equal(view.metrics().source_snapshots, 1, 'by change messages, not snapshots');
    assert.ok(view.metrics().source_messages >= 1);
    assert.equal(view.pickBackend(['http://10.0.0.9:80', 'http://10.0.0.1:80']), 'http://10.0.0.1:80');
    // close() unsubscribes; the Sentinel client stays the caller's, open and usable.
    const channel = tableKeys(prefix).changes;
    assert.equal(await master.cli('PUBSUB', 'SHARDNUMSUB', channel), `${channel}\n1`);
    await view.close();
    await waitFor('unsubscribed', async () => (await master.cli('PUBSUB', 'SHARDNUMSUB', channel)) === `${channel}\n0`, { timeoutMs: 3000 });
    assert.equal(client.isOpen, true);
    assert.equal(await client.get(tableKeys(prefix).sequence) !== null, true, 'the Sentinel client still runs commands');
  });

  it('the master killed -9 and restarted: the view keeps its servers, resynchronises and follows changes again through the Sentinel subscription', async () => {
    const prefix = uniquePrefix('sentinel-restart');
    const monitor = new HeartMonitor({ store: new RedisStore({ client: await sentinelClient(), prefix }), flushInterval: 100 });
    cleanups.push(() => monitor.close().catch(() => undefined));
    monitor.on('error', () => undefined);
    const beat = (): void => {
      monitor.ingest('v=1&ready=4&busy=1', { address: '10.0.0.1' });
      monitor.ingest('v=1&ready=4&busy=1', { address: '10.0.0.2' });
    };
    beat();
    const timer = setInterval(beat, 100);
    cleanups.push(() => clearInterval(timer));
    await monitor.store.flush();
    const client = await sentinelClient();
    const view = await RedisStore.attach({ client, subscriber: client, prefix, probeInterval: 100, timeout: 300 });
    cleanups.push(() => view.close());
    const errors: Error[] = [];
    view.on('error', (error) => errors.push(error));
    const removed: string[] = [];
    view.on('remove', (gone) => removed.push(gone.ip));
    await waitFor('messages flowing', () => view.metrics().source_messages >= 5, { timeoutMs: 5000 });
    await master.kill9();
    await waitFor('source down', () => view.metrics().source_connected === 0, { timeoutMs: 3000 });
    await master.spawn();
    await waitFor('resynchronised', () => view.metrics().source_connected === 1 && view.metrics().source_snapshots >= 2, { timeoutMs: 10_000 });
    const messages = view.metrics().source_messages;
    await waitFor('changes through the subscription again', () => view.metrics().source_messages > messages, { timeoutMs: 10_000 });
    // One snapshot at attach and one on recovery: the way back from an outage takes one, not two.
    assert.ok(view.metrics().source_snapshots <= 2, `snapshots: ${view.metrics().source_snapshots}`);
    assert.equal(removed.length, 0, removed.join());
    assert.deepEqual(view.servers().map((server) => server.ip).sort(), ['10.0.0.1', '10.0.0.2']);
    assert.equal(errors.length, 1, errors.map((error) => error.message).join('; '));
  });

  it('a client without duplicate() needs `subscriber`: attach() says so', async () => {
    const client = await sentinelClient();
    await assert.rejects(RedisStore.attach({ client }), { name: 'TypeError', message: 'Expected `subscriber` (a connection to subscribe with, such as the Sentinel client itself) with a `client` that has no duplicate()' });
    await assert.rejects(RedisStore.attach({ client, subscriber: {} as never }), { name: 'TypeError', message: /^Expected `subscriber` to be a node-redis connection with sSubscribe\(\) and sUnsubscribe\(\), or undefined, got / });
  });
});
