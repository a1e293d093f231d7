/**
 * Worker side of the cluster view tests (a real `cluster.fork()` worker or a
 * `child_process.fork()` child): connects a ClusterView and answers the test's requests.
 */
import { ClusterView } from '../../src/index.js';
import { seededRandom } from '../helpers/random.js';

/** Requests the test process sends (tagged so they never look like the view's channel). */
export type ClusterWorkerRequest =
  | { readonly test: 'servers' }
  | { readonly test: 'pick'; readonly members?: string[]; readonly count: number }
  | { readonly test: 'events' };

const channel = process.env.HM_TEST_CHANNEL;
const random = seededRandom(Number(process.env.HM_TEST_SEED ?? '1'));
const view = await ClusterView.connect(channel === undefined ? { random } : { channel, random });
const events: string[] = [];
for (const event of ['add', 'update', 'stale', 'remove'] as const) view.on(event, (server) => events.push(`${event} ${server.ip}`));

process.on('message', (request: ClusterWorkerRequest) => {
  if (typeof request !== 'object' || request === null || !('test' in request)) return;
  switch (request.test) {
    case 'servers':
      process.send?.({ test: 'answer', servers: view.servers() });
      break;
    case 'pick': {
      const picks: (string | null)[] = [];
      for (let i = 0; i < request.count; i++) picks.push(request.members === undefined ? (view.pickBackend()?.ip ?? null) : (view.pickBackend(request.members) ?? null));
      process.send?.({ test: 'answer', picks });
      break;
    }
    case 'events':
      process.send?.({ test: 'answer', events: events.splice(0) });
      break;
  }
});
process.send?.({ test: 'ready' });
