/**
 * ClusterView with real `cluster.fork()` workers and a `child_process.fork()` child:
 * snapshot on connect (also for a worker that starts late, and for a worker that started
 * before the primary shared its table), changes as they happen, administrative states,
 * expiry, a share replaced by another monitor's, one share per channel, the library's
 * messages told apart from the application's, and clear errors without a primary.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { ClusterView, HeartMonitor, isHeartmonitorMessage, type ServerStatus, type ViewSettings } from '../../src/index.js';
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

/**
 * The next message of `peer` that `accept` takes (bounded). One listener sees every message:
 * a loop of `once()` could miss one that arrived in the same read as the one before.
 */
function nextMessage<T>(peer: Peer, accept: (message: unknown) => boolean, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const listener = (message: unknown): void => {
      if (!accept(message)) return;
      clearTimeout(timer);
      peer.off('message', listener);
      resolve(message as T);
    };
    const timer = setTimeout(() => {
      peer.off('message', listener);
      reject(new Error(`no matching message within ${timeoutMs} ms`));
    }, timeoutMs);
    peer.on('message', listener);
  });
}

const tagged = (tag: string) => (message: unknown): boolean => typeof message === 'object' && message !== null && (message as { test?: unknown }).test === tag;

/** Wait for the worker's view to connect (it says ready after connect() resolved). */
async function ready(peer: Peer): Promise<void> {
  await nextMessage(peer, tagged('ready'), 30_000);
}

async function startClusterWorker(env: Record<string, string> = {}): Promise<ClusterWorker> {
  const worker = cluster.fork(env);
  started.push(worker);
  await ready(worker);
  return worker;
}

/** One request, one answer (bounded). */
async function ask<T>(peer: Peer, request: ClusterWorkerRequest): Promise<T> {
  const answer = nextMessage<T>(peer, tagged('answer'), 20_000);
  peer.send(request);
  return answer;
}

/** Every message `peer` sends from now on (a listener that never misses one). */
function record(peer: Peer): unknown[] {
  const messages: unknown[] = [];
  peer.on('message', (message: unknown) => messages.push(message));
  return messages;
}

const isHello = (message: unknown): boolean => isHeartmonitorMessage(message) && (message as { type?: unknown }).type === 'hello';
const isReady = tagged('ready');

const serversOf = async (peer: Peer): Promise<ServerStatus[]> => (await ask<{ servers: ServerStatus[] }>(peer, { test: 'servers' })).servers;
const eventsOf = async (peer: Peer): Promise<string[]> => (await ask<{ events: string[] }>(peer, { test: 'events' })).events;
const settingsOf = async (peer: Peer): Promise<ViewSettings> => (await ask<{ settings: ViewSettings }>(peer, { test: 'settings' })).settings;
const libraryOf = async (peer: Peer): Promise<Record<string, number>> => (await ask<{ library: Record<string, number> }>(peer, { test: 'library' })).library;
const ipsOf = async (peer: Peer): Promise<string[]> => (await serversOf(peer)).map((server) => server.ip).sort();
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

describe('ClusterView when the primary shares late, or shares again', () => {
  it('a worker started before shareWithCluster() keeps saying hello and connects once the share starts', async () => {
    const monitor = new HeartMonitor();
    try {
      monitor.ingest('v=1&ready=8&busy=1', { address: '10.0.3.1' });
      const worker = cluster.fork();
      started.push(worker);
      const messages = record(worker);
      // Its view's first hello reached a primary that shared nothing; it says hello again.
      await waitFor('two hellos from the worker', () => messages.filter(isHello).length >= 2, { timeoutMs: 30_000 });
      assert.equal(messages.some(isReady), false, 'connect() is still waiting');
      const share = monitor.shareWithCluster();
      await waitFor('the worker to connect', () => messages.some(isReady), { timeoutMs: 10_000 });
      assert.deepEqual(await ipsOf(worker), ['10.0.3.1']);
      assert.equal(share.stats().workers, 1);
      // The hellos are heartmonitor's; the test's own messages are not.
      assert.ok(messages.filter(isHello).every((message) => JSON.stringify(message) === '{"heartmonitor":"heartmonitor","type":"hello"}'));
      assert.equal(messages.filter(isHeartmonitorMessage).length, messages.filter(isHello).length);
      assert.equal(isHeartmonitorMessage(messages.find(isReady)), false);
      await stop(worker);
    } finally {
      await monitor.close();
    }
  });

  it('a forked child whose hello came before the share connects when the share adds it', async () => {
    const monitor = new HeartMonitor();
    try {
      monitor.ingest('v=1&ready=8&busy=1', { address: '10.0.4.1' });
      const child = fork(WORKER, [], { execArgv: ['--import', 'tsx/esm'], env: { ...process.env, HM_TEST_CHANNEL: 'pool-late' } });
      started.push(child);
      const messages = record(child);
      await waitFor('a hello from the child', () => messages.some(isHello), { timeoutMs: 30_000 });
      const share = monitor.shareWithCluster({ channel: 'pool-late', cluster: false });
      share.add(child);
      await waitFor('the child to connect', () => messages.some(isReady), { timeoutMs: 10_000 });
      assert.deepEqual(await ipsOf(child), ['10.0.4.1']);
      await stop(child);
    } finally {
      await monitor.close();
    }
  });

  it("a connected worker follows a new monitor's share after the old one closed: its table, its settings (unless overridden) and its changes", async () => {
    const first = new HeartMonitor({ staleAfter: 1000, expireAfter: 60_000 });
    let second: HeartMonitor | undefined;
    try {
      first.shareWithCluster();
      first.ingest('v=1&ready=8&busy=1', { address: '10.0.5.1' });
      first.ingest('v=1&ready=8&busy=1', { address: '10.0.5.2' });
      const [plain, overriding] = await Promise.all([startClusterWorker(), startClusterWorker({ HM_TEST_STALE_AFTER: '1500' })]);
      assert.ok(plain !== undefined && overriding !== undefined);
      for (const worker of [plain, overriding]) assert.deepEqual(await ipsOf(worker), ['10.0.5.1', '10.0.5.2']);
      // The snapshot's servers are announced to listeners attached right after connect().
      assert.deepEqual((await eventsOf(plain)).filter((event) => event.startsWith('add')).sort(), ['add 10.0.5.1', 'add 10.0.5.2']);
      assert.equal((await settingsOf(plain)).staleAfter, 1000);
      assert.equal((await settingsOf(overriding)).staleAfter, 1500);

      // The primary replaces its monitor: another configuration, other servers.
      await first.close();
      second = new HeartMonitor({ staleAfter: 3000, expireAfter: 9000, warmupDivisor: 2 });
      second.ingest('v=1&ready=6&busy=1', { address: '10.0.5.2' });
      second.ingest('v=1&ready=6&busy=1', { address: '10.0.5.3' });
      const share = second.shareWithCluster();
      for (const worker of [plain, overriding]) {
        await waitFor("the new monitor's table", async () => (await ipsOf(worker)).join() === '10.0.5.2,10.0.5.3', { timeoutMs: 10_000 });
      }
      assert.deepEqual(await settingsOf(plain), { staleAfter: 3000, expireAfter: 9000, warmupDivisor: 2, keyBy: 'ip' });
      assert.deepEqual(await settingsOf(overriding), { staleAfter: 1500, expireAfter: 9000, warmupDivisor: 2, keyBy: 'ip' });
      const events = await eventsOf(plain);
      assert.ok(events.includes('remove 10.0.5.1') && events.includes('add 10.0.5.3'), events.join(', '));
      assert.equal(events.includes('add 10.0.5.2'), false, `a server in both tables is updated, not added again: ${events.join(', ')}`);
      assert.equal(share.stats().workers, 2);

      // Changes now come from the new share.
      second.ingest('v=1&ready=6&busy=1', { address: '10.0.5.4' });
      for (const worker of [plain, overriding]) {
        await waitFor('the change of the new monitor', async () => (await ipsOf(worker)).includes('10.0.5.4'), { timeoutMs: 10_000 });
      }
      await Promise.all([stop(plain), stop(overriding)]);
    } finally {
      await first.close();
      await second?.close();
    }
  });

  it('shareWithCluster() twice on one channel is one share: a worker gets each batch once', async () => {
    const monitor = new HeartMonitor();
    try {
      const share = monitor.shareWithCluster();
      assert.equal(monitor.shareWithCluster(), share);
      assert.equal(monitor.shareWithCluster({ channel: 'heartmonitor', cluster: true }), share);
      assert.throws(() => monitor.shareWithCluster({ cluster: false }), /already shares channel "heartmonitor" with `cluster: true`/);
      const other = new HeartMonitor();
      assert.throws(() => other.shareWithCluster(), /Another monitor already shares its table with the cluster's workers on channel "heartmonitor"/);
      await other.close();

      const worker = await startClusterWorker();
      monitor.ingest('v=1&ready=8&busy=1', { address: '10.0.6.1' });
      await waitFor('the change', async () => (await ipsOf(worker)).includes('10.0.6.1'), { timeoutMs: 10_000 });
      const library = await libraryOf(worker);
      assert.equal(library.changes, 1, `one change batch, once: ${JSON.stringify(library)}`);
      assert.equal(share.stats().batches, 1);
      assert.equal(share.stats().workers, 1);
      await stop(worker);
    } finally {
      await monitor.close();
    }
    // Closed, the channel is free for another share.
    const next = new HeartMonitor();
    try {
      assert.equal(next.shareWithCluster().channel, 'heartmonitor');
    } finally {
      await next.close();
    }
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

  it('says hello again until a snapshot arrives, and adopts the settings of every snapshot', async () => {
    let deliver: ((message: unknown) => void) | undefined;
    let hellos = 0;
    const snapshot = (settings: object, servers: unknown[]): unknown => ({ heartmonitor: 'heartmonitor', type: 'snapshot', settings, servers });
    const ipc = {
      send: (message: unknown, callback: (error: Error | null) => void) => {
        callback(null);
        assert.equal(isHeartmonitorMessage(message), true);
        // Only the third hello is answered (the first two reached a primary not sharing yet).
        if (++hellos === 3) setImmediate(() => deliver?.(snapshot({ staleAfter: 2000, expireAfter: 30_000, warmupDivisor: 4, keyBy: 'ip' }, [['10.0.0.1', '10.0.0.1', 80, 5, 1, Date.now(), 0]])));
        return true;
      },
      on: (_event: 'message', listener: (message: unknown) => void) => {
        deliver = listener;
      },
      off: () => {
        deliver = undefined;
      },
    };
    const view = await ClusterView.connect({ ipc, timeout: 10_000, warmupDivisor: 8 });
    assert.equal(hellos, 3);
    const events: string[] = [];
    for (const event of ['add', 'update', 'remove'] as const) view.on(event, (server) => events.push(`${event} ${server.ip}`));
    assert.deepEqual(view.settings, { staleAfter: 2000, expireAfter: 30_000, warmupDivisor: 8, keyBy: 'ip' });
    assert.deepEqual(view.servers().map((server) => server.ip), ['10.0.0.1']);
    assert.deepEqual(events, ['add 10.0.0.1', 'update 10.0.0.1'], 'the first snapshot is announced after connect()');
    // A snapshot nobody asked for (a new share in the primary), configured otherwise.
    events.length = 0;
    deliver?.(snapshot({ staleAfter: 5000, expireAfter: 20_000, warmupDivisor: 2, keyBy: 'ip' }, [['10.0.0.2', '10.0.0.2', 80, 5, 1, Date.now(), 0]]));
    assert.deepEqual(view.settings, { staleAfter: 5000, expireAfter: 20_000, warmupDivisor: 8, keyBy: 'ip' });
    assert.deepEqual(view.servers().map((server) => server.ip), ['10.0.0.2']);
    assert.deepEqual(events, ['remove 10.0.0.1', 'add 10.0.0.2', 'update 10.0.0.2']);
    assert.equal(view.serverState('10.0.0.2')?.weight, 5);
    await view.close();
    assert.equal(hellos, 3, 'no hello after the snapshot');
  });

  it("isHeartmonitorMessage tells the library's messages from anything else", () => {
    assert.equal(isHeartmonitorMessage({ heartmonitor: 'heartmonitor', type: 'hello' }), true);
    assert.equal(isHeartmonitorMessage({ heartmonitor: 'pool-b', type: 'snapshot', settings: {}, servers: [] }), true);
    assert.equal(isHeartmonitorMessage({ heartmonitor: 'x', type: 'changes', put: [], remove: [] }), true);
    for (const other of [undefined, null, 'hello', 42, [], {}, { type: 'hello' }, { heartmonitor: 1, type: 'hello' }, { heartmonitor: 'heartmonitor', type: 'other' }, { heartmonitor: 'heartmonitor' }, { test: 'ready' }]) {
      assert.equal(isHeartmonitorMessage(other), false, JSON.stringify(other));
    }
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
    // A batch of many bad rows is one report, counted row by row: never a storm of events.
    const malformed = view.metrics().heartbeats_malformed;
    deliver?.({ heartmonitor: 'heartmonitor', type: 'changes', put: Array.from({ length: 10_000 }, () => ['bad', 1]), remove: [] });
    assert.equal(errors.length, 2);
    assert.match(errors[1]?.message ?? '', /ignored 10000 malformed server row\(s\)/);
    assert.equal(view.metrics().heartbeats_malformed, malformed + 10_000);
    await view.close();
    assert.equal(deliver, undefined, 'close() removes the listener');
  });
});
