/**
 * Child process of the ingest bench: plays `sources` origin servers, one UDP socket bound
 * to each of 127.0.0.2, 127.0.0.3, … (all loopback on Linux), and sends heartbeats to
 * 127.0.0.1:<port> as fast as it can, bounded by `count` datagrams and `maxMs`. Then it
 * prints a JSON summary and, when told on stdin, sends one paced final round whose counts
 * the parent checks.
 *
 * Usage: blaster.ts <port> <sources> <count> <maxMs>
 * Sends only to 127.0.0.1 (network-safety rule).
 */
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { bindSources, finalHeartbeat } from '../lib/sources.js';

const [port, sources, count, maxMs] = process.argv.slice(2, 6).map(Number);
if (port === undefined || sources === undefined || count === undefined || maxMs === undefined || [port, sources, count, maxMs].some((n) => !Number.isInteger(n) || n <= 0)) {
  process.stderr.write('usage: blaster.ts <port> <sources> <count> <maxMs>\n');
  process.exit(2);
}
const TARGET = '127.0.0.1';
const BATCH = 256;

const sockets = await bindSources(sources);
const payloads = Array.from({ length: 64 }, (_, k) => Buffer.from(`v=1&ready=${10 + k}&busy=${k % 8}`));

process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));

let sent = 0;
let failed = 0;
const start = performance.now();
while (sent < count && performance.now() - start < maxMs) {
  const batch = Math.min(BATCH, count - sent);
  await new Promise<void>((resolve) => {
    let pending = batch;
    const done = (error: Error | null): void => {
      if (error) failed++;
      if (--pending === 0) resolve();
    };
    for (let i = 0; i < batch; i++) {
      const n = sent + i;
      (sockets[n % sources] as Socket).send(payloads[(n / sources) & 63] as Buffer, port, TARGET, done);
    }
  });
  sent += batch;
}
const blastMs = performance.now() - start;
process.stdout.write(`${JSON.stringify({ sent: sent - failed, failed, blastMs })}\n`);

// The final round, once the parent has counted the blast; paced so loopback does not
// drop it: the parent checks these counts.
await new Promise((resolve) => process.stdin.once('data', resolve));
for (let i = 0; i < sources; i++) {
  await new Promise<void>((resolve) => (sockets[i] as Socket).send(finalHeartbeat(i), port, TARGET, () => resolve()));
  if (i % 32 === 31) await sleep(2);
}
for (const socket of sockets) socket.close();
process.stdout.write('done\n');
