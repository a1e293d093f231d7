// Issue 12, item 7: a body deadline of the handler's own (408), and refused requests that
// carry a body close the connection instead of draining an endless one.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { HeartMonitor, MemoryStore } from '../../src/index.js';

interface RawExchange {
  /** Status line's code (0 when none came). */
  readonly status: number;
  /** Whether the server closed the connection while the client was still sending. */
  readonly closedByServer: boolean;
}

/**
 * Send `head` and `firstBody`, then (with `drip`) keep sending body bytes every 20 ms,
 * never finishing, until the server answers and closes, or `limitMs` passes.
 */
function endlessUpload(port: number, head: string, limitMs: number, firstBody = '', drip = true): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let text = '';
    let gaveUp = false;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.write(head + firstBody);
    const dripping = setInterval(() => {
      if (drip && !socket.destroyed && socket.writable) socket.write('x'.repeat(512));
    }, 20);
    const give = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, limitMs);
    socket.on('close', () => {
      clearInterval(dripping);
      clearTimeout(give);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), closedByServer: !gaveUp });
    });
  });
}

describe('httpHandler(): slow, endless and refused bodies', () => {
  const monitor = new HeartMonitor({ store: new MemoryStore() });
  const server: Server = createServer(monitor.httpHandler({ bodyTimeout: 300 }));
  let port = 0;
  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await monitor.close();
  });

  it('answers 408 when the body is not complete within bodyTimeout, and counts it malformed', async () => {
    const before = monitor.stats().malformed;
    const head = 'POST /hb HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n';
    const started = Date.now();
    const result = await endlessUpload(port, head, 5000, 'v=1&re', false);
    assert.equal(result.status, 408);
    assert.ok(Date.now() - started < 4000, 'answered before the client gave up');
    assert.equal(monitor.stats().malformed, before + 1);
  });

  it('property: a refused request with an endless chunked body is answered and its connection closed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          ['GET /hb', 405],
          ['PUT /hb', 405],
          ['DELETE /x', 405],
          ['POST //[', 400],
          ['POST /hb', 413],
        ) as fc.Arbitrary<[string, number]>,
        fc.boolean(),
        async ([requestLine, expected], chunked) => {
          // 413 comes from a declared length over the limit; the others from method or target.
          const length = expected === 413 ? 'Content-Length: 100000000\r\n' : chunked ? 'Transfer-Encoding: chunked\r\n' : 'Content-Length: 100000000\r\n';
          const head = `${requestLine} HTTP/1.1\r\nHost: x\r\n${length}\r\n`;
          const result = await endlessUpload(port, head, 4000, chunked && expected !== 413 ? '200\r\n' : '');
          assert.equal(result.status, expected, requestLine);
          assert.equal(result.closedByServer, true, `${requestLine}: the server closed the connection`);
        },
      ),
      { numRuns: 12 },
    );
  });
});
