/**
 * Replace Apache's mod_heartmonitor with Node: receive heartbeats and write the hb.dat
 * file that Apache's own `lbmethod=heartbeat` balancer reads (HeartbeatMaxServers 0).
 *
 * Run (loopback only; stops by itself after --duration seconds, flushing the file):
 *   npx tsx examples/apache-hbdat.ts --listen 239.0.0.1:27999 --interface 127.0.0.1 \
 *     --storage /tmp/hb.dat --duration 60
 *
 * Then point the Apache proxy at the file (its httpd must not load mod_heartmonitor):
 *   HeartbeatStorage /tmp/hb.dat
 *   <Proxy balancer://hb>
 *     BalancerMember http://127.0.0.2:8080
 *     BalancerMember http://127.0.0.3:8080
 *     ProxySet lbmethod=heartbeat
 *   </Proxy>
 *   ProxyPass "/" "balancer://hb/"
 */
import { parseArgs } from 'node:util';
import { FileStore, HeartMonitor } from '../src/index.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '239.0.0.1:27999' },
    interface: { type: 'string', default: '127.0.0.1' }, // loopback unless told otherwise
    storage: { type: 'string', default: 'logs/hb.dat' },
    duration: { type: 'string', default: '60' },
  },
});

// `maxServers: 0, storage` selects the same FileStore; it is spelled out here to show it.
const monitor = new HeartMonitor({
  listen: values.listen,
  interface: values.interface,
  store: new FileStore({ path: values.storage }),
  flushInterval: 5000, // mod_heartmonitor rewrites the file every 5 s
});
monitor.on('error', (error) => console.error(`monitor: ${error.message}`)); // e.g. the file cannot be written; we keep going
monitor.on('add', (server) => console.log(`server ${server.ip} (port ${server.port}) is now in ${values.storage}`));
monitor.on('remove', (server) => console.log(`server ${server.ip} expired: left out of ${values.storage}`));
await monitor.listen();
console.log(`writing ${values.storage} from heartbeats on port ${monitor.address()?.port}`);

const stop = async (): Promise<void> => {
  await monitor.close(); // writes the file one last time
  console.log(`stopped; ${values.storage} holds ${monitor.store.servers().length} servers`);
};
const timer = setTimeout(() => void stop(), Number(values.duration) * 1000);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    clearTimeout(timer);
    void stop();
  });
}
