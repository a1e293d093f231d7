/**
 * Administrative state travels with the data: `drain`/`disable`/`enable` on the monitor
 * reach a SlotStore view (same thread and a worker thread) at once and an hb.dat reader
 * with the next flush, and the hb.dat bytes hide the server from Apache's balancer.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { FileStore, formatHeartbeatLine, HeartMonitor, parseHeartbeatFile, pickBackend, SlotStore, type ServerStatus } from '../../src/index.js';
import type { SlotWorkerRequest } from '../stores/slot-worker.js';
import { seededRandom } from '../helpers/random.js';
import { server, tempDir } from '../stores/helpers.js';

const workers: Worker[] = [];
after(async () => {
  await Promise.all(workers.map((worker) => worker.terminate()));
});

const MEMBERS = ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'];

function feed(monitor: HeartMonitor): void {
  monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.1' });
  monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.2' });
}

function count(picks: readonly (string | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const pick of picks) counts[pick ?? 'none'] = (counts[pick ?? 'none'] ?? 0) + 1;
  return counts;
}

describe('administrative state travels with the data', () => {
  it('reaches a SlotStore view at once: drain, disable, enable', () => {
    const monitor = new HeartMonitor({ maxServers: 16 });
    try {
      feed(monitor);
      const view = SlotStore.attach((monitor.store as SlotStore).buffer, { random: seededRandom(1) });
      assert.equal(count(Array.from({ length: 200 }, () => view.pickBackend(MEMBERS))).none, undefined);
      monitor.drain('10.0.0.1');
      assert.deepEqual(count(Array.from({ length: 200 }, () => view.pickBackend(MEMBERS))), { [MEMBERS[1] as string]: 200 });
      assert.deepEqual(
        view.servers().map((entry) => [entry.ip, entry.state]),
        [
          ['10.0.0.1', 'draining'],
          ['10.0.0.2', undefined],
        ],
      );
      // A heartbeat keeps the state.
      monitor.ingest('v=1&ready=50&busy=1', { address: '10.0.0.1' });
      assert.equal(view.servers()[0]?.state, 'draining');
      assert.equal(view.servers()[0]?.ready, 50);
      monitor.disable('10.0.0.2');
      assert.equal(view.pickBackend(MEMBERS), undefined);
      assert.equal(view.pickBackend(), undefined);
      monitor.enable('10.0.0.1');
      monitor.enable('10.0.0.2');
      assert.deepEqual(
        view.servers().map((entry) => entry.state),
        [undefined, undefined],
      );
      const picks = count(Array.from({ length: 400 }, () => view.pickBackend()?.ip));
      // 50 : 10 by the last heartbeats.
      assert.ok((picks['10.0.0.1'] ?? 0) > 280 && (picks['10.0.0.2'] ?? 0) > 30, JSON.stringify(picks));
    } finally {
      void monitor.close();
    }
  });

  it('a state set before the server is known is written with its first heartbeat', () => {
    const monitor = new HeartMonitor({ maxServers: 16, keyBy: 'ip:port' });
    try {
      monitor.disable('10.0.0.9');
      monitor.ingest('v=1&ready=5&busy=1&port=8080', { address: '10.0.0.9' });
      const view = SlotStore.attach((monitor.store as SlotStore).buffer);
      assert.equal(view.servers()[0]?.state, 'disabled');
      assert.equal(view.pickBackend(['10.0.0.9:8080']), undefined);
    } finally {
      void monitor.close();
    }
  });

  it('reaches a worker-thread view with the write itself', async () => {
    const monitor = new HeartMonitor({ maxServers: 16 });
    try {
      feed(monitor);
      const worker = new Worker(new URL('../stores/ts-worker.mjs', import.meta.url), {
        workerData: { module: new URL('../stores/slot-worker.ts', import.meta.url).href, buffer: (monitor.store as SlotStore).buffer },
      });
      workers.push(worker);
      await once(worker, 'online');
      const ask = async (request: SlotWorkerRequest): Promise<unknown> => {
        const answer = once(worker, 'message', { signal: AbortSignal.timeout(20_000) });
        worker.postMessage(request);
        return ((await answer) as unknown[])[0];
      };
      monitor.drain('10.0.0.2');
      const picks = (await ask({ type: 'pick', members: MEMBERS, seed: 7, count: 300, now: Date.now() })) as string[];
      assert.deepEqual(count(picks), { [MEMBERS[0] as string]: 300 });
      const seen = (await ask({ type: 'servers' })) as ServerStatus[];
      assert.deepEqual(
        seen.map((entry) => entry.state),
        [undefined, 'draining'],
      );
    } finally {
      void monitor.close();
    }
  });

  it('reaches an hb.dat reader with the next flush', async () => {
    const { dir, remove } = tempDir();
    const path = join(dir, 'hb.dat');
    const monitor = new HeartMonitor({ store: new FileStore({ path }), flushInterval: 60_000 });
    try {
      feed(monitor);
      await monitor.store.flush();
      const reader = FileStore.open(path, { checkInterval: 0, random: seededRandom(2) });
      assert.equal(reader.servers().some((entry) => entry.state !== undefined), false);
      monitor.disable('10.0.0.1');
      // Not yet flushed: the reader still picks it.
      assert.equal(reader.servers().find((entry) => entry.ip === '10.0.0.1')?.state, undefined);
      await monitor.store.flush();
      reader.refresh();
      assert.equal(reader.servers().find((entry) => entry.ip === '10.0.0.1')?.state, 'disabled');
      assert.deepEqual(count(Array.from({ length: 100 }, () => reader.pickBackend(MEMBERS))), { [MEMBERS[1] as string]: 100 });
    } finally {
      await monitor.close();
      remove();
    }
  });
});

describe('hb.dat lines of drained and disabled servers', () => {
  const now = 1_700_000_000_000;

  it('are written so Apache skips them (lastseen ≥ 10) and our readers keep state and age', () => {
    const fresh = server('10.0.0.1', { ready: 7, busy: 3, lastSeen: now - 1500 });
    assert.equal(formatHeartbeatLine(fresh, now), '10.0.0.1 &ready=7&busy=3&lastseen=1&port=80\n');
    assert.equal(formatHeartbeatLine({ ...fresh, state: 'draining' }, now), '10.0.0.1 &ready=7&busy=3&lastseen=10&port=80&state=draining&age=1\n');
    assert.equal(formatHeartbeatLine({ ...fresh, state: 'disabled', lastSeen: now - 12_000 }, now), '10.0.0.1 &ready=7&busy=3&lastseen=12&port=80&state=disabled&age=12\n');
    // `failed` is each view's own evidence: never written.
    assert.equal(formatHeartbeatLine({ ...fresh, state: 'failed' }, now), '10.0.0.1 &ready=7&busy=3&lastseen=1&port=80\n');
  });

  it('read back with their state and real age, and are not picked', () => {
    const text = '10.0.0.1 &ready=7&busy=3&lastseen=10&port=80&state=draining&age=1\n10.0.0.2 &ready=5&busy=1&lastseen=1&port=80\n';
    const { servers, skipped } = parseHeartbeatFile(text, { writtenAt: now });
    assert.deepEqual(skipped, []);
    assert.deepEqual(servers[0], { ip: '10.0.0.1', port: 80, ready: 7, busy: 3, lastSeen: now - 1000, state: 'draining' });
    assert.equal(servers[0]?.fields, undefined);
    for (let i = 0; i < 50; i++) assert.equal(pickBackend(servers, undefined, { now, random: seededRandom(i) })?.ip, '10.0.0.2');
  });

  it('an unknown state is a skipped line, not a server in rotation', () => {
    const { servers, skipped } = parseHeartbeatFile('10.0.0.1 &ready=7&busy=3&lastseen=10&port=80&state=paused&age=1\n', { writtenAt: now });
    assert.equal(servers.length, 0);
    assert.match(skipped[0]?.reason ?? '', /state/);
  });
});

describe('a view weighs servers as the monitor does', () => {
  it('SlotStoreView.describe() gives every server the monitor’s state and weight (drained, disabled, warm-up rule)', () => {
    const monitor = new HeartMonitor({ maxServers: 16 });
    try {
      monitor.ingest('v=1&ready=10&busy=1', { address: '10.0.0.1' });
      monitor.ingest('v=1&ready=40&busy=0', { address: '10.0.0.2' });
      monitor.ingest('v=1&ready=7&busy=3', { address: '10.0.0.3' });
      monitor.ingest('v=1&ready=9&busy=3', { address: '10.0.0.4' });
      monitor.drain('10.0.0.3');
      monitor.disable('10.0.0.4');
      const view = SlotStore.attach((monitor.store as SlotStore).buffer);
      const shape = (servers: ReturnType<HeartMonitor['describe']>) =>
        servers.map(({ key, state, weight, reportedWeight }) => ({ key, state, weight, reportedWeight })).sort((a, b) => a.key.localeCompare(b.key));
      assert.deepEqual(shape(view.describe()), shape(monitor.describe()));
      assert.deepEqual(
        view.servers().map((entry) => [entry.ip, entry.state]),
        monitor.servers().map((entry) => [entry.ip, entry.state]),
      );
    } finally {
      void monitor.close();
    }
  });
});
