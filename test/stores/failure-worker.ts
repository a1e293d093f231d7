/**
 * Worker side of the shared-failures test: a SlotStore view with the options it is given,
 * answering requests from the test thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SlotStore, type SlotStoreViewOptions } from '../../src/index.js';

/** Requests the test thread sends. */
export type FailureWorkerRequest =
  | { readonly type: 'fail'; readonly ip: string }
  | { readonly type: 'release-failed'; readonly members: string[] }
  | { readonly type: 'picks'; readonly members: string[]; readonly count: number }
  | { readonly type: 'state'; readonly ip: string };

const { buffer, options } = workerData as { buffer: SharedArrayBuffer; options: SlotStoreViewOptions };
const port = parentPort;
if (port === null) throw new Error('failure-worker.ts must run in a worker thread');
const view = SlotStore.attach(buffer, options);
const failed: string[] = [];
view.on('failed', (server) => failed.push(server.ip));

port.on('message', (request: FailureWorkerRequest) => {
  switch (request.type) {
    case 'fail':
      port.postMessage(view.markFailed(request.ip));
      break;
    case 'release-failed': {
      const lease = view.acquire(request.members);
      lease?.release({ failed: true });
      port.postMessage(lease?.member ?? null);
      break;
    }
    case 'picks': {
      const counts: Record<string, number> = {};
      for (let i = 0; i < request.count; i++) {
        const member = view.pickBackend(request.members) ?? 'none';
        counts[member] = (counts[member] ?? 0) + 1;
      }
      port.postMessage(counts);
      break;
    }
    case 'state':
      port.postMessage({ state: view.serverState(request.ip)?.state, failedEvents: failed.filter((ip) => ip === request.ip).length });
      break;
  }
});
port.postMessage('ready');
