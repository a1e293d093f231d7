/**
 * A bounded driver for profiling the per-datagram path: one HeartMonitor (store chosen on
 * the command line) on 127.0.0.1, flooded by the ingest bench's blaster child. Run it
 * under `node --cpu-prof --import tsx/esm bench/suites/profile-ingest.ts <memory|slot|file|default>`.
 * Sends only to 127.0.0.1; the blaster is bounded in count and time and stopped by its PID.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore, HeartMonitor, MemoryStore, SlotStore, type HeartbeatStore } from '../../src/index.js';
import { startChild } from '../lib/child.js';
import { sleep } from '../lib/timing.js';

const kind = process.argv[2] ?? 'slot';
const sources = Number(process.argv[3] ?? 200);
const count = Number(process.argv[4] ?? 300_000);
const dir = mkdtempSync(join(tmpdir(), 'hm-profile-ingest-'));
const stores: Record<string, () => HeartbeatStore | undefined> = {
  memory: () => new MemoryStore(),
  slot: () => new SlotStore({ maxServers: 1000 }),
  file: () => new FileStore({ path: join(dir, 'hb.dat') }),
  default: () => undefined,
};
const makeStore = stores[kind];
if (makeStore === undefined) throw new Error(`unknown store ${kind}: ${Object.keys(stores).join(', ')}`);
const store = makeStore();
const monitor = new HeartMonitor({ listen: '127.0.0.1:0', ...(store === undefined ? {} : { store }) });
let updates = 0;
monitor.on('update', () => void updates++);
monitor.on('error', () => undefined);
await monitor.listen();
const blaster = startChild('blaster.ts', [String(monitor.address()?.port ?? 0), String(sources), String(count), '4000']);
try {
  if ((await blaster.nextLine(15_000)) !== 'ready') throw new Error('blaster not ready');
  const cpu = process.cpuUsage();
  blaster.send('go');
  const summary = JSON.parse(await blaster.nextLine(20_000)) as { sent: number };
  let before = -1;
  for (let i = 0; i < 40 && before !== monitor.stats().received; i++) {
    before = monitor.stats().received;
    await sleep(150);
  }
  const used = process.cpuUsage(cpu);
  const { received, accepted, rejected } = monitor.stats();
  process.stdout.write(`${kind}: sent ${summary.sent}, received ${received}, accepted ${accepted}, rejected ${rejected}, updates ${updates}, ${((used.user + used.system) / received).toFixed(2)} µs CPU/datagram\n`);
} finally {
  await blaster.stop();
  await monitor.close();
  rmSync(dir, { recursive: true, force: true });
}
