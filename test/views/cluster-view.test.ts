/**
 * ClusterView with real `cluster.fork()` workers and a `child_process.fork()` child:
 * snapshot on connect (also for a worker that starts late), changes as they happen,
 * administrative states, expiry, and clear errors without a primary.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { ClusterView, HeartMonitor, type ServerStatus } from '../../src/index.js';
import type { ClusterWorkerRequest } from './cluster-worker.js';
import { waitFor } from '../helpers/wait.js';

const WORKER = fileURLToPath(new URL('./cluster-worker.ts', import.meta.url));
const started: (ClusterWorker | ChildProcess)[] = [];

cluster.setupPrimary({ exec: WORKER, execArgv: ['--import', 'tsx/esm'], silent: false });

after(() => {
  for (const process of started) {
    const pid = 'process' in process ? process.process.pid : process.pid;
    if (pid !== undefined) {
      try {
        globalThis.process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

type Peer = ClusterWorker | ChildProcess;

/** Wait for the worker's view to connect (it says ready after connect() resolved). */
async function ready(peer: Peer): Promise<void> {
  const signal = AbortSignal.timeout(30_000);
  for (;;) {
    const [message] = (await once(peer, 'message', { signal })) as [{ test?: string }];
    if (message.test === 'ready') return;
  }
}

async function startClusterWorker(env: Record<string, string> = {}): Promise<ClusterWorker> {
  const worker = cluster.fork(env);
  started.push(worker);
  await ready(worker);
  return worker;
}

/** One request, one answer (bounded). */
async function ask<T>(peer: Peer, request: ClusterWorkerRequest): Promise<T> {
  const signal = AbortSignal.timeout(20_000);
  const answer = (async () => {
    for (;;) {
      const [message] = (await once(peer, 'message', { signal })) as [{ test?: string } & T];
      if (message.test === 'answer') return message;
    }
  })();
  peer.send(request);
  return answer;
}

const serversOf = async (peer: Peer): Promise<ServerStatus[]> => (await ask<{ servers: ServerStatus[] }>(peer, { test: 'servers' })).servers;
const picksOf = async (peer: Peer, count: number, members?: string[]): Promise<(string | null)[]> =>
  (await ask<{ picks: (string | null)[] }>(peer, members === undefined ? { test: 'pick', count } : { test: 'pick', count, members })).picks;

function tally(picks: readonly (string | null)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const pick of picks) counts[pick ?? 'none'] = (counts[pick ?? 'none'] ?? 0) + 1;
  return counts;
}

async function stop(peer: Peer): Promise<void> {
  const exited = once(peer, 'exit');
  if ('process' in peer) peer.kill();
  else peer.kill('SIGTERM');
  await exited;
}

describe('ClusterView with real cluster workers', () => {
  it('gives every worker the table, then the changes, drain and expiry; a late worker gets a snapshot', async () => {
    const monitor = new HeartMonitor({ staleAfter: 1000, expireAfter: 2000 });
    const share = monitor.shareWithCluster();
    // Both origins beat every 50 ms until the expiry part; `announced` is what they say.
    const announced = new Map([
      ['10.0.0.1', 'v=1&ready=10&busy=1'],
      ['10.0.0.2', 'v=1&ready=30&busy=2'],
    ]);
    const beat = (): void => {
      for (const [address, message] of announced) monitor.ingest(message, { address });
    };
    beat();
    const beating = setInterval(beat, 50);
    try {
      const [first, second] = await Promise.all([startClusterWorker(), startClusterWorker()]);
      assert.ok(first !== undefined && second !== undefined);
      for (const worker of [first, second]) {
        const seen = await serversOf(worker);
        assert.deepEqual(
          seen.map(({ ip, ready, busy, port }) => ({ ip, ready, busy, port })),
          monitor.servers().map(({ ip, ready, busy, port }) => ({ ip, ready, busy, port })),
        );
      }
      assert.equal(share.stats().workers, 2);

      // A change reaches both.
      announced.set('10.0.0.1', 'v=1&ready=0&busy=9');
      beat();
      for (const worker of [first, second]) {
        await waitFor('the change', async () => (await serversOf(worker)).find((server) => server.ip === '10.0.0.1')?.ready === 0);
        assert.deepEqual(tally(await picksOf(worker, 100)), { '10.0.0.2': 100 });
      }

      // Drain travels with the next message.
      announced.set('10.0.0.1', 'v=1&ready=10&busy=1');
      beat();
      monitor.drain('10.0.0.2');
      await waitFor('the drain', async () => (await serversOf(first)).find((server) => server.ip === '10.0.0.2')?.state === 'draining');
      assert.deepEqual(tally(await picksOf(first, 100, ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'])), { 'http://10.0.0.1:8080': 100 });

      // A worker started now gets everything so far in its snapshot.
      const late = await startClusterWorker();
      const lateSeen = await serversOf(late);
      assert.deepEqual(
        lateSeen.map(({ ip, ready, state }) => ({ ip, ready, state })),
        [
          { ip: '10.0.0.1', ready: 10, state: undefined },
          { ip: '10.0.0.2', ready: 30, state: 'draining' },
        ],
      );

      // Silence: stale events, then removal when the monitor expires the servers.
      clearInterval(beating);
      const events: string[] = [];
      await waitFor('the monitor to expire both servers', async () => {
        events.push(...(await ask<{ events: string[] }>(first, { test: 'events' })).events);
        return events.includes('remove 10.0.0.1') && events.includes('remove 10.0.0.2');
      }, { timeoutMs: 5000 });
      assert.ok(events.indexOf('stale 10.0.0.1') < events.indexOf('remove 10.0.0.1') && events.includes('stale 10.0.0.1'), events.join(', '));
      assert.deepEqual(await serversOf(late), []);

      await stop(second);
      await waitFor('the exited worker to leave the share', () => share.stats().workers === 2, { timeoutMs: 5000 });
      assert.ok(share.stats().batches >= 1);
      await Promise.all([stop(first), stop(late)]);
    } finally {
      clearInterval(beating);
      await monitor.close();
    }
  });

  it('serves a child_process.fork() child added to the share, on its own channel', async () => {
    const monitor = new HeartMonitor();
    const share = monitor.shareWithCluster({ channel: 'pool-b', cluster: false });
    try {
      monitor.ingest('v=1&ready=8&busy=1', { address: '10.0.1.1' });
      const child = fork(WORKER, [], { execArgv: ['--import', 'tsx/esm'], env: { ...process.env, HM_TEST_CHANNEL: 'pool-b' } });
      started.push(child);
      share.add(child);
      await ready(child);
      assert.deepEqual(
        (await serversOf(child)).map((server) => server.ip),
        ['10.0.1.1'],
      );
      monitor.ingest('v=1&ready=8&busy=1', { address: '10.0.1.2' });
      await waitFor('the new server', async () => (await serversOf(child)).length === 2);
      await stop(child);
    } finally {
      await monitor.close();
    }
    assert.equal(share.stats().workers, 0);
  });
});

describe('ClusterView.connect without a primary', () => {
  it('needs an IPC channel', async () => {
    await assert.rejects(ClusterView.connect({ ipc: { on: () => undefined, off: () => undefined } }), /needs an IPC channel/);
  });

  it('times out when nobody shares a table, and validates its options', async () => {
    const ipc = { send: () => true, on: () => undefined, off: () => undefined };
    await assert.rejects(ClusterView.connect({ ipc, timeout: 50 }), /No snapshot from the primary on channel "heartmonitor" within 50 ms/);
    await assert.rejects(ClusterView.connect({ ipc, timeout: 0 }), RangeError);
    await assert.rejects(ClusterView.connect({ ipc, channel: '' }), TypeError);
  });

  it('ignores malformed rows with an error event and applies the rest', async () => {
    let deliver: ((message: unknown) => void) | undefined;
    const ipc = {
      send: (_message: unknown, callback: (error: Error | null) => void) => {
        setImmediate(() => {
          callback(null);
          deliver?.({
            heartmonitor: 'heartmonitor',
            type: 'snapshot',
            settings: { staleAfter: 10_000, expireAfter: 30_000, warmupDivisor: 4, keyBy: 'ip' },
            servers: [['10.0.0.1', '10.0.0.1', 80, 5, 1, Date.now(), 0], ['bad', '10.0.0.2', 0, -1, 1, 'x', 9]],
          });
        });
        return true;
      },
      on: (_event: 'message', listener: (message: unknown) => void) => {
        deliver = listener;
      },
      off: () => {
        deliver = undefined;
      },
    };
    const errors: Error[] = [];
    const connecting = ClusterView.connect({ ipc });
    const view = await connecting;
    view.on('error', (error) => errors.push(error));
    deliver?.({ heartmonitor: 'heartmonitor', type: 'changes', put: [[1, 2]], remove: [] });
    assert.deepEqual(
      view.servers().map((server) => server.ip),
      ['10.0.0.1'],
    );
    assert.equal(errors.length, 1);
    await view.close();
    assert.equal(deliver, undefined, 'close() removes the listener');
  });
});
