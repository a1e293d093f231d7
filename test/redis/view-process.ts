// A view in its own process: prints its table as one JSON line (sorted "ip@monitor")
// whenever it changes. Usage: view-process.ts <url> <prefix> <expireAfter>
import { createClient } from 'redis';
import { RedisStore } from '../../src/redis.js';

const [url = '', prefix = '', expireAfter = ''] = process.argv.slice(2);
const client = createClient({ url });
client.on('error', () => undefined);
await client.connect();
const view = await RedisStore.attach({ client, prefix, expireAfter: Number(expireAfter), staleAfter: Math.min(10_000, Number(expireAfter)), probeInterval: 100 });
view.on('error', () => undefined);
let last = '';
setInterval(() => {
  const table = JSON.stringify(view.records().map((record) => `${record.server.ip}@${record.monitor}`).sort());
  if (table !== last) process.stdout.write(`${table}\n`);
  last = table;
}, 20);
process.on('SIGTERM', () => process.exit(0));
