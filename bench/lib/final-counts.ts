/**
 * The check both UDP ingest benches end with: after each origin sent its final heartbeat,
 * the monitor's table, its store, a SlotStore view of it and a flushed hb.dat all hold
 * exactly those counts, one entry per origin.
 */
import assert from 'node:assert/strict';
import { FileStore, SlotStore, readHeartbeatFile, type HeartbeatStore, type HeartMonitor, type ServerStatus } from '../../src/index.js';
import { finalCounts, sourceAddress } from './sources.js';
import { waitFor } from './timing.js';

/** Whether `list` holds the final counts of origins 0 … sources-1 and no other server. */
function holdsFinalCounts(list: readonly ServerStatus[], sources: number): boolean {
  const byIp = new Map(list.map((server) => [server.ip, server]));
  for (let i = 0; i < sources; i++) {
    const server = byIp.get(sourceAddress(i));
    const want = finalCounts(i);
    if (server?.ready !== want.ready || server.busy !== want.busy) return false;
  }
  return byIp.size === sources;
}

/**
 * Wait (up to 5 s) for the monitor's table to hold every origin's final counts, then
 * assert the store, a view of a SlotStore and the hb.dat of a FileStore (flushed) do too.
 */
export async function assertFinalCounts(name: string, monitor: HeartMonitor, store: HeartbeatStore, sources: number, pollMs = 5): Promise<void> {
  await waitFor(() => holdsFinalCounts(monitor.servers(), sources), 5000, `${name}: the final heartbeat of each of ${sources} origins in monitor.servers()`, pollMs);
  assert.ok(holdsFinalCounts(store.servers(), sources), `${name}: store.servers() lacks final counts`);
  if (store instanceof SlotStore) assert.ok(holdsFinalCounts(SlotStore.attach(store.buffer).servers(), sources), `${name}: SlotStore view lacks final counts`);
  if (store instanceof FileStore) {
    await store.flush();
    assert.ok(holdsFinalCounts(await readHeartbeatFile(store.path), sources), `${name}: hb.dat lacks final counts`);
  }
}
