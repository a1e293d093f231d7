import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import httpProxy from 'http-proxy';
import type { HeartMonitor } from '../../src/index.js';
import { createProxyHandler, type ProxyHandlerOptions } from '../../src/integrations/http-proxy/index.js';
import { waitFor } from '../helpers/wait.js';
import { announce, announceFirst, announceLast, loopbackMonitor, refusedPort, originPair, type Seen } from './origins.js';

describe('heartmonitor/http-proxy createProxyHandler with the real http-proxy', () => {
  let monitor: HeartMonitor;
  let server: Server;
  let proxy: httpProxy;
  const [a, b] = originPair(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
    proxy.close();
    await monitor.close();
  });

  async function start(members: string[] | undefined, options?: ProxyHandlerOptions): Promise<string> {
    proxy = httpProxy.createProxyServer({});
    proxy.on('error', (error) => assert.fail(error));
    server = createServer(createProxyHandler(proxy, monitor, members, options));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const state = (port: number) => monitor.serverState(`127.0.0.1:${port}`);

  it('proxies to picked members and ends every lease', async () => {
    monitor = loopbackMonitor();
    announce(monitor, a.port);
    announce(monitor, b.port);
    const base = await start([a.url, b.url]);
    const names = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${base}/p?q=1`, { method: 'POST', body: 'hi' });
      const seen = (await response.json()) as Seen;
      assert.deepEqual([seen.url, seen.body], ['/p?q=1', 'hi']);
      names.add(seen.origin);
    }
    assert.deepEqual([...names].sort(), ['a', 'b']);
    assert.equal(monitor.metrics().in_flight, 0);
  });

  it('answers 503 with Retry-After when nothing can be picked', async () => {
    monitor = loopbackMonitor();
    const base = await start([a.url], { retryAfter: 3 });
    const response = await fetch(`${base}/`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '3');
    await response.text();
  });

  it('holds the lease until the response is over', async () => {
    monitor = loopbackMonitor();
    announce(monitor, a.port);
    const held = a.holdResponses();
    const base = await start([a.url]);
    const response = await fetch(`${base}/`);
    const finish = await held;
    assert.equal(state(a.port)?.inFlight, 1);
    finish();
    assert.equal(await response.text(), 'partial done');
    await waitFor('the lease to end', () => state(a.port)?.inFlight === 0, { timeoutMs: 500 });
  });

  it('tries another member for a GET whose connection is refused, and reports the failure', async () => {
    const closed = await refusedPort();
    monitor = loopbackMonitor();
    announceFirst(monitor, closed);
    announceLast(monitor, a.port);
    const base = await start([`http://127.0.0.1:${closed}`, a.url]);
    const seen = (await (await fetch(`${base}/again`)).json()) as Seen;
    assert.equal(seen.origin, 'a');
    assert.equal(state(closed)?.failures, 1);
  });

  it('answers 502 for a POST whose connection is refused, without resending it', async () => {
    const closed = await refusedPort();
    monitor = loopbackMonitor();
    announceFirst(monitor, closed);
    announceLast(monitor, a.port);
    const base = await start([`http://127.0.0.1:${closed}`, a.url]);
    const response = await fetch(`${base}/`, { method: 'POST', body: 'once' });
    assert.equal(response.status, 502);
    await response.text();
    assert.equal(a.seen.length, 0);
    assert.equal(state(closed)?.failures, 1);
  });

  it('counts a 5xx answer as a failure', async () => {
    monitor = loopbackMonitor();
    announce(monitor, a.port);
    a.behaviour = 'fail';
    const base = await start([a.url]);
    const response = await fetch(`${base}/`);
    assert.equal(response.status, 500);
    await response.text();
    await waitFor('the lease to end', () => state(a.port)?.inFlight === 0, { timeoutMs: 500 });
    assert.equal(state(a.port)?.failures, 1);
  });
});
