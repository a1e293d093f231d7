/**
 * node-http-proxy (the `http-proxy` package) balanced by heartbeat weight with
 * heartmonitor/http-proxy: each request goes to a picked member under a lease that ends
 * with the response; failures are reported; nothing to pick → 503.
 *
 * Run (loopback only; stops by itself after --duration seconds), with origins from
 * examples/origin.ts announcing to the same --heartbeat address:
 *   npx tsx examples/http-proxy.ts --heartbeat 239.0.0.1:27999 --interface 127.0.0.1 \
 *     --listen 127.0.0.1:8000 --members http://127.0.0.2:8080,http://127.0.0.3:8080 --duration 60
 *   curl http://127.0.0.1:8000/
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';
import { HeartMonitor } from '../src/index.js';
import { createProxyHandler } from '../src/integrations/http-proxy/index.js';

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

const proxy = httpProxy.createProxyServer({ xfwd: true });
proxy.on('error', (error) => console.error(`proxy: ${error.message}`));
const server = createServer(createProxyHandler(proxy, monitor, values.members.split(',')));

const [host = '127.0.0.1', port = '8000'] = values.listen.split(/:(?=\d+$)/);
server.listen(Number(port), host);
await once(server, 'listening');
console.log(`proxy listening on http://${host}:${(server.address() as AddressInfo).port}, heartbeats on port ${monitor.address()?.port}`);

const stop = async (): Promise<void> => {
  server.closeAllConnections();
  server.close();
  proxy.close();
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
