import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createCluster } from 'redis';
import { HeartMonitor } from '../../src/index.js';
import { RedisStore, tableKeys, type RedisView } from '../../src/redis.js';
import { startCluster, type RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

let nodes: RedisServer[] = [];
const closers: (() => Promise<void> | void)[] = [];

after(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await Promise.all(nodes.map((node) => node.stop()));
});

async function cluster(): Promise<ReturnType<typeof createCluster>> {
  const client = createCluster({ rootNodes: nodes.map((node) => ({ url: node.url })) });
  client.on('error', () => undefined);
  await client.connect();
  closers.push(() => client.destroy());
  return client;
}

describe('Redis Cluster (3 masters on loopback)', () => {
  it('keeps one table in one hash slot, and monitors and views work through cluster clients', async () => {
    nodes = await startCluster();
    const writer = await cluster();
    const reader = await cluster();
    // Two tables land on (most likely) different nodes; each keeps all its keys in one slot.
    const prefixes = ['edge-a', 'edge-b', 'edge-c'];
    const slots = await Promise.all(prefixes.map(async (prefix) => {
      const keys = tableKeys(prefix);
      const node = nodes[0];
      assert.ok(node);
      const names: string[] = [keys.servers, keys.seen, keys.admin, keys.sequence, keys.changes];
      const bySlot = await Promise.all(names.map((key) => node.cli('cluster', 'keyslot', key)));
      return new Set(bySlot).size;
    }));
    assert.deepEqual(slots, [1, 1, 1]);
    const views: RedisView[] = [];
    for (const prefix of prefixes) {
      const monitor = new HeartMonitor({ store: new RedisStore({ client: writer, prefix, monitorId: `m-${prefix}` }) });
      closers.push(() => monitor.close());
      monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
      await monitor.store.flush();
      const view = await RedisStore.attach({ client: reader, prefix });
      closers.push(() => view.close());
      views.push(view);
      assert.equal(view.records()[0]?.monitor, `m-${prefix}`);
      monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.2' });
      monitor.drain('10.0.0.1');
      await waitFor(`changes reach the ${prefix} view`, () => view.servers().length === 2 && view.servers().some((s) => s.state === 'draining'));
      assert.equal(view.pickBackend(['http://10.0.0.1:80', 'http://10.0.0.2:80']), 'http://10.0.0.2:80');
    }
    assert.ok(views.every((view) => view.metrics().source_messages >= 1));
  });
});
