import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { after, before, describe, it } from 'node:test';
import { HeartbeatSender, HeartMonitor } from '../../src/index.js';
import { waitFor } from '../helpers/wait.js';
import { size } from '../helpers/stress.js';

const CYCLES = size(1000, 5000);

/** Active handles and requests by type, e.g. { UDPWRAP: 1, Timeout: 2 }. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/**
 * Handles and timers created and not yet destroyed, including unref'd ones (which
 * getActiveResourcesInfo() does not list): the monitor's and sender's timers are unref'd.
 */
const WATCHED = new Set(['Timeout', 'UDPWRAP', 'TCPWRAP', 'FILEHANDLE']);
const live = new Map<number, string>();
const tracker = createHook({
  init(id, type) {
    if (WATCHED.has(type)) live.set(id, type);
  },
  destroy(id) {
    live.delete(id);
  },
});

function liveSince(before: ReadonlySet<number>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [id, type] of live) if (!before.has(id)) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** Let pending close callbacks and immediates run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe(`resource hygiene: ${CYCLES} cycles`, () => {
  const warnings: Error[] = [];
  const rejections: unknown[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  before(() => {
    tracker.enable();
    process.on('warning', onWarning);
    process.on('unhandledRejection', onRejection);
  });
  after(() => {
    tracker.disable();
    process.off('warning', onWarning);
    process.off('unhandledRejection', onRejection);
  });

  it('listen/close cycles (new monitors and one reused monitor) leave no handles, timers or listeners', { timeout: 300_000 }, async (t) => {
    await settle();
    const baseline = resources();
    const existing = new Set(live.keys());
    const reused = new HeartMonitor({ listen: '127.0.0.1:0' });
    t.after(() => reused.close());
    for (let i = 0; i < CYCLES; i++) {
      const monitor = new HeartMonitor({ listen: i % 2 === 0 ? '127.0.0.1:0' : '[::1]:0' });
      await monitor.listen();
      monitor.ingest('v=1&ready=1&busy=1', { address: '10.0.0.1' });
      await monitor.close();
      await reused.listen();
      await reused.close();
    }
    // Multicast too, pinned to loopback: join and leave a group many times.
    for (let i = 0; i < Math.min(CYCLES, 200); i++) {
      const monitor = new HeartMonitor({ listen: '239.255.77.1:0', interface: '127.0.0.1' });
      await monitor.listen();
      await monitor.close();
    }
    await settle();
    assert.deepEqual(resources(), baseline);
    assert.deepEqual(liveSince(existing), {}, 'no socket or timer (ref\'d or not) outlives its monitor');
    assert.equal(reused.listenerCount('error'), 0);
    assert.deepEqual(warnings, []);
    assert.deepEqual(rejections, []);
  });

  it('sender start/stop cycles leave no handles, timers or listeners', { timeout: 300_000 }, async (t) => {
    const monitor = new HeartMonitor({ listen: '127.0.0.1:0' });
    t.after(() => monitor.close());
    await monitor.listen();
    await settle();
    const baseline = resources();
    const existing = new Set(live.keys());
    const sender = new HeartbeatSender({ address: `127.0.0.1:${monitor.address()?.port ?? 0}`, interval: 5, status: () => ({ ready: 3, busy: 1 }), secret: 'k' });
    let errors = 0;
    sender.on('error', () => errors++);
    for (let i = 0; i < CYCLES; i++) {
      await sender.start();
      await sender.stop();
      // A fresh sender each time too, stopped while its first beat may still be in flight.
      const other = new HeartbeatSender({ address: `127.0.0.1:${monitor.address()?.port ?? 0}`, status: () => Promise.resolve({ ready: 1, busy: 0 }) });
      const started = other.start();
      await other.stop();
      await started;
    }
    // Every start() sent one signed beat before returning.
    await waitFor(`${CYCLES} heartbeats at the monitor`, () => monitor.stats().accepted >= CYCLES);
    await settle();
    assert.deepEqual(resources(), baseline);
    assert.deepEqual(liveSince(existing), {}, 'no socket or timer (ref\'d or not) outlives its sender');
    assert.equal(errors, 0);
    assert.equal(sender.running, false);
    assert.deepEqual(warnings, []);
    assert.deepEqual(rejections, []);
    await monitor.close();
  });
});
