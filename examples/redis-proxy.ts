/**
 * A proxy on "another host": it never hears a heartbeat itself. It attaches a view of the
 * table that monitors share through Redis (`heartmonitor listen --redis URL`, or a
 * HeartMonitor with a RedisStore) and routes each request with its weights.
 *
 * Run (loopback only; stops by itself after --duration seconds), with a monitor writing
 * the same Redis table:
 *   heartmonitor listen 127.0.0.1:27999 --redis redis://127.0.0.1:6379
 *   npx tsx examples/redis-proxy.ts --redis redis://127.0.0.1:6379 --listen 127.0.0.1:8000 \
 *     --members http://127.0.0.2:8080,http://127.0.0.3:8080 --duration 60
 *   curl http://127.0.0.1:8000/
 */
import { once } from 'node:events';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { RedisStore } from '../src/redis.js';

const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    prefix: { type: 'string', default: 'heartmonitor' },
    listen: { type: 'string', default: '127.0.0.1:8000' },
    members: { type: 'string', default: 'http://127.0.0.2:8080,http://127.0.0.3:8080' },
    duration: { type: 'string', default: '60' },
  },
});
const members = Object.freeze(values.members.split(','));

const client = createClient({ url: values.redis });
client.on('error', (error: Error) => console.error(`redis: ${error.message}`));
// connect() resolves only once Redis answers; attach() waits for it at most its `timeout`
// (2 s) and then rejects, naming the table (docs/multi-host.md).
client.connect().catch((error: Error) => console.error(`redis: ${error.message}`));
const view = await RedisStore.attach({ client, prefix: values.prefix });
view.on('add', (server) => console.log(`backend ${server.ip}:${server.port} is in the shared table (ready=${server.ready})`));
view.on('error', (error) => console.error(`view: ${error.message}`));

const agent = new Agent({ keepAlive: true });
const proxy = createServer((req, res) => {
  const member = view.pickBackend(members);
  if (member === undefined) {
    res.writeHead(503, { 'Content-Type': 'text/plain' }).end('no backend\n');
    return;
  }
  const upstream = request(new URL(req.url ?? '/', member), { method: req.method, headers: req.headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end('bad gateway\n')));
  req.pipe(upstream);
});
const [host = '127.0.0.1', port = '8000'] = values.listen.split(/:(?=\d+$)/);
proxy.listen(Number(port), host);
await once(proxy, 'listening');
console.log(`proxy listening on http://${host}:${(proxy.address() as AddressInfo).port}, table {${values.prefix}} from ${values.redis}`);

const stop = (): void => {
  proxy.close();
  agent.destroy();
  view.close();
  client.destroy();
  console.log('proxy stopped');
};
const timer = setTimeout(stop, Number(values.duration) * 1000);
process.once('SIGTERM', () => {
  clearTimeout(timer);
  stop();
});
