/**
 * Child process of the idle-CPU bench: plays `sources` origin servers (one socket bound to
 * each of 127.0.0.2, 127.0.0.3, …) that each send one heartbeat per second to
 * 127.0.0.1:<port>, spread evenly over the second, for at most `maxMs`.
 *
 * Usage: beater.ts <port> <sources> <maxMs>
 * Prints `ready` once bound, starts on a line on stdin, prints `done` at the end.
 */
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { bindSources } from '../lib/sources.js';

const [port, sources, maxMs] = process.argv.slice(2, 5).map(Number);
if (port === undefined || sources === undefined || maxMs === undefined || [port, sources, maxMs].some((n) => !Number.isInteger(n) || n <= 0)) {
  process.stderr.write('usage: beater.ts <port> <sources> <maxMs>\n');
  process.exit(2);
}
const TICK_MS = 10;
const sockets = await bindSources(sources);
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));

// Paced by elapsed time, not by tick count: late timers on a busy machine must not slow the rate.
const start = performance.now();
let sent = 0;
let next = 0;
let round = 0;
const timer = setInterval(() => {
  const due = Math.floor(((performance.now() - start) * sources) / 1000);
  for (; sent < due; sent++) {
    const i = next;
    next = (next + 1) % sources;
    if (next === 0) round++;
    (sockets[i] as Socket).send(`v=1&ready=${20 + ((i + round) % 30)}&busy=${i % 9}`, port, '127.0.0.1');
  }
}, TICK_MS);
setTimeout(() => {
  clearInterval(timer);
  for (const socket of sockets) socket.close();
  process.stdout.write('done\n');
}, maxMs);
