import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import type { HeartMonitor } from '../../src/index.js';
import heartmonitorProxy from '../../src/integrations/fastify/index.js';
import { waitFor } from '../helpers/wait.js';
import { announce, announceFirst, announceLast, loopbackMonitor, refusedPort, originPair, type Seen } from './origins.js';

describe('heartmonitor/fastify plugin', () => {
  let monitor: HeartMonitor;
  let app: FastifyInstance;
  const [a, b] = originPair(async () => {
    await app.close();
    await monitor.close();
  });

  /** Serve the plugin (plus one route of the app's own) in front of `monitor`. */
  async function start(options: Partial<Parameters<typeof heartmonitorProxy>[1]> & { members: string[] | undefined }): Promise<string> {
    app = Fastify();
    app.get('/own', () => ({ own: true }));
    await app.register(heartmonitorProxy, { view: monitor, ...options });
    return app.listen({ host: '127.0.0.1', port: 0 });
  }

  it('proxies under its prefix to picked members, body and query included', async () => {
    monitor = loopbackMonitor();
    announce(monitor, a.port);
    announce(monitor, b.port);
    const base = await start({ members: [a.url, b.url], prefix: '/api' });
    const names = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${base}/api/items/7?x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
      assert.equal(response.status, 200);
      const seen = (await response.json()) as Seen;
      assert.deepEqual([seen.method, seen.url, seen.body], ['POST', '/items/7?x=1', '{"n":1}']);
      assert.match(String(seen.headers.host), /^127\.0\.0\.1:\d+$/);
      names.add(seen.origin);
    }
    assert.deepEqual([...names].sort(), ['a', 'b']);
    // Routes outside the prefix stay the app's own.
    assert.deepEqual(await (await fetch(`${base}/own`)).json(), { own: true });
    assert.equal(monitor.metrics().in_flight, 0);
  });

  it('keeps the prefix upstream with rewritePrefix', async () => {
    monitor = loopbackMonitor();
    announce(monitor, a.port);
    const base = await start({ members: [a.url], prefix: '/api', rewritePrefix: '/api' });
    assert.equal(((await (await fetch(`${base}/api/x`)).json()) as Seen).url, '/api/x');
  });

  it('answers 503 with Retry-After when no member can be picked', async () => {
    monitor = loopbackMonitor();
    const base = await start({ members: [a.url], retryAfter: 5 });
    const response = await fetch(`${base}/anything`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '5');
    assert.equal(((await response.json()) as { code: string }).code, 'HM_NO_MEMBER');
  });

  it('feeds failures back and tries another member when one refuses connections', async () => {
    const closed = await refusedPort();
    monitor = loopbackMonitor();
    announceFirst(monitor, closed);
    announceLast(monitor, a.port);
    const base = await start({ members: [`http://127.0.0.1:${closed}`, a.url] });
    const response = await fetch(`${base}/x`);
    assert.equal(((await response.json()) as Seen).origin, 'a');
    assert.ok((monitor.serverState(`127.0.0.1:${closed}`)?.failures ?? 0) >= 1);
  });

  it('releases the lease when the client goes away mid-response', async () => {
    monitor = loopbackMonitor();
    announce(monitor, a.port);
    const held = a.holdResponses();
    const base = await start({ members: [a.url] });
    const controller = new AbortController();
    const response = await fetch(`${base}/slow`, { signal: controller.signal });
    const finish = await held;
    assert.equal(monitor.serverState(`127.0.0.1:${a.port}`)?.inFlight, 1);
    controller.abort();
    await response.body?.cancel().catch(() => undefined);
    // The abort travels proxy → undici before the lease ends.
    await waitFor('the lease to end', () => monitor.serverState(`127.0.0.1:${a.port}`)?.inFlight === 0, { timeoutMs: 2000 });
    finish();
    assert.equal(monitor.serverState(`127.0.0.1:${a.port}`)?.failures, 0, 'a client abort is not the server failing');
  });

  it('counts a 5xx answer as a failure and passes it on', async () => {
    monitor = loopbackMonitor();
    announce(monitor, a.port);
    a.behaviour = 'fail';
    const base = await start({ members: [a.url] });
    const response = await fetch(`${base}/x`);
    assert.equal(response.status, 500);
    await response.text();
    assert.equal(monitor.serverState(`127.0.0.1:${a.port}`)?.failures, 1);
  });
});
