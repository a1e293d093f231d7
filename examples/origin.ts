/**
 * A Node origin server announcing itself with HeartbeatSender, like Apache's mod_heartbeat:
 * every second it sends its idle and busy "workers" (capacity minus requests in flight).
 *
 * Run (loopback only; stops by itself after --duration seconds):
 *   npx tsx examples/origin.ts --heartbeat 239.0.0.1:27999 --interface 127.0.0.1 \
 *     --listen 127.0.0.2:8080 --capacity 50 --duration 30
 *
 * Unicast fan-out (networks without multicast): repeat --heartbeat, one per monitor.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { HeartbeatSender, trackServerLoad } from '../src/index.js';

const { values } = parseArgs({
  options: {
    heartbeat: { type: 'string', multiple: true, default: ['239.0.0.1:27999'] },
    interface: { type: 'string', default: '127.0.0.1' }, // loopback unless told otherwise
    listen: { type: 'string', default: '127.0.0.2:8080' },
    capacity: { type: 'string', default: '50' },
    duration: { type: 'string', default: '30' },
  },
});
const [host = '127.0.0.2', port = '8080'] = values.listen.split(/:(?=\d+$)/);

const server = createServer((req, res) => {
  // Pretend to work for a few milliseconds so concurrent requests overlap.
  setTimeout(() => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`hello from ${host}, you asked for ${req.url}\n`), 5);
});
const load = trackServerLoad(server, { capacity: Number(values.capacity) });
server.listen(Number(port), host);
await once(server, 'listening');
const bound = (server.address() as AddressInfo).port;

const sender = new HeartbeatSender({
  address: values.heartbeat,
  interface: values.interface,
  localAddress: host, // the monitor identifies this origin by the heartbeat's source IP
  port: bound, // so a proxy knows which port to route to
  status: load.status,
});
sender.on('error', (error) => console.error(`heartbeat skipped: ${error.message}`));
await sender.start();
console.log(`origin listening on http://${host}:${bound}, announcing to ${values.heartbeat.join(', ')}`);

const stop = async (): Promise<void> => {
  await sender.stop();
  server.closeAllConnections();
  server.close();
  console.log('origin stopped');
};
const timer = setTimeout(() => void stop(), Number(values.duration) * 1000);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    clearTimeout(timer);
    void stop();
  });
}
