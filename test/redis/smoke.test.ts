import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { HeartMonitor } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';

describe('smoke', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis.stop();
  });
  it('monitor → redis → view', async () => {
    const client = await createClient({ url: redis.url }).connect();
    const monitor = new HeartMonitor({ store: new RedisStore({ client, monitorId: 'm1' }) });
    monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.1' });
    await monitor.store.flush();
    const view = await RedisStore.attach({ client });
    assert.equal(view.servers().length, 1);
    monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.2' });
    await waitUntil('second server', () => view.servers().length === 2);
    assert.equal(view.pickBackend(['http://10.0.0.2:80']), 'http://10.0.0.2:80');
    monitor.drain('10.0.0.2');
    await waitUntil('drained', () => view.servers().find((s) => s.ip === '10.0.0.2')?.state === 'draining');
    assert.equal(view.pickBackend(['http://10.0.0.2:80']), undefined);
    console.log(view.records(), view.metrics());
    view.close();
    await monitor.close();
    await client.close();
  });
});
