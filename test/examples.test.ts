// Smoke tests: each example starts as its header comment says, serves, and stops.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createClient } from 'redis';
import { HeartbeatSender, HeartMonitor } from '../src/index.js';
import { RedisStore } from '../src/redis.js';
import { RedisServer } from './helpers/redis-server.js';
import { announcedOrigin, httpRequest, startNode, type RunningChild } from './helpers/node-side.js';
import { waitFor } from './helpers/wait.js';

const TSX = ['--import', 'tsx/esm'];

describe('examples', () => {
  const children: RunningChild[] = [];
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const child of children) await child.stop();
    for (const cleanup of cleanups) await cleanup();
  });

  it('origin.ts serves HTTP, announces itself, and stops by itself', async () => {
    const monitor = new HeartMonitor({ listen: '127.0.0.1:0' });
    cleanups.push(() => monitor.close());
    await monitor.listen();
    const child = startNode([...TSX, 'examples/origin.ts', '--heartbeat', `127.0.0.1:${monitor.address()?.port}`, '--listen', '127.0.0.4:0', '--capacity', '20', '--duration', '3']);
    children.push(child);
    const [, url] = await child.waitForOutput(/origin listening on (http:\/\/127\.0\.0\.4:\d+)/);
    const res = await httpRequest(`${url}/hello`);
    assert.equal(res.status, 200);
    assert.match(res.body, /hello from 127\.0\.0\.4, you asked for \/hello/);
    await waitFor('the origin heartbeat', () => monitor.servers().length === 1);
    const [server] = monitor.servers();
    assert.deepEqual([server?.ip, server?.port, (server?.ready ?? 0) + (server?.busy ?? 0)], ['127.0.0.4', Number(new URL(url ?? '').port), 20]);
    assert.equal(await child.exited, 0);
    assert.match(child.stdout(), /origin stopped/);
  });

  it('proxy.ts routes by heartbeat and retries on another backend when one fails', async () => {
    const a = await announcedOrigin('127.0.0.2');
    const b = await announcedOrigin('127.0.0.3');
    cleanups.push(() => a.server.close(), () => b.server.close());
    const child = startNode([...TSX, 'examples/proxy.ts', '--heartbeat', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--members', `${a.url},${b.url}`, '--duration', '20']);
    children.push(child);
    const [, proxyUrl, heartbeatPort] = await child.waitForOutput(/proxy listening on (http:\/\/127\.0\.0\.1:\d+), heartbeats on port (\d+)/);
    const senders = [await a.announce(`127.0.0.1:${heartbeatPort}`), await b.announce(`127.0.0.1:${heartbeatPort}`)];
    cleanups.push(() => Promise.all(senders.map((s) => s.stop())));
    await child.waitForOutput(/backend 127\.0\.0\.3:\d+ announced itself/);
    await child.waitForOutput(/backend 127\.0\.0\.2:\d+ announced itself/);

    const seen = new Set<string>();
    for (let i = 0; i < 200 && seen.size < 2; i++) {
      const res = await httpRequest(`${proxyUrl}/`);
      assert.equal(res.status, 200);
      seen.add(res.body);
    }
    assert.deepEqual([...seen].sort(), ['127.0.0.2', '127.0.0.3']);

    // b stops serving but keeps announcing itself: every request must still succeed, via a.
    b.server.closeAllConnections();
    b.server.close();
    for (let i = 0; i < 20; i++) {
      const res = await httpRequest(`${proxyUrl}/`);
      assert.equal(res.status, 200);
      assert.equal(res.body, '127.0.0.2');
    }
    assert.match(child.stdout(), /backend http:\/\/127\.0\.0\.3:\d+ failed \(ECONNREFUSED\), trying another/);
    assert.equal(await child.stop(), 0);
    assert.match(child.stdout(), /proxy stopped/);
  });

  it('redis-proxy.ts routes by the table a monitor shares through Redis', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const a = await announcedOrigin('127.0.0.7');
    cleanups.push(() => a.server.close());
    const client = createClient({ url: redis.url });
    client.on('error', () => undefined);
    await client.connect();
    const monitor = new HeartMonitor({ store: new RedisStore({ client, prefix: 'example' }) });
    cleanups.push(async () => {
      await monitor.close();
      client.destroy();
    });
    const port = Number(new URL(a.url).port);
    monitor.ingest(`v=1&ready=10&busy=1&port=${port}`, { address: '127.0.0.7' });
    await monitor.store.flush();
    const child = startNode([...TSX, 'examples/redis-proxy.ts', '--redis', redis.url, '--prefix', 'example', '--listen', '127.0.0.1:0', '--members', a.url, '--duration', '20']);
    children.push(child);
    const [, proxyUrl] = await child.waitForOutput(/proxy listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const res = await httpRequest(`${proxyUrl}/`);
    assert.equal(res.status, 200);
    assert.equal(res.body, '127.0.0.7');
    assert.equal(await child.stop(), 0);
    assert.match(child.stdout(), /proxy stopped/);
  });

  it('fetch-balancer.ts spreads fetch() calls by heartbeat weight', async () => {
    const a = await announcedOrigin('127.0.0.5', { status: { ready: 30, busy: 10 } });
    const b = await announcedOrigin('127.0.0.6', { status: { ready: 10, busy: 10 } });
    cleanups.push(() => a.server.close(), () => b.server.close());
    const child = startNode([...TSX, 'examples/fetch-balancer.ts', '--heartbeat', '127.0.0.1:0', '--members', `${a.url},${b.url}`, '--requests', '200', '--duration', '20']);
    children.push(child);
    const [, port] = await child.waitForOutput(/waiting for heartbeats on port (\d+)/);
    const senders = [await a.announce(`127.0.0.1:${port}`), await b.announce(`127.0.0.1:${port}`)];
    cleanups.push(() => Promise.all(senders.map((s) => s.stop())));
    assert.equal(await child.exited, 0, child.stderr());
    assert.match(child.stdout(), /done: 200 requests answered, 0 failed/);
    const share = (url: string): number => Number(new RegExp(`${url} (\\d+)`).exec(child.stdout())?.[1]);
    // Both were used; the weights are 30 and 10 (a comparison, not a timing or exact-share assertion).
    assert.ok(share(a.url) > share(b.url) && share(b.url) > 0, child.stdout());
  });

  it('apache-hbdat.ts writes an hb.dat in Apache format and stops by itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'heartmonitor-example-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const storage = join(dir, 'hb.dat');
    const child = startNode([...TSX, 'examples/apache-hbdat.ts', '--listen', '127.0.0.1:0', '--storage', storage, '--duration', '3']);
    children.push(child);
    const [, port] = await child.waitForOutput(/writing .*hb\.dat from heartbeats on port (\d+)/);
    const sender = new HeartbeatSender({ address: `127.0.0.1:${port}`, localAddress: '127.0.0.7', status: () => ({ ready: 75, busy: 0 }) });
    await sender.sendOnce();
    await sender.stop();
    await child.waitForOutput(/server 127\.0\.0\.7 \(port 80\) is now in/);
    assert.equal(await child.exited, 0, child.stderr());
    assert.match(await readFile(storage, 'utf8'), /^# heartmonitor keyBy=ip staleAfter=10000 expireAfter=30000 warmupDivisor=4\n127\.0\.0\.7 &ready=75&busy=0&lastseen=\d+&port=80&inrotationms=\d+\n$/);
  });
});
