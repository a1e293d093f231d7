// The integration examples, run as their header comments say, against real origins on
// loopback that announce themselves with HeartbeatSender.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, describe, it } from 'node:test';
import { announcedOrigin, httpRequest, startNode, type RunningChild } from '../helpers/node-side.js';

/** Origins answer with their host, and the method and path they were sent. */
const answer = (req: IncomingMessage, host: string): string => `${host} ${req.method} ${req.url}`;

const examples = [
  { file: 'examples/undici-proxy.ts', path: '/hello?x=1', upstream: '/hello?x=1' },
  { file: 'examples/fastify-proxy.ts', path: '/api/hello?x=1', upstream: '/hello?x=1' },
  { file: 'examples/http-proxy.ts', path: '/hello?x=1', upstream: '/hello?x=1' },
];

describe('integration examples', () => {
  const children: RunningChild[] = [];
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const child of children) await child.stop();
    for (const cleanup of cleanups) await cleanup();
  });

  for (const example of examples) {
    it(`${example.file} balances over announced origins, and answers 503 with none`, async () => {
      const a = await announcedOrigin('127.0.0.2', { answer });
      const b = await announcedOrigin('127.0.0.3', { answer });
      cleanups.push(() => a.server.close(), () => b.server.close());
      const child = startNode(['--import', 'tsx/esm', example.file, '--heartbeat', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--members', `${a.url},${b.url}`, '--duration', '20']);
      children.push(child);
      const [, proxyUrl, heartbeatPort] = await child.waitForOutput(/proxy listening on (http:\/\/127\.0\.0\.1:\d+), heartbeats on port (\d+)/);

      // Nothing announced yet: nothing to pick.
      assert.equal((await httpRequest(`${proxyUrl}${example.path}`)).status, 503);

      const senders = [await a.announce(`127.0.0.1:${heartbeatPort}`), await b.announce(`127.0.0.1:${heartbeatPort}`)];
      cleanups.push(() => Promise.all(senders.map((sender) => sender.stop())));
      await child.waitForOutput(/backend 127\.0\.0\.2:\d+ announced itself/);
      await child.waitForOutput(/backend 127\.0\.0\.3:\d+ announced itself/);
      const seen = new Set<string>();
      for (let i = 0; i < 100 && seen.size < 2; i++) {
        const res = await httpRequest(`${proxyUrl}${example.path}`);
        assert.equal(res.status, 200);
        const [host, method, url] = res.body.split(' ');
        assert.deepEqual([method, url], ['GET', example.upstream]);
        seen.add(host ?? '');
      }
      assert.deepEqual([...seen].sort(), ['127.0.0.2', '127.0.0.3']);
      await child.stop();
    });
  }
});
