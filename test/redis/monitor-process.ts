// A monitor in its own process: hears `ips` every 100 ms (through ingest) and shares them
// through Redis. Prints "ready" once its first write went out; runs until killed.
// Usage: monitor-process.ts <url> <prefix> <monitorId> <expireAfter> <ip,ip,...>
import { createClient } from 'redis';
import { HeartMonitor } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';

const [url = '', prefix = '', monitorId = '', expireAfter = '', ips = ''] = process.argv.slice(2);
const client = createClient({ url, socket: { reconnectStrategy: () => 100 } });
client.on('error', () => undefined);
await client.connect();
const monitor = new HeartMonitor({ store: new RedisStore({ client, prefix, monitorId, expireAfter: Number(expireAfter) }) });
monitor.on('error', () => undefined);
const beat = (): void => {
  for (const ip of ips.split(',')) monitor.ingest('v=1&ready=6&busy=1', { address: ip });
};
beat();
await monitor.store.flush();
process.stdout.write('ready\n');
setInterval(beat, 100);
process.on('SIGTERM', () => process.exit(0));
