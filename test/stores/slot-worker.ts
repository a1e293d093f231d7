/**
 * Worker side of the SlotStore tests: attaches to the buffer it is given and answers
 * requests from the test thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SlotStore, type BackendMember } from '../../src/index.js';
import { decodeTornProbe } from './torn-probe.js';
import { seededRandom } from '../helpers/random.js';

/** Requests the test thread sends. */
export type SlotWorkerRequest =
  | { readonly type: 'servers' }
  | { readonly type: 'pick'; readonly members?: BackendMember[]; readonly seed: number; readonly count: number; readonly now: number }
  | { readonly type: 'pick-once'; readonly members: string[] }
  | { readonly type: 'torn'; readonly stop: SharedArrayBuffer; readonly index: number; readonly maxMs: number };

const { buffer } = workerData as { buffer: SharedArrayBuffer };
const port = parentPort;
if (port === null) throw new Error('slot-worker.ts must run in a worker thread');

port.on('message', (request: SlotWorkerRequest) => {
  switch (request.type) {
    case 'servers':
      port.postMessage(SlotStore.attach(buffer).servers());
      break;
    case 'pick': {
      const view = SlotStore.attach(buffer, { random: seededRandom(request.seed), clock: { now: () => request.now } });
      const picks: unknown[] = [];
      for (let i = 0; i < request.count; i++) picks.push(request.members === undefined ? view.pickBackend()?.ip : view.pickBackend(request.members));
      port.postMessage(picks);
      break;
    }
    case 'pick-once':
      port.postMessage(SlotStore.attach(buffer).pickBackend(request.members) ?? null);
      break;
    case 'torn': {
      // Read as fast as possible until told to stop; every record must be self-consistent.
      const view = SlotStore.attach(buffer);
      const stop = new Int32Array(request.stop);
      const deadline = Date.now() + request.maxMs;
      let reads = 0;
      let torn = 0;
      let distinct = 0;
      let last = '';
      Atomics.add(stop, 1, 1); // "I am reading"
      while (Atomics.load(stop, 0) === 0 && Date.now() < deadline) {
        for (const server of view.servers()) {
          reads++;
          if (!decodeTornProbe(server)) torn++;
        }
        const first = view.servers()[0]?.ip ?? '';
        if (first !== last) {
          distinct++;
          last = first;
          Atomics.store(stop, 2 + request.index, distinct); // progress, read by the writer
        }
      }
      port.postMessage({ reads, torn, distinct });
      break;
    }
  }
});
