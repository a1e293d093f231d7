/**
 * Slow-start ramps from the time carried with the data (ServerStatus.inRotationSince):
 * a view ramps a server from the moment the monitor put it into rotation (new, back from
 * stale, or enabled), while a ramp after this view's own failure recovery stays its own,
 * and a record without the time ramps from first sight as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartbeatFileReader, HeartMonitor, SlotStore } from '../../src/index.js';
import fc from 'fast-check';
import { carriedRampStart } from '../../src/table/carried-ramp.js';
import { FakeClock } from '../helpers/clock.js';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WINDOW = 60_000;
const beat = (monitor: HeartMonitor, ip: string, ready = 100): void => assert.ok(monitor.ingest(`v=1&ready=${ready}&busy=1`, { address: ip }));

/** Heartbeats every 5 s for `ms` (the server stays fresh). */
function keepBeating(clock: FakeClock, monitor: HeartMonitor, ip: string, ms: number): void {
  for (let left = ms; left > 0; left -= 5000) {
    clock.advance(Math.min(5000, left));
    beat(monitor, ip);
  }
}

function setup(): { clock: FakeClock; monitor: HeartMonitor; store: SlotStore } {
  const clock = new FakeClock();
  const store = new SlotStore({ maxServers: 8, staleAfter: 10_000, expireAfter: 600_000 });
  const monitor = new HeartMonitor({ store, clock, staleAfter: 10_000, expireAfter: 600_000, slowStart: { window: WINDOW } });
  return { clock, monitor, store };
}

describe('slow start from the carried time', () => {
  it('a view attached 30 s after the server joined is half-way, like the monitor', () => {
    const { clock, monitor, store } = setup();
    beat(monitor, '10.0.0.1');
    keepBeating(clock, monitor, '10.0.0.1', 30_000);
    const view = SlotStore.attach(store.buffer, { clock, slowStart: { window: WINDOW } });
    assert.equal(view.serverState('10.0.0.1')?.slowStart, 0.5);
    assert.equal(monitor.serverState('10.0.0.1')?.slowStart, 0.5);
    assert.equal(view.serverState('10.0.0.1')?.weight, monitor.serverState('10.0.0.1')?.weight);
    // A view that attaches after the ramp ended gives the full weight at once.
    keepBeating(clock, monitor, '10.0.0.1', 40_000);
    const later = SlotStore.attach(store.buffer, { clock, slowStart: { window: WINDOW } });
    assert.equal(later.serverState('10.0.0.1')?.state, 'active');
    assert.equal(later.serverState('10.0.0.1')?.weight, 100);
  });

  it('a server back from stale ramps again from its return, for a view that missed the gap too', () => {
    const { clock, monitor, store } = setup();
    beat(monitor, '10.0.0.1');
    const view = SlotStore.attach(store.buffer, { clock, slowStart: { window: WINDOW } });
    clock.advance(120_000); // silent: stale at the monitor
    beat(monitor, '10.0.0.1');
    keepBeating(clock, monitor, '10.0.0.1', 15_000);
    const fresh = SlotStore.attach(store.buffer, { clock, slowStart: { window: WINDOW } });
    for (const reader of [view, fresh, monitor]) assert.equal(reader.serverState('10.0.0.1')?.slowStart, 0.25);
  });

  it('enable() puts the server back into rotation now, for views that never saw it drained', () => {
    const { clock, monitor, store } = setup();
    beat(monitor, '10.0.0.1');
    keepBeating(clock, monitor, '10.0.0.1', 100_000);
    monitor.drain('10.0.0.1');
    clock.advance(1000);
    monitor.enable('10.0.0.1');
    keepBeating(clock, monitor, '10.0.0.1', 6000);
    const view = SlotStore.attach(store.buffer, { clock, slowStart: { window: WINDOW } });
    assert.equal(view.serverState('10.0.0.1')?.slowStart, 0.1);
    assert.equal(monitor.serverState('10.0.0.1')?.slowStart, 0.1);
  });

  it("a ramp after this view's own failure recovery stays its own: heartbeats carrying the old time do not end it", () => {
    const { clock, monitor, store } = setup();
    beat(monitor, '10.0.0.1');
    keepBeating(clock, monitor, '10.0.0.1', 100_000);
    const view = SlotStore.attach(store.buffer, { clock, slowStart: { window: WINDOW }, failure: { threshold: 1, retryAfter: 1000 } });
    assert.equal(view.serverState('10.0.0.1')?.state, 'active');
    view.markFailed('10.0.0.1');
    clock.advance(1000);
    view.pickBackend(); // recovers: ramps again, in this view only
    keepBeating(clock, monitor, '10.0.0.1', 3000);
    assert.equal(view.serverState('10.0.0.1')?.state, 'warming');
    assert.equal(view.serverState('10.0.0.1')?.slowStart, 0.05);
    assert.equal(monitor.serverState('10.0.0.1')?.state, 'active');
  });

  it('a record without the time (an older writer) ramps from first sight, as before', () => {
    const clock = new FakeClock();
    const store = new SlotStore({ maxServers: 2 });
    store.put({ ip: '10.0.0.1', port: 80, ready: 100, busy: 1, lastSeen: clock.now() });
    clock.advance(30_000);
    store.put({ ip: '10.0.0.1', port: 80, ready: 100, busy: 1, lastSeen: clock.now() });
    const view = SlotStore.attach(store.buffer, { clock, slowStart: { window: WINDOW } });
    assert.equal(view.serverState('10.0.0.1')?.slowStart, 0);
    clock.advance(6000);
    assert.equal(view.serverState('10.0.0.1')?.slowStart, 0.1);
  });

  it("an hb.dat reader ramps from the file's inrotationms, and from first sight on Apache's lines", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hm-carried-'));
    try {
      const clock = new FakeClock();
      const path = join(dir, 'hb.dat');
      writeFileSync(path, '10.0.0.1 &ready=100&busy=1&lastseen=0&port=80&inrotationms=15000\n10.0.0.2 &ready=100&busy=1&lastseen=0&port=80\n');
      const written = new Date(clock.now());
      utimesSync(path, written, written);
      const reader = new HeartbeatFileReader({ path, clock, checkInterval: 0, slowStart: { window: WINDOW } });
      assert.equal(reader.serverState('10.0.0.1')?.slowStart, 0.25);
      assert.equal(reader.serverState('10.0.0.2')?.slowStart, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the carried time, whatever a record holds', () => {
  const slowStart = { window: WINDOW, aggression: 1, minWeightPercent: 10 };
  const server = (inRotationSince: number | undefined) => ({ ip: '10.0.0.1', port: 80, ready: 5, busy: 1, lastSeen: 0, inRotationSince });

  it('never starts a ramp later than now (a time ahead of the clock would hold the server at its minimum weight)', () => {
    fc.assert(
      fc.property(fc.option(fc.double({ noNaN: true, min: -1e15, max: 1e15 }), { nil: undefined }), fc.double({ noNaN: true, min: -1e15, max: 1e15 }), (before, carried) => {
        const clock = new FakeClock();
        for (const previous of [undefined, server(before)]) {
          const start = carriedRampStart(previous, server(carried), slowStart, clock);
          if (start !== undefined) assert.ok(start <= clock.monotonic(), `ramp from ${start}, now ${clock.monotonic()}`);
        }
      }),
    );
  });

  it('a time an hour ahead starts the ramp now: the server ramps from its minimum weight, as it does from first sight', () => {
    const clock = new FakeClock();
    assert.equal(carriedRampStart(undefined, server(clock.now() + 3_600_000), slowStart, clock), clock.monotonic());
  });
});
