/**
 * A node:http reverse proxy built on undici and heartmonitor/undici: the dispatcher picks
 * a member per request by heartbeat weight, holds a lease until the answer is sent,
 * retries what is safe to retry on another member, and reports failures.
 *
 * Run (loopback only; stops by itself after --duration seconds), with origins from
 * examples/origin.ts announcing to the same --heartbeat address:
 *   npx tsx examples/undici-proxy.ts --heartbeat 239.0.0.1:27999 --interface 127.0.0.1 \
 *     --listen 127.0.0.1:8000 --members http://127.0.0.2:8080,http://127.0.0.3:8080 --duration 60
 *   curl http://127.0.0.1:8000/
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { HeartMonitor } from '../src/index.js';
import { createDispatcher, endToEndHeaders, NoMemberError } from '../src/integrations/undici/index.js';

const { values } = parseArgs({
  options: {
    heartbeat: { type: 'string', default: '239.0.0.1:27999' },
    interface: { type: 'string', default: '127.0.0.1' }, // loopback unless told otherwise
    listen: { type: 'string', default: '127.0.0.1:8000' },
    members: { type: 'string', default: 'http://127.0.0.2:8080,http://127.0.0.3:8080' },
    duration: { type: 'string', default: '60' },
  },
});

// 'adaptive': leases correct the reported load between heartbeats (the mode for proxies).
const monitor = new HeartMonitor({ listen: values.heartbeat, interface: values.interface, balancing: 'adaptive' });
monitor.on('error', (error) => console.error(`monitor: ${error.message}`));
monitor.on('add', (server) => console.log(`backend ${server.ip}:${server.port} announced itself (ready=${server.ready})`));
await monitor.listen();

const dispatcher = createDispatcher(monitor, values.members.split(','));

const proxy = createServer((req, res) => {
  const bodyless = req.method === 'GET' || req.method === 'HEAD';
  // The origin of this URL is a placeholder: the dispatcher sends it to the picked member.
  request(`http://upstream${req.url ?? '/'}`, { dispatcher, method: req.method ?? 'GET', headers: req.headers, body: bodyless ? null : req })
    .then(async (upstream) => {
      res.writeHead(upstream.statusCode, endToEndHeaders(upstream.headers));
      await pipeline(upstream.body, res);
    })
    .catch((error: Error) => {
      if (res.headersSent) return void res.destroy();
      if (error instanceof NoMemberError) res.writeHead(503, { 'retry-after': '1' }).end('no backend available\n');
      else res.writeHead(502).end(`bad gateway: ${error.message}\n`);
    });
});
const [host = '127.0.0.1', port = '8000'] = values.listen.split(/:(?=\d+$)/);
proxy.listen(Number(port), host);
await once(proxy, 'listening');
console.log(`proxy listening on http://${host}:${(proxy.address() as AddressInfo).port}, heartbeats on port ${monitor.address()?.port}`);

const stop = async (): Promise<void> => {
  proxy.closeAllConnections();
  proxy.close();
  await dispatcher.close();
  await monitor.close();
  console.log('proxy stopped');
};
const timer = setTimeout(() => void stop(), Number(values.duration) * 1000);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    clearTimeout(timer);
    void stop();
  });
}
