/**
 * Worker thread of the freshness bench: attaches to the monitor's SlotStore and, for each
 * expected `ready` value the parent announces, spins on view.pickBackend() until the pick
 * reports it, then posts the time it saw it (process.hrtime, shared by all threads).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SlotStore } from '../../src/index.js';

const view = SlotStore.attach(workerData as SharedArrayBuffer);
const port = parentPort;
if (port === null) throw new Error('freshness-worker.ts must run in a worker thread');

port.on('message', (message: { expect: number; timeoutMs: number }) => {
  port.postMessage({ armed: true });
  const deadline = process.hrtime.bigint() + BigInt(message.timeoutMs) * 1_000_000n;
  for (;;) {
    const now = process.hrtime.bigint();
    if (view.pickBackend()?.ready === message.expect) {
      port.postMessage({ seenAt: Number(now) });
      return;
    }
    if (now > deadline) {
      port.postMessage({ seenAt: Number.NaN });
      return;
    }
  }
});
