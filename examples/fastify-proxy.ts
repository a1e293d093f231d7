/**
 * A fastify app proxying /api to members picked by heartbeat weight, with the
 * heartmonitor/fastify plugin (@fastify/reply-from underneath). Nothing to pick → 503.
 *
 * Run (loopback only; stops by itself after --duration seconds), with origins from
 * examples/origin.ts announcing to the same --heartbeat address:
 *   npx tsx examples/fastify-proxy.ts --heartbeat 239.0.0.1:27999 --interface 127.0.0.1 \
 *     --listen 127.0.0.1:8000 --members http://127.0.0.2:8080,http://127.0.0.3:8080 --duration 60
 *   curl http://127.0.0.1:8000/api/hello
 */
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { HeartMonitor } from '../src/index.js';
import heartmonitorProxy from '../src/integrations/fastify/index.js';

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

const app = Fastify();
app.get('/health', () => ({ servers: monitor.servers().length }));
await app.register(heartmonitorProxy, { view: monitor, members: values.members.split(','), prefix: '/api' });

const [host = '127.0.0.1', port = '8000'] = values.listen.split(/:(?=\d+$)/);
const url = await app.listen({ host, port: Number(port) });
console.log(`proxy listening on ${url}, heartbeats on port ${monitor.address()?.port}`);

const stop = async (): Promise<void> => {
  await app.close();
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
