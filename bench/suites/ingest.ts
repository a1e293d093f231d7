/**
 * Bench 1: heartbeats ingested per second. A blaster child process plays many origin
 * servers (one socket per loopback source address) and floods 127.0.0.1 with heartbeats;
 * the receiver is (a) a bare dgram socket that only counts (4 MiB receive buffer, the
 * monitor's default) or (b) a HeartMonitor listening on unicast 127.0.0.1 with each store.
 * Reported: datagrams/s processed, loss, and the ratio b/a measured in the same repetition;
 * also the receiver's CPU time per datagram (process.cpuUsage of this process, where only
 * the receiver runs), which does not depend on how fast the blaster manages to send on a
 * shared machine, and the rate one core could sustain at that cost.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileStore, HeartMonitor, MemoryStore, SlotStore, type HeartbeatStore } from '../../src/index.js';
import { openBareSocket } from '../lib/bare-socket.js';
import { assertFinalCounts } from '../lib/final-counts.js';
import { startChild } from '../lib/child.js';
import type { BenchContext } from '../lib/report.js';
import { sourceAddress } from '../lib/sources.js';
import { nsPerOp, sleep } from '../lib/timing.js';


interface Receiver {
  readonly port: number;
  /** Datagrams processed, and when the first and last were. */
  readonly seen: { count: number; first: number; last: number };
  /** After the final round: assert the table holds every source's last counts. */
  verify(sources: number): Promise<void>;
  close(): Promise<void>;
}

interface Variant {
  readonly name: string;
  open(dir: string): Promise<Receiver>;
}

const stamp = (seen: Receiver['seen']): void => {
  const now = performance.now();
  if (seen.count++ === 0) seen.first = now;
  seen.last = now;
};

const bareSocket: Variant = {
  name: 'bare dgram socket (a)',
  async open() {
    const seen = { count: 0, first: 0, last: 0 };
    const socket = await openBareSocket(() => stamp(seen));
    return { port: socket.port, seen, verify: () => Promise.resolve(), close: () => socket.close() };
  },
};

function monitorWith(name: string, makeStore: (dir: string, sources: number) => HeartbeatStore, flushInterval?: number): Variant {
  return {
    name: `HeartMonitor + ${name} (b)`,
    async open(dir) {
      const store = makeStore(dir, 1000);
      const monitor = new HeartMonitor({ listen: '127.0.0.1:0', store, ...(flushInterval === undefined ? {} : { flushInterval }) });
      const errors: Error[] = [];
      monitor.on('error', (error) => errors.push(error));
      const seen = { count: 0, first: 0, last: 0 };
      monitor.on('update', () => stamp(seen));
      await monitor.listen();
      const port = monitor.address()?.port ?? 0;
      return {
        port,
        seen,
        async verify(sources) {
          await assertFinalCounts(name, monitor, store, sources);
          assert.deepEqual(errors, [], `${name}: the monitor emitted errors`);
        },
        close: () => monitor.close(),
      };
    },
  };
}

const variants: readonly Variant[] = [
  bareSocket,
  monitorWith('MemoryStore', () => new MemoryStore()),
  monitorWith('SlotStore', (_, slots) => new SlotStore({ maxServers: slots })),
  // Flushed every second (Apache: 5 s) so writes of hb.dat happen during the flood.
  monitorWith('FileStore', (dir) => new FileStore({ path: join(dir, 'hb.dat') }), 1000),
];

/** Bench 1. */
export async function ingestBench(ctx: BenchContext): Promise<void> {
  const sources = ctx.smoke ? 8 : 200;
  const count = ctx.smoke ? 2000 : 200_000;
  const maxMs = ctx.smoke ? 1000 : 3000;
  const dir = mkdtempSync(join(tmpdir(), 'hm-bench-ingest-'));
  const rates = new Map<string, number[]>();
  const losses = new Map<string, number[]>();
  const ratios = new Map<string, number[]>();
  const cpuCosts = new Map<string, number[]>();
  const cpuRatios = new Map<string, number[]>();
  const push = (map: Map<string, number[]>, key: string, value: number): void => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [value]);
    else list.push(value);
  };
  try {
    for (let run = 0; run < ctx.repeats; run++) {
      let bare = { rate: Number.NaN, cpuUs: Number.NaN };
      for (const variant of variants) {
        const result = await blast(variant, dir, sources, count, maxMs);
        if (variant === bareSocket) bare = result;
        else {
          push(ratios, variant.name, result.rate / bare.rate);
          push(cpuRatios, variant.name, bare.cpuUs / result.cpuUs);
        }
        push(rates, variant.name, result.rate);
        push(losses, variant.name, result.loss * 100);
        push(cpuCosts, variant.name, result.cpuUs);
        ctx.log(`run ${run + 1}: ${variant.name}: ${Math.round(result.rate)} datagrams/s, loss ${(result.loss * 100).toFixed(1)} %, ${result.cpuUs.toFixed(2)} µs CPU/datagram`);
      }
    }
    // Inside the try: its FileStore writes into `dir`, which must still exist (and be removed after).
    await inProcess(ctx, dir, sources);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const label = `${sources} sources`;
  for (const variant of variants) {
    ctx.record(label, `${variant.name} received`, 'datagrams/s', rates.get(variant.name) ?? []);
    ctx.record(label, `${variant.name} loss`, '%', losses.get(variant.name) ?? []);
    ctx.record(label, `${variant.name} CPU per datagram`, 'µs', cpuCosts.get(variant.name) ?? []);
    ctx.record(label, `${variant.name} sustainable on one core`, 'datagrams/s', (cpuCosts.get(variant.name) ?? []).map((us) => 1e6 / us));
    const ratio = ratios.get(variant.name);
    const short = variant.name.replace(' (b)', '');
    if (ratio !== undefined) ctx.record(label, `${short} / bare socket, received rate`, 'b/a', ratio);
    const cpuRatio = cpuRatios.get(variant.name);
    if (cpuRatio !== undefined) ctx.record(label, `${short} / bare socket, sustainable rate`, 'b/a', cpuRatio);
  }
}

/** monitor.ingest() without a socket: the library's own cost per heartbeat, per store. */
async function inProcess(ctx: BenchContext, dir: string, sources: number): Promise<void> {
  const budgetMs = ctx.smoke ? 20 : 300;
  const messages = Array.from({ length: 64 }, (_, k) => Buffer.from(`v=1&ready=${10 + k}&busy=${k % 8}`));
  const addresses = Array.from({ length: sources }, (_, i) => ({ address: sourceAddress(i) }));
  const stores: [string, () => HeartbeatStore][] = [
    ['MemoryStore', () => new MemoryStore()],
    ['SlotStore', () => new SlotStore({ maxServers: sources + 10 })],
    ['FileStore', () => new FileStore({ path: join(dir, 'in-process.dat') })],
  ];
  for (const [name, makeStore] of stores) {
    const values: number[] = [];
    for (let run = 0; run < ctx.repeats; run++) {
      const monitor = new HeartMonitor({ store: makeStore() });
      values.push(nsPerOp((i) => void monitor.ingest(messages[(i / sources) & 63] as Buffer, addresses[i % sources] as { address: string }), budgetMs));
      assert.equal(monitor.servers().length, sources);
      await monitor.close();
    }
    ctx.record(`${sources} sources`, `monitor.ingest(Buffer), ${name}, no socket`, 'ns/heartbeat', values);
  }
}

async function blast(variant: Variant, dir: string, sources: number, count: number, maxMs: number): Promise<{ rate: number; loss: number; cpuUs: number }> {
  const receiver = await variant.open(dir);
  const blaster = startChild('blaster.ts', [String(receiver.port), String(sources), String(count), String(maxMs)]);
  try {
    assert.equal(await blaster.nextLine(15_000), 'ready');
    const cpuBefore = process.cpuUsage();
    blaster.send('go');
    const summary = JSON.parse(await blaster.nextLine(maxMs + 15_000)) as { sent: number; failed: number };
    // Drained when no datagram arrived for 150 ms.
    let before = -1;
    for (let i = 0; i < 40 && before !== receiver.seen.count; i++) {
      before = receiver.seen.count;
      await sleep(150);
    }
    const cpu = process.cpuUsage(cpuBefore);
    const { count: received, first, last } = receiver.seen;
    assert.ok(received > 0, `${variant.name}: nothing received`);
    assert.ok(received <= summary.sent, `${variant.name}: received ${received} of ${summary.sent} sent`);
    blaster.send('final');
    assert.equal(await blaster.nextLine(10_000), 'done');
    await receiver.verify(sources);
    return {
      rate: received > 1 ? ((received - 1) * 1000) / (last - first) : 0,
      loss: 1 - received / summary.sent,
      cpuUs: (cpu.user + cpu.system) / received,
    };
  } finally {
    await blaster.stop();
    await receiver.close();
  }
}
