// Issue 12, item 7: monitor.httpHandler() mounted in the real express and fastify, after
// their body parsers read the body (it used to wait for `data`/`end` forever).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { HeartMonitor, MemoryStore } from '../../src/index.js';
import { httpRequest } from '../helpers/node-side.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
/** A hang would otherwise last until the test runner's timeout: fail fast instead. */
const REQUEST_TIMEOUT_MS = 3000;

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function post(url: string, body: string, headers: Record<string, string> = FORM): ReturnType<typeof httpRequest> {
  return within(httpRequest(url, { method: 'POST', body, headers }), `POST ${url}`);
}

describe('httpHandler() in express 5', () => {
  const monitor = new HeartMonitor({ store: new MemoryStore() });
  const app = express();
  const handler = monitor.httpHandler();
  app.post('/text', express.text({ type: '*/*' }), handler);
  app.post('/raw', express.raw({ type: '*/*' }), handler);
  app.post('/json', express.json({ type: '*/*' }), handler);
  app.post('/urlencoded', express.urlencoded({ extended: false }), handler);
  app.post('/bare', handler);
  let server: Server;
  let base = '';
  before(async () => {
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await monitor.close();
  });

  it('accepts a heartbeat after express.text(), after express.raw() and without a parser', async () => {
    for (const [path, ready] of [
      ['/text', 11],
      ['/raw', 12],
      ['/bare', 13],
    ] as const) {
      const response = await post(`${base}${path}`, `v=1&ready=${ready}&busy=1&port=8080`);
      assert.deepEqual([response.status, response.body], [200, 'OK'], path);
      assert.equal(monitor.servers()[0]?.ready, ready, path);
    }
  });

  it('answers 400, never hangs, when a parser turned the body into an object', async () => {
    const before = monitor.stats();
    for (const path of ['/urlencoded', '/json']) {
      const body = path === '/json' ? '{"v":1}' : 'v=1&ready=3&busy=1';
      const response = await post(`${base}${path}`, body, path === '/json' ? { 'content-type': 'application/json' } : FORM);
      assert.equal(response.status, 400, path);
      assert.match(response.body, /already consumed/, path);
    }
    const stats = monitor.stats();
    assert.equal(stats.malformed - before.malformed, 2);
    assert.equal(stats.received, stats.accepted + stats.malformed + stats.rejected);
  });

  it('applies its own limits and checks to a parsed body: 413 over maxBodyBytes, 400 malformed', async () => {
    const big = await post(`${base}/text`, `v=1&ready=1&busy=1&pad=${'x'.repeat(2000)}`);
    assert.equal(big.status, 413);
    const bad = await post(`${base}/raw`, 'v=1&ready=1');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /missing `busy`/);
  });
});

describe('httpHandler() in a fastify 5 route', () => {
  const monitor = new HeartMonitor({ store: new MemoryStore() });
  const handler = monitor.httpHandler();
  let app: FastifyInstance;
  let base = '';
  before(async () => {
    app = Fastify();
    // The documented mounting (docs/usage.md): the route takes any body as bytes and hands
    // request and reply over to the handler.
    await app.register((scope, _options, registered) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
      scope.post('/heartbeat', (request, reply) => {
        reply.hijack();
        handler(Object.assign(request.raw, { body: request.body }), reply.raw);
      });
      registered();
    });
    // A route where fastify's default text parser read the body into a string.
    app.post('/text', (request, reply) => {
      reply.hijack();
      handler(Object.assign(request.raw, { body: request.body }), reply.raw);
    });
    // A route that passes the raw request after fastify consumed it, without the body.
    app.post('/consumed', (request, reply) => {
      reply.hijack();
      handler(request.raw, reply.raw);
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await app.close();
    await monitor.close();
  });

  it('accepts heartbeats read by fastify as bytes or as text', async () => {
    const bytes = await post(`${base}/heartbeat`, 'v=1&ready=21&busy=2');
    assert.deepEqual([bytes.status, bytes.body], [200, 'OK']);
    assert.equal(monitor.servers()[0]?.ready, 21);
    const text = await post(`${base}/text`, 'v=1&ready=22&busy=2', { 'content-type': 'text/plain' });
    assert.deepEqual([text.status, text.body], [200, 'OK']);
    assert.equal(monitor.servers()[0]?.ready, 22);
  });

  it('answers 400 instead of hanging when the body was consumed and not handed over', async () => {
    const response = await post(`${base}/consumed`, 'v=1&ready=3&busy=1', { 'content-type': 'text/plain' });
    assert.equal(response.status, 400);
    assert.match(response.body, /already consumed/);
  });

  it('answers 413 and 400 from the handler for bodies fastify read', async () => {
    assert.equal((await post(`${base}/heartbeat`, `v=1&ready=1&busy=1&pad=${'x'.repeat(2000)}`)).status, 413);
    assert.equal((await post(`${base}/heartbeat`, 'v=1&busy=1')).status, 400);
  });
});
