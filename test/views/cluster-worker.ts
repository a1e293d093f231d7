/**
 * Worker side of the cluster view tests (a real `cluster.fork()` worker or a
 * `child_process.fork()` child): connects a ClusterView and answers the test's requests.
 */
import { ClusterView, isHeartmonitorMessage } from '../../src/index.js';
import { seededRandom } from '../helpers/random.js';

/** Requests the test process sends (tagged so they never look like the view's channel). */
export type ClusterWorkerRequest =
  | { readonly test: 'servers' }
  | { readonly test: 'pick'; readonly members?: string[]; readonly count: number }
  | { readonly test: 'events' }
  | { readonly test: 'settings' }
  | { readonly test: 'library' };

// The application's own handler, as an application would write it: heartmonitor's
// messages are recognised (and here counted by type) and otherwise left alone.
const library: Record<string, number> = {};
process.on('message', (message: unknown) => {
  if (!isHeartmonitorMessage(message)) return;
  const type = String((message as { type: unknown }).type);
  library[type] = (library[type] ?? 0) + 1;
});

const channel = process.env.HM_TEST_CHANNEL;
const staleAfter = process.env.HM_TEST_STALE_AFTER === undefined ? undefined : Number(process.env.HM_TEST_STALE_AFTER);
const random = seededRandom(Number(process.env.HM_TEST_SEED ?? '1'));
const view = await ClusterView.connect({ random, ...(channel === undefined ? {} : { channel }), ...(staleAfter === undefined ? {} : { staleAfter }) });
// Attached right after connect(): the snapshot's servers are announced to these too.
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
    case 'settings':
      process.send?.({ test: 'answer', settings: view.settings });
      break;
    case 'library':
      process.send?.({ test: 'answer', library });
      break;
  }
});
process.send?.({ test: 'ready' });
