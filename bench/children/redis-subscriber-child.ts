/**
 * Child process of the redis bench: `count` bare subscribers, each its own node-redis
 * connection subscribed to the table's change channel exactly as a RedisView subscribes
 * (`SSUBSCRIBE`, string messages), so Redis fans every batch out to them as it would to
 * views on other hosts. Each only counts messages and characters (records are ASCII, so
 * characters are bytes): the node-redis part of a view, without decoding or applying, and
 * so cheaper than a view. `report` prints the counts since `reset` and this process's CPU.
 *
 * Usage: redis-subscriber-child.ts <url> <channel> <count>
 */
import { createInterface } from 'node:readline';
import { createClient } from 'redis';

const [url = '', channel = '', count = '1'] = process.argv.slice(2);
const messages: number[] = [];
const bytes: number[] = [];
const closers: (() => void)[] = [];
let cpuAtReset = process.cpuUsage();
for (let s = 0; s < Number(count); s++) {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  messages.push(0);
  bytes.push(0);
  await client.sSubscribe(channel, (message) => {
    messages[s] = (messages[s] ?? 0) + 1;
    bytes[s] = (bytes[s] ?? 0) + message.length;
  });
  closers.push(() => client.destroy());
}
process.stdout.write('ready\n');

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'reset') {
    messages.fill(0);
    bytes.fill(0);
    cpuAtReset = process.cpuUsage();
    process.stdout.write('ok\n');
  } else if (line === 'report') {
    const used = process.cpuUsage(cpuAtReset);
    process.stdout.write(`${JSON.stringify({ cpu: used.user + used.system, minMessages: Math.min(...messages), maxMessages: Math.max(...messages), bytes: bytes.reduce((sum, n) => sum + n, 0) })}\n`);
  } else if (line === 'stop') {
    break;
  }
}
for (const close of closers) close();
process.exit(0);
