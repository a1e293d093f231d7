/**
 * SlotStore `failures: 'shared'`: one worker thread's ejection (markFailed or a failed
 * lease release that trips the threshold) takes the server out of rotation for every view
 * of the store and for the monitor, until the retry interval ends; the monitor's own
 * ejections reach the workers. With the default `'local'`, each view keeps its own.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { HeartMonitor, SlotStore, type ServerFailure, type SlotStoreViewOptions } from '../../src/index.js';
import type { FailureWorkerRequest } from './failure-worker.js';
import { waitFor } from '../helpers/wait.js';

const RETRY_AFTER = 1500;
const FAILURE = { threshold: 1, retryAfter: RETRY_AFTER } as const;
const MEMBERS = ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'];

const workers: Worker[] = [];
after(async () => {
  await Promise.all(workers.map((worker) => worker.terminate()));
});

async function startWorker(buffer: SharedArrayBuffer, options: SlotStoreViewOptions): Promise<Worker> {
  const worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), {
    workerData: { module: new URL('./failure-worker.ts', import.meta.url).href, buffer, options },
  });
  workers.push(worker);
  await once(worker, 'message', { signal: AbortSignal.timeout(30_000) });
  return worker;
}

async function ask<T>(worker: Worker, request: FailureWorkerRequest): Promise<T> {
  const answer = once(worker, 'message', { signal: AbortSignal.timeout(20_000) });
  worker.postMessage(request);
  return ((await answer) as [T])[0];
}

function setup(failures?: 'local' | 'shared'): { monitor: HeartMonitor; store: SlotStore; beat: () => void } {
  const store = new SlotStore({ maxServers: 8, ...(failures === undefined ? {} : { failures }) });
  const monitor = new HeartMonitor({ store, failure: FAILURE });
  const beat = (): void => {
    for (const ip of ['10.0.0.1', '10.0.0.2']) assert.ok(monitor.ingest('v=1&ready=10&busy=1', { address: ip }));
  };
  beat();
  return { monitor, store, beat };
}

describe("SlotStore failures: 'shared'", () => {
  it("one worker's markFailed takes the server out for the other worker and the monitor until the retry interval ends", async () => {
    const { monitor, store, beat } = setup('shared');
    const keepAlive = setInterval(beat, 200);
    try {
      const monitorFailed: [string, ServerFailure][] = [];
      monitor.on('failed', (server, failure) => monitorFailed.push([server.ip, failure]));
      const [a, b] = await Promise.all([startWorker(store.buffer, { failure: FAILURE }), startWorker(store.buffer, { failure: FAILURE })]);
      assert.equal(await ask(a, { type: 'fail', ip: '10.0.0.1' }), 1);
      const started = Date.now();
      const picksB = await ask<Record<string, number>>(b, { type: 'picks', members: MEMBERS, count: 400 });
      assert.deepEqual(picksB, { [MEMBERS[1] as string]: 400 }, 'worker b never picks the server worker a ejected');
      assert.deepEqual(await ask(b, { type: 'state', ip: '10.0.0.1' }), { state: 'failed', failedEvents: 1 });
      const monitorPicks = new Set(Array.from({ length: 400 }, () => monitor.pickBackend(MEMBERS)));
      assert.deepEqual([...monitorPicks], [MEMBERS[1]], 'nor does the monitor');
      assert.equal(monitor.serverState('10.0.0.1')?.state, 'failed');
      assert.equal(monitorFailed.length, 1);
      const retryIn = monitorFailed[0]?.[1].retryAfter ?? 0;
      assert.ok(retryIn > RETRY_AFTER - 1000 && retryIn <= RETRY_AFTER, `the monitor's time out ends with worker a's: ${retryIn} ms`);
      // Until the same moment for everyone: then all pick it again.
      await waitFor('the monitor to take it back', () => monitor.serverState('10.0.0.1')?.state === 'active', { timeoutMs: RETRY_AFTER + 3000 });
      assert.ok(Date.now() - started >= RETRY_AFTER - 1000, 'not before the retry interval');
      const back = await ask<Record<string, number>>(b, { type: 'picks', members: MEMBERS, count: 400 });
      assert.ok((back[MEMBERS[0] as string] ?? 0) > 100, `worker b picks it again: ${JSON.stringify(back)}`);
      const backA = await ask<Record<string, number>>(a, { type: 'picks', members: MEMBERS, count: 400 });
      assert.ok((backA[MEMBERS[0] as string] ?? 0) > 100, `worker a too: ${JSON.stringify(backA)}`);
    } finally {
      clearInterval(keepAlive);
      await monitor.close();
    }
  });

  it("a failed lease release in one worker, and the monitor's own markFailed, reach every view", async () => {
    const { monitor, store } = setup('shared');
    try {
      const [a, b] = await Promise.all([startWorker(store.buffer, { failure: FAILURE }), startWorker(store.buffer, { failure: FAILURE })]);
      const released = await ask<string>(a, { type: 'release-failed', members: [MEMBERS[0] as string] });
      assert.equal(released, MEMBERS[0]);
      assert.equal((await ask<{ state: string }>(b, { type: 'state', ip: '10.0.0.1' })).state, 'failed');
      assert.equal(monitor.pickBackend([MEMBERS[0] as string]), undefined);
      assert.equal(monitor.markFailed('10.0.0.2'), 1);
      for (const worker of [a, b]) {
        assert.equal((await ask<{ state: string }>(worker, { type: 'state', ip: '10.0.0.2' })).state, 'failed');
        assert.deepEqual(await ask(worker, { type: 'picks', members: MEMBERS, count: 50 }), { none: 50 });
      }
    } finally {
      await monitor.close();
    }
  });

  it("by default ('local') each view keeps its failures to itself; a view can opt in or out over the store's setting", async () => {
    const local = setup();
    try {
      const [a, b] = await Promise.all([startWorker(local.store.buffer, { failure: FAILURE }), startWorker(local.store.buffer, { failure: FAILURE })]);
      await ask(a, { type: 'fail', ip: '10.0.0.1' });
      assert.equal((await ask<{ state: string }>(a, { type: 'state', ip: '10.0.0.1' })).state, 'failed');
      assert.equal((await ask<{ state: string }>(b, { type: 'state', ip: '10.0.0.1' })).state, 'active');
      assert.equal(local.monitor.serverState('10.0.0.1')?.state, 'active');
    } finally {
      await local.monitor.close();
    }
    const shared = setup('shared');
    try {
      const [loner, member] = await Promise.all([startWorker(shared.store.buffer, { failure: FAILURE, failures: 'local' }), startWorker(shared.store.buffer, { failure: FAILURE })]);
      await ask(loner, { type: 'fail', ip: '10.0.0.1' });
      assert.equal((await ask<{ state: string }>(member, { type: 'state', ip: '10.0.0.1' })).state, 'active', "a 'local' view does not publish");
      await ask(member, { type: 'fail', ip: '10.0.0.2' });
      assert.equal((await ask<{ state: string }>(loner, { type: 'state', ip: '10.0.0.2' })).state, 'active', "nor does it listen");
      assert.equal(shared.monitor.serverState('10.0.0.2')?.state, 'failed');
    } finally {
      await shared.monitor.close();
    }
  });

  it('refuses a bad failures option at construction, naming it and the accepted values', () => {
    assert.throws(() => new SlotStore({ failures: 'all' as never }), { name: 'TypeError', message: "Expected `failures` to be one of 'local', 'shared', got \"all\"" });
    const store = new SlotStore();
    assert.throws(() => SlotStore.attach(store.buffer, { failures: true as never }), { name: 'TypeError', message: "Expected `failures` to be one of 'local', 'shared', got true" });
  });
});

describe('"ejected until" words', () => {
  it('keep the later of two times, ignore an ejection of the slot\'s previous server, and clamp times past 2^43 ms', async () => {
    const { publishEjection, readEjection } = await import('../../src/stores/slot-layout.js');
    const store = new SlotStore({ maxServers: 2 });
    const words = new Int32Array(store.buffer);
    const big = new BigInt64Array(store.buffer);
    assert.equal(readEjection(big, 0, 1), undefined);
    assert.equal(publishEjection(words, big, 0, 1, 2_000), true);
    assert.equal(publishEjection(words, big, 0, 1, 1_000), false, 'an earlier time changes nothing');
    assert.equal(readEjection(big, 0, 1), 2_000);
    assert.equal(readEjection(big, 0, 2), undefined, 'another occupant of the slot is not ejected');
    assert.equal(publishEjection(words, big, 0, 2, 500), true, 'a new occupant replaces the old one whatever the time');
    assert.equal(readEjection(big, 0, 2), 500);
    publishEjection(words, big, 1, 7, 1e20);
    assert.equal(readEjection(big, 1, 7), 2 ** 43 - 1);
  });
});
