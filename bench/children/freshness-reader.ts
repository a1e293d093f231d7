/**
 * Child process of the freshness bench: reads the monitor's hb.dat through the public file
 * reader and, for each `expect <ready>` line, polls reader.pickBackend() every millisecond
 * until the pick reports that count; prints the time it saw it (process.hrtime: CLOCK_MONOTONIC,
 * shared by all processes on Linux), or `timeout`.
 *
 * Usage: freshness-reader.ts <path>
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileStore } from '../../src/index.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: freshness-reader.ts <hb.dat path>');
const reader = FileStore.open(path);
reader.on('error', () => undefined); // the file does not exist until the first flush
process.stdout.write('ready\n');

for await (const line of createInterface({ input: process.stdin })) {
  const [command, value, timeout] = line.split(' ');
  if (command !== 'expect') continue;
  const expect = Number(value);
  const deadline = process.hrtime.bigint() + BigInt(Number(timeout)) * 1_000_000n;
  let seenAt: bigint | undefined;
  process.stdout.write('armed\n');
  while (seenAt === undefined && process.hrtime.bigint() < deadline) {
    const now = process.hrtime.bigint();
    if (reader.pickBackend()?.ready === expect) seenAt = now;
    else await sleep(1);
  }
  process.stdout.write(seenAt === undefined ? 'timeout\n' : `${seenAt}\n`);
}
