// Worker entry that loads a TypeScript module through tsx: Node 20 does not hand the
// parent's --import loader to worker threads.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
