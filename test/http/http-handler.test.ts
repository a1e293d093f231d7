import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HeartMonitor, type MalformedHeartbeat } from '../../src/index.js';
import { httpRequest } from '../helpers/node-side.js';

async function serve(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/heartbeat`;
}

describe('monitor.httpHandler()', () => {
  const monitor = new HeartMonitor();
  const malformed: MalformedHeartbeat[] = [];
  monitor.on('malformed', (info) => malformed.push(info));
  const server = createServer(monitor.httpHandler());
  let url = '';
  before(async () => {
    url = await serve(server);
  });
  after(async () => {
    server.closeAllConnections();
    server.close();
    await monitor.close();
  });

  it('accepts a POSTed heartbeat like Apache: 200, text/plain, OK, server keyed by the client IP', async () => {
    const res = await httpRequest(url, { method: 'POST', body: 'v=1&ready=12&busy=3&port=8080' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.equal(res.body, 'OK');
    const [server] = monitor.servers();
    assert.deepEqual([server?.ip, server?.port, server?.ready, server?.busy], ['127.0.0.1', 8080, 12, 3]);
    assert.equal(monitor.stats().accepted, 1);
  });

  it('answers 405 with Allow: POST to other methods', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await httpRequest(url, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.allow, 'POST');
    }
  });

  it('answers 400 with the reason for a malformed body, fires malformed and counts it', async () => {
    const before = monitor.stats().malformed;
    const res = await httpRequest(url, { method: 'POST', body: 'v=1&ready=5' });
    assert.equal(res.status, 400);
    assert.match(res.body, /missing `busy`/);
    assert.equal(malformed.at(-1)?.reason, 'missing `busy`');
    assert.equal(malformed.at(-1)?.from.address, '127.0.0.1');
    assert.equal(monitor.stats().malformed, before + 1);

    const bad = await httpRequest(url, { method: 'POST', body: 'v=1&ready=x&busy=0' });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /`ready` must be a decimal integer/);
    const empty = await httpRequest(url, { method: 'POST', body: '' });
    assert.equal(empty.status, 400);
    assert.match(empty.body, /empty message/);
    assert.equal(monitor.stats().malformed, before + 3);
  });

  it('answers 413 to bodies over 1000 bytes, declared or streamed, and counts them as malformed', async () => {
    const before = monitor.stats().malformed;
    const fits = `v=1&ready=1&busy=1&pad=${'x'.repeat(1000 - 'v=1&ready=1&busy=1&pad='.length)}`;
    assert.equal(Buffer.byteLength(fits), 1000);
    assert.equal((await httpRequest(url, { method: 'POST', body: fits })).status, 200);

    const declared = await httpRequest(url, { method: 'POST', body: `${fits}x` });
    assert.equal(declared.status, 413);
    assert.match(declared.body, /1001 bytes, over the 1000-byte limit/);

    // Chunked upload without Content-Length: refused once the bound is crossed.
    const req = request(url, { method: 'POST', agent: false, headers: { 'Transfer-Encoding': 'chunked' } });
    req.on('error', () => undefined); // the server may close before the upload ends
    req.write('v=1&ready=1&busy=1&pad=');
    req.write('y'.repeat(2000));
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    res.resume();
    assert.equal(res.statusCode, 413);
    req.destroy();
    assert.equal(monitor.stats().malformed, before + 2);
  });

  it('answers 503 when the store is full', async () => {
    const full = new HeartMonitor({ maxServers: 10 });
    for (let i = 1; i <= 10; i++) full.ingest('v=1&ready=1&busy=1', { address: `10.0.0.${i}` });
    full.on('error', () => undefined);
    const fullServer = createServer(full.httpHandler());
    const fullUrl = await serve(fullServer);
    try {
      const res = await httpRequest(fullUrl, { method: 'POST', body: 'v=1&ready=1&busy=1' });
      assert.equal(res.status, 503);
      assert.match(res.body, /store is full/);
    } finally {
      fullServer.close();
      await full.close();
    }
  });

  it('uses X-Forwarded-For only with trustProxy, and then its rightmost entry', async () => {
    const proxied = new HeartMonitor();
    const trusting = createServer(proxied.httpHandler({ trustProxy: true }));
    const plain = new HeartMonitor();
    const ignoring = createServer(plain.httpHandler());
    const [trustingUrl, ignoringUrl] = await Promise.all([serve(trusting), serve(ignoring)]);
    try {
      const headers = { 'X-Forwarded-For': '203.0.113.7, 10.1.2.3' };
      assert.equal((await httpRequest(trustingUrl, { method: 'POST', body: 'v=1&ready=2&busy=1', headers })).status, 200);
      assert.equal((await httpRequest(ignoringUrl, { method: 'POST', body: 'v=1&ready=2&busy=1', headers })).status, 200);
      assert.deepEqual(proxied.servers().map((s) => s.ip), ['10.1.2.3']);
      assert.deepEqual(plain.servers().map((s) => s.ip), ['127.0.0.1']);
      const bad = await httpRequest(trustingUrl, { method: 'POST', body: 'v=1&ready=2&busy=1', headers: { 'X-Forwarded-For': 'nonsense' } });
      assert.equal(bad.status, 400);
    } finally {
      trusting.close();
      ignoring.close();
      await proxied.close();
      await plain.close();
    }
  });

  it('works as connect/express-style middleware (req, res, next)', async () => {
    const mw = new HeartMonitor();
    const handler = mw.httpHandler();
    let nextCalled = false;
    const app = createServer((req, res) => handler(req, res, () => (nextCalled = true)));
    const appUrl = await serve(app);
    try {
      assert.equal((await httpRequest(appUrl, { method: 'POST', body: 'v=1&ready=1&busy=0' })).body, 'OK');
      assert.equal(nextCalled, false);
      assert.equal(mw.servers().length, 1);
    } finally {
      app.close();
      await mw.close();
    }
  });

  it('rejects bad handler options', () => {
    assert.throws(() => monitor.httpHandler({ trustProxy: 'yes' as never }), /`trustProxy` to be a boolean/);
    assert.throws(() => monitor.httpHandler({ maxBodyBytes: 0 }), RangeError);
  });
});
