// A proxy whose Redis is down, set up as docs/multi-host.md shows: attach() rejects within
// its timeout, and once the client is destroyed nothing of the view keeps the process
// alive (it ends by itself). Prints the rejection as one JSON line.
// Usage: attach-down-process.ts <url> <prefix>
import { createClient } from 'redis';
import { RedisStore } from '../../src/redis.js';

const [url = '', prefix = ''] = process.argv.slice(2);
const client = createClient({ url });
client.on('error', () => undefined);
client.connect().catch(() => undefined);
try {
  await RedisStore.attach({ client, prefix, timeout: 300 });
  process.stdout.write('attached\n');
} catch (error) {
  const { code, message } = error as Error & { code?: string };
  process.stdout.write(`${JSON.stringify({ code, message })}\n`);
}
client.destroy();
