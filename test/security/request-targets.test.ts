// Issue 12, item 1: no request-target may throw out of statusHandler() or httpHandler();
// unparsable ones get 400. Raw TCP requests, so the target reaches the handler unchanged.
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { HeartMonitor, MemoryStore } from '../../src/index.js';

type Listener = (request: IncomingMessage, response: ServerResponse) => void;

/** A server running `listener`; a throw is recorded (and the request ended) instead of ending the test process. */
async function serve(listener: Listener): Promise<{ port: number; thrown: unknown[]; server: Server }> {
  const thrown: unknown[] = [];
  const server = createServer((request, response) => {
    try {
      listener(request, response);
    } catch (error) {
      thrown.push(error);
      response.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, thrown, server };
}

/** Send raw request bytes; resolve with the status code (0 when the connection ended without one). */
function rawStatus(port: number, head: string, body = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.setTimeout(5000, () => socket.destroy());
    socket.end(head + body);
  });
}

/** Request-targets the HTTP parser lets through but new URL() may choke on. */
const targetChar = fc.constantFrom('/', '/', '[', ']', '%', 'z', '2', 'f', ':', '@', '?', '#', '.', 'a', '\\', '=', '&', '~', '!', '$');
const target = fc.oneof(
  fc.constantFrom('//', '//[', 'http://[', '//%zz', '/%zz', 'http://[::1', '//a:b@[', 'http://a:99999/', '///', '//@', 'http://:', '*'),
  fc.tuple(fc.constantFrom('/', '//', 'http://', 'https://', ''), fc.array(targetChar, { maxLength: 12 })).map(([prefix, chars]) => prefix + chars.join('')),
).filter((text) => text.length > 0);

describe('request-targets never crash a handler', () => {
  const monitor = new HeartMonitor({ store: new MemoryStore() });
  let status: Awaited<ReturnType<typeof serve>>;
  let heartbeat: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
    status = await serve(monitor.statusHandler());
    heartbeat = await serve(monitor.httpHandler());
  });
  after(async () => {
    await new Promise((resolve) => status.server.close(resolve));
    await new Promise((resolve) => heartbeat.server.close(resolve));
    await monitor.close();
  });

  it('answers the targets of the report with 400', async () => {
    for (const bad of ['//', '//[', 'http://[', '//%zz']) {
      assert.equal(await rawStatus(status.port, `GET ${bad} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 400, `status page, GET ${bad}`);
      const body = 'v=1&ready=1&busy=1';
      const head = `POST ${bad} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`;
      assert.equal(await rawStatus(heartbeat.port, head, body), 400, `heartbeat handler, POST ${bad}`);
    }
    assert.deepEqual(status.thrown, []);
    assert.deepEqual(heartbeat.thrown, []);
  });

  it('property: any target gets an answer (200/400/405/413), never a throw', async () => {
    await fc.assert(
      fc.asyncProperty(target, fc.constantFrom('GET', 'HEAD', 'POST', 'PUT'), async (path, method) => {
        const body = method === 'POST' ? 'v=1&ready=2&busy=1' : '';
        const head = `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`;
        const statusCode = await rawStatus(status.port, head, body);
        const heartbeatCode = await rawStatus(heartbeat.port, head, body);
        // 0: node's own parser refused the bytes before any handler ran (it answers 400 or closes).
        assert.ok([0, 200, 400, 405].includes(statusCode), `status page ${method} ${JSON.stringify(path)} → ${statusCode}`);
        assert.ok([0, 200, 400, 405].includes(heartbeatCode), `heartbeat ${method} ${JSON.stringify(path)} → ${heartbeatCode}`);
        assert.deepEqual(status.thrown, []);
        assert.deepEqual(heartbeat.thrown, []);
      }),
      { numRuns: 150 },
    );
  });

  it('sends nosniff and a restrictive Content-Security-Policy with every status answer', async () => {
    for (const path of ['/', '/?format=json', '//']) {
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        get({ host: '127.0.0.1', port: status.port, path }, resolve).on('error', reject);
      });
      response.resume();
      assert.equal(response.headers['x-content-type-options'], 'nosniff', path);
      assert.match(String(response.headers['content-security-policy']), /default-src 'none'/, path);
      assert.match(String(response.headers['content-security-policy']), /frame-ancestors 'none'/, path);
      assert.doesNotMatch(String(response.headers['content-security-policy']), /script-src/, path);
    }
  });
});
