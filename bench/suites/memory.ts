/**
 * Bench 5: memory per server. Heap bytes per server of a HeartMonitor holding n servers
 * with each store (after a full GC, before and after filling), SlotStore bytes per slot
 * (its SharedArrayBuffer, outside the heap), and the heap bytes per member
 * of the index pickBackend(members) keeps for a reused members array.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore, MemoryStore, SlotStore, type HeartbeatStore } from '../../src/index.js';
import { collectGarbage } from '../lib/gc.js';
import { filledMonitor, poolMembers } from '../lib/pool.js';
import type { BenchContext } from '../lib/report.js';

function usage(): { heap: number } {
  collectGarbage();
  return { heap: process.memoryUsage().heapUsed };
}

/** Bench 5. */
export async function memoryBench(ctx: BenchContext): Promise<void> {
  const size = ctx.smoke ? 1000 : 100_000;
  const dir = mkdtempSync(join(tmpdir(), 'hm-bench-memory-'));
  const stores: [string, () => HeartbeatStore][] = [
    ['MemoryStore', () => new MemoryStore({ maxServers: size })],
    ['SlotStore', () => new SlotStore({ maxServers: size })],
    ['FileStore', () => new FileStore({ path: join(dir, 'hb.dat'), maxServers: size })],
  ];
  const label = `n=${size.toLocaleString('en-US')}`;
  try {
    for (const [name, makeStore] of stores) {
      const heap: number[] = [];
      const slotBytes: number[] = [];
      for (let run = 0; run < ctx.repeats; run++) {
        const result = await measureFill(makeStore, size);
        heap.push(result.heapPerServer);
        if (result.slotBytes !== undefined) slotBytes.push(result.slotBytes);
      }
      ctx.record(label, `HeartMonitor + ${name}: heap per server`, 'B/server', heap);
      if (name === 'SlotStore') {
        ctx.record(label, 'SlotStore buffer bytes per slot', 'B/slot', slotBytes);
      }
      ctx.log(`${name} done`);
    }
    const perMember: number[] = [];
    for (let run = 0; run < ctx.repeats; run++) perMember.push(await measureMemberIndex(size));
    ctx.record(label, 'pickBackend(members) index: heap per member', 'B/member', perMember);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Each measurement runs in its own function: a monitor held in a loop variable of the
// caller would stay reachable into the next run and hide that run's growth.

async function measureFill(makeStore: () => HeartbeatStore, size: number): Promise<{ heapPerServer: number; slotBytes: number | undefined }> {
  const before = usage();
  const store = makeStore();
  const monitor = filledMonitor(size, { store });
  const after = usage();
  assert.equal(monitor.servers().length, size);
  await monitor.close();
  return { heapPerServer: (after.heap - before.heap) / size, slotBytes: store instanceof SlotStore ? store.buffer.byteLength / store.maxServers : undefined };
}

async function measureMemberIndex(size: number): Promise<number> {
  const monitor = filledMonitor(size);
  const members = poolMembers(size);
  const before = usage();
  assert.ok(monitor.pickBackend(members) !== undefined);
  const after = usage();
  await monitor.close();
  return (after.heap - before.heap) / size;
}
