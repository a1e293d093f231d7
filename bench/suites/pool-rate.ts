/**
 * Bench 8 (`pool`): zero loss at 100,000 heartbeats/s, the rate of a pool of 100,000
 * origins at one beat per second (issue #7). Sender children play the pool: 100,000
 * distinct loopback source addresses, one bound socket each, every origin beating once per
 * second, spread evenly over the second (bench/children/pool-sender.ts, bench/lib/pool-stream.ts).
 * The same children and sockets feed, in turn and in the same run, (a) a bare dgram
 * socket with the monitor's 4 MiB receive buffer that only counts (the physical limit),
 * (b) a HeartMonitor with the default store kind (SlotStore, sized for the pool) and (c) a
 * HeartMonitor with a FileStore (hb.dat flushed every 5 s, Apache's interval, so a flush
 * of the whole pool happens inside the window).
 *
 * Per receiver: datagrams sent and received in the measured window (window beats are
 * marked in the payload, so both counts cover exactly the same datagrams), loss, the
 * receiver's CPU (process.cpuUsage of this process, where only the receiver runs), the
 * origins in the table at the end, and what explains loss where it happens (kernel
 * receive-buffer drops, the longest event-loop delay and GC pause, the senders' CPU and
 * lag, other processes' CPU on the shared cores); then a final paced round whose counts
 * must be in the table, the store, a SlotStore view and the flushed hb.dat.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { FileStore, HeartMonitor, SlotStore, type HeartbeatStore } from '../../src/index.js';
import { openBareSocket } from '../lib/bare-socket.js';
import { assertFinalCounts } from '../lib/final-counts.js';
import { startChild, type LineChild } from '../lib/child.js';
import { isWindowDatagram, isWindowReady, schedule, type FinalReport, type StreamReport } from '../lib/pool-stream.js';
import type { BenchContext } from '../lib/report.js';
import { sleep } from '../lib/timing.js';

/** `ulimit -n` is 20,000 here: each sender child keeps well below it (Node itself holds a few dozen fds). */
const SOCKETS_PER_CHILD = 15_000;
/** Time between the `go` line and the first beat, so every child has read it before the stream starts. */
const START_DELAY_MS = 300;

/** Sizes of one configuration. */
interface Sizes {
  readonly origins: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  /** The final round is spread over this long (slower than the stream: its counts are asserted). */
  readonly finalMs: number;
}

/** One receiver, opened for one stream. */
interface Receiver {
  readonly port: number;
  /** Datagrams (bare socket) or accepted heartbeats (monitor) so far, and window beats among them. */
  readonly counts: { total: number; window: number };
  /** Origins in the table, and how many of them are fresh; undefined for the bare socket. */
  table(): { servers: number; fresh: number } | undefined;
  /** Start times (performance.now) and durations of the store's flushes so far; undefined when the store has no file. */
  readonly flushes: readonly { readonly start: number; readonly ms: number }[] | undefined;
  /** After the final round: assert every origin's final counts are stored everywhere. */
  verify(origins: number): Promise<void>;
  close(): Promise<void>;
}

interface Variant {
  readonly name: string;
  open(dir: string, origins: number): Promise<Receiver>;
}

/** A FileStore that notes when its flushes run and how long they take; writes the same hb.dat. */
class TimedFileStore extends FileStore {
  readonly flushes: { start: number; ms: number }[] = [];

  override async flush(): Promise<void> {
    const start = performance.now();
    await super.flush();
    this.flushes.push({ start, ms: performance.now() - start });
  }
}

const bareSocket: Variant = {
  name: 'bare dgram socket (a)',
  async open() {
    const counts = { total: 0, window: 0 };
    const socket = await openBareSocket((message) => {
      counts.total++;
      if (isWindowDatagram(message)) counts.window++;
    });
    return { port: socket.port, counts, table: () => undefined, flushes: undefined, verify: () => Promise.resolve(), close: () => socket.close() };
  },
};

function monitorWith(name: string, makeStore: (dir: string, origins: number) => HeartbeatStore): Variant {
  return {
    name: `HeartMonitor + ${name} (b)`,
    async open(dir, origins) {
      const store = makeStore(dir, origins);
      const monitor = new HeartMonitor({ listen: '127.0.0.1:0', store });
      const errors: Error[] = [];
      let malformed = 0;
      monitor.on('error', (error) => errors.push(error));
      monitor.on('malformed', () => void malformed++);
      const counts = { total: 0, window: 0 };
      monitor.on('update', (server) => {
        counts.total++;
        if (isWindowReady(server.ready)) counts.window++;
      });
      await monitor.listen();
      return {
        port: monitor.address()?.port ?? 0,
        counts,
        table: () => {
          const { servers, fresh } = monitor.stats();
          return { servers, fresh };
        },
        flushes: store instanceof TimedFileStore ? store.flushes : undefined,
        async verify(sources) {
          await assertFinalCounts(name, monitor, store, sources, 50);
          assert.deepEqual(errors, [], `${name}: the monitor emitted errors`);
          assert.equal(malformed, 0, `${name}: datagrams dropped as malformed`);
        },
        close: () => monitor.close(),
      };
    },
  };
}

const variants: readonly Variant[] = [
  bareSocket,
  // The default store kind; its default of 10 slots (Apache's HeartbeatMaxServers) cannot hold a pool.
  monitorWith('SlotStore', (_, origins) => new SlotStore({ maxServers: origins })),
  // What `maxServers: 0` selects, with the default flushInterval (5 s); explicit only because
  // that FileStore holds at most 10,000 servers.
  monitorWith('FileStore', (dir, origins) => new TimedFileStore({ path: join(dir, 'hb.dat'), maxServers: origins })),
];

/** One sender child and the origins it plays. */
interface Sender {
  readonly child: LineChild;
  readonly count: number;
}

/** Bench 8. */
export async function poolBench(ctx: BenchContext): Promise<void> {
  const sizes: Sizes = ctx.smoke
    ? { origins: 2000, warmupMs: 1000, windowMs: 1000, finalMs: 500 }
    : { origins: 100_000, warmupMs: 2000, windowMs: 5000, finalMs: 2000 };
  const { origins } = sizes;
  const dir = mkdtempSync(join(tmpdir(), 'hm-bench-pool-'));
  const childCount = Math.ceil(origins / SOCKETS_PER_CHILD);
  const senders: Sender[] = [];
  // One value per repetition per metric, recorded at the end in first-seen order.
  const series = new Map<string, { unit: string; values: number[] }>();
  const push = (metric: string, unit: string, value: number): void => {
    const entry = series.get(metric);
    if (entry === undefined) series.set(metric, { unit, values: [value] });
    else entry.values.push(value);
  };
  const label = `${origins.toLocaleString('en-US')} origins × 1 beat/s, ${sizes.windowMs / 1000} s window`;
  try {
    const bindStart = performance.now();
    for (let k = 0; k < childCount; k++) {
      const first = Math.floor((k * origins) / childCount);
      const count = Math.floor(((k + 1) * origins) / childCount) - first;
      senders.push({ child: startChild('pool-sender.ts', [String(first), String(count)]), count });
    }
    const childBindMs = await Promise.all(
      senders.map(async ({ child }) => {
        const [word, ms] = (await child.nextLine(60_000)).split(' ');
        assert.equal(word, 'ready');
        return Number(ms);
      }),
    );
    const bindMs = performance.now() - bindStart;
    ctx.log(`${origins} sockets bound in ${childCount} sender children: ${bindMs.toFixed(0)} ms (start-up included; longest bind in one child ${Math.max(...childBindMs).toFixed(0)} ms)`);
    ctx.record(label, `bind ${origins.toLocaleString('en-US')} source sockets in ${childCount} children (wall, start-up included)`, 'ms', [bindMs]);

    for (let run = 0; run < ctx.repeats; run++) {
      let bareReceived = Number.NaN;
      for (const variant of variants) {
        const result = await measure(variant, senders, dir, sizes);
        const short = variant.name.replace(/ \((a|b)\)$/, '');
        if (variant === bareSocket) bareReceived = result.received;
        else push(`${short} / bare socket, received in the window`, 'b/a', result.received / bareReceived);
        push(`${variant.name}: sent in the window`, 'datagrams', result.sent);
        push(`${variant.name}: received in the window`, 'datagrams', result.received);
        push(`${variant.name}: loss`, '%', result.lossPercent);
        push(`${variant.name}: CPU`, '% of a core', result.cpuPercent);
        push(`${variant.name}: CPU per heartbeat`, 'µs', result.cpuPerBeatUs);
        if (result.table !== undefined) push(`${variant.name}: origins in the table, fresh, at the end`, 'servers', result.table.fresh);
        if (result.flushes !== undefined) {
          push(`${variant.name}: flushes in the window`, 'flushes', result.flushes.count);
          push(`${variant.name}: longest flush in the window`, 'ms', result.flushes.longestMs);
        }
        if (result.kernelDrops !== undefined) push(`${variant.name}: kernel receive-buffer drops (host-wide UDP RcvbufErrors)`, 'datagrams', result.kernelDrops);
        push(`${variant.name}: longest event-loop delay in the window`, 'ms', result.loopDelayMaxMs);
        push(`${variant.name}: longest GC pause in the window`, 'ms', result.gcMaxMs);
        push(`${variant.name}: GC pauses in the window, total`, 'ms', result.gcTotalMs);
        push(`${variant.name}: senders' CPU in the window (all children)`, '% of a core', result.senderCpuPercent);
        push(`${variant.name}: senders' largest lag behind the schedule`, 'ms', result.senderLagMs);
        if (result.othersCpuPercent !== undefined) push(`${variant.name}: other processes' CPU in the window (machine − receiver − senders)`, '% of a core', result.othersCpuPercent);
        ctx.log(
          `run ${run + 1}: ${variant.name}: sent ${result.sent}, received ${result.received}, loss ${result.lossPercent.toFixed(3)} %, ` +
            `CPU ${result.cpuPercent.toFixed(1)} % of a core, loop delay ≤ ${result.loopDelayMaxMs.toFixed(0)} ms, GC ≤ ${result.gcMaxMs.toFixed(0)} ms (Σ ${result.gcTotalMs.toFixed(0)} ms), senders ${result.senderCpuPercent.toFixed(1)} %, lag ≤ ${result.senderLagMs.toFixed(0)} ms` +
            (result.table === undefined ? '' : `, ${result.table.fresh}/${result.table.servers} fresh`) +
            (result.flushes === undefined ? '' : `, ${result.flushes.count} flush(es), longest ${result.flushes.longestMs.toFixed(0)} ms`) +
            (result.kernelDrops === undefined ? '' : `, kernel drops ${result.kernelDrops}`) +
            (result.othersCpuPercent === undefined ? '' : `, other processes ${result.othersCpuPercent.toFixed(0)} % of a core`),
        );
      }
    }
  } finally {
    await Promise.all(senders.map(({ child }) => child.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [metric, { unit, values }] of series) ctx.record(label, metric, unit, values);
}

interface Result {
  readonly sent: number;
  readonly received: number;
  readonly lossPercent: number;
  readonly cpuPercent: number;
  readonly cpuPerBeatUs: number;
  readonly table: { servers: number; fresh: number } | undefined;
  readonly flushes: { count: number; longestMs: number } | undefined;
  readonly kernelDrops: number | undefined;
  readonly senderCpuPercent: number;
  readonly senderLagMs: number;
  readonly othersCpuPercent: number | undefined;
  readonly loopDelayMaxMs: number;
  readonly gcMaxMs: number;
  readonly gcTotalMs: number;
}

/**
 * Why a receiver fell behind, if it did: the longest event-loop delay (a blocked loop, a GC
 * pause, or the process waiting for a core) and the garbage collector's pauses. The queue
 * holds ~10,000 datagrams (8 MiB of kernel buffer, ~830 B each): ~100 ms at 100,000/s.
 * The 10 ms resolution keeps the histogram's own timer cheap; stalls that matter are longer.
 */
function watchStalls(): { stop(): { loopDelayMaxMs: number; gcMaxMs: number; gcTotalMs: number } } {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let gcMaxMs = 0;
  let gcTotalMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMaxMs = Math.max(gcMaxMs, entry.duration);
      gcTotalMs += entry.duration;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  delay.enable();
  return {
    stop() {
      delay.disable();
      gc.disconnect();
      // The histogram counts the 10 ms timer interval itself into each delay: subtract it.
      return { loopDelayMaxMs: Math.max(0, delay.max / 1e6 - 10), gcMaxMs, gcTotalMs };
    },
  };
}

/** One receiver fed one stream by the (already bound) senders, then the final round. */
async function measure(variant: Variant, senders: readonly Sender[], dir: string, sizes: Sizes): Promise<Result> {
  const { origins, warmupMs, windowMs, finalMs } = sizes;
  const receiver = await variant.open(dir, origins);
  try {
    const startAt = Date.now() + START_DELAY_MS;
    for (const { child } of senders) child.send(`go ${receiver.port} ${startAt} ${warmupMs} ${windowMs}`);
    // The window opens when the first window beat is due (the senders' schedule, same clock).
    await sleepUntil(startAt + warmupMs);
    const stalls = watchStalls();
    const cpuBefore = process.cpuUsage();
    const openedAt = performance.now();
    const dropsBefore = udpRcvbufErrors();
    const machineBefore = machineBusyUs();
    await sleepUntil(startAt + warmupMs + windowMs);
    const cpu = process.cpuUsage(cpuBefore);
    const closedAt = performance.now();
    const stalled = stalls.stop();
    const machineAfter = machineBusyUs();
    const table = receiver.table();
    const reports = await Promise.all(senders.map(async ({ child }) => JSON.parse(await child.nextLine(warmupMs + windowMs + 15_000)) as StreamReport));
    await drained(receiver);
    const dropsAfter = udpRcvbufErrors();

    const sent = reports.reduce((sum, report) => sum + report.windowSent, 0);
    const received = receiver.counts.window;
    const scheduled = senders.reduce((sum, { count }) => {
      const { total, firstWindowBeat } = schedule(count, warmupMs, windowMs);
      return sum + total - firstWindowBeat;
    }, 0);
    const failed = reports.reduce((sum, report) => sum + report.failed + report.skipped, 0);
    // Correctness, not timing: the marks must count the same datagrams on both sides.
    assert.ok(received <= sent, `${variant.name}: received ${received} window beats of ${sent} sent`);
    assert.ok(sent <= scheduled, `${variant.name}: ${sent} window beats sent, ${scheduled} scheduled`);
    if (failed > 0) process.stderr.write(`[pool] ${variant.name}: ${failed} beats not sent (send errors or the senders fell behind)\n`);

    const finals = await Promise.all(
      senders.map(async ({ child }) => {
        child.send(`final ${receiver.port} ${finalMs}`);
        return JSON.parse(await child.nextLine(finalMs + 15_000)) as FinalReport;
      }),
    );
    assert.equal(
      finals.reduce((sum, report) => sum + report.sent, 0),
      origins,
      `${variant.name}: every origin sent its final heartbeat`,
    );
    await receiver.verify(origins);

    const elapsedUs = (closedAt - openedAt) * 1000;
    const senderCpuUs = reports.reduce((sum, report) => sum + report.windowCpuUs, 0);
    const inWindow = receiver.flushes?.filter((flush) => flush.start >= openedAt && flush.start < closedAt);
    return {
      sent,
      received,
      lossPercent: sent > 0 ? (1 - received / sent) * 100 : Number.NaN,
      cpuPercent: ((cpu.user + cpu.system) / elapsedUs) * 100,
      cpuPerBeatUs: received > 0 ? (cpu.user + cpu.system) / received : Number.NaN,
      table,
      flushes: inWindow === undefined ? undefined : { count: inWindow.length, longestMs: Math.max(0, ...inWindow.map((flush) => flush.ms)) },
      kernelDrops: dropsBefore === undefined || dropsAfter === undefined ? undefined : dropsAfter - dropsBefore,
      senderCpuPercent: (senderCpuUs / elapsedUs) * 100,
      othersCpuPercent:
        machineBefore === undefined || machineAfter === undefined ? undefined : ((machineAfter - machineBefore - (cpu.user + cpu.system) - senderCpuUs) / elapsedUs) * 100,
      senderLagMs: Math.max(0, ...reports.map((report) => report.maxLagMs)),
      ...stalled,
    };
  } finally {
    await receiver.close();
  }
}

/** Sleep until `epochMs` on the wall clock the sender children schedule by. */
async function sleepUntil(epochMs: number): Promise<void> {
  const wait = epochMs - Date.now();
  if (wait > 0) await sleep(wait);
}

/** Wait until the receiver has taken everything from its queue: nothing new for 150 ms (at most 6 s). */
async function drained(receiver: Receiver): Promise<void> {
  let before = -1;
  for (let i = 0; i < 40 && before !== receiver.counts.total; i++) {
    before = receiver.counts.total;
    await sleep(150);
  }
}

/** USER_HZ of /proc/stat: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_S = 100;

/**
 * CPU time every core of the machine spent busy (all but idle and iowait), µs, from
 * /proc/stat; undefined where the file does not exist. Minus the receiver and the senders,
 * it is what other processes took from the two shared cores during the window: the one
 * cause of loss this bench cannot control.
 */
function machineBusyUs(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'latin1');
  } catch {
    return undefined;
  }
  const fields = (text.split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return ((user + nice + system + irq + softirq + steal) * 1e6) / CLOCK_TICKS_PER_S;
}

/**
 * The kernel's count of UDP datagrams dropped because a socket's receive buffer was full
 * (`RcvbufErrors` in /proc/net/snmp). Host-wide (this network namespace): other UDP
 * traffic on the machine counts too, so it says where loss happened, not how much was ours.
 * Undefined where the file does not exist.
 */
function udpRcvbufErrors(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/snmp', 'latin1');
  } catch {
    return undefined;
  }
  const [names, values] = text.split('\n').filter((line) => line.startsWith('Udp: '));
  if (names === undefined || values === undefined) return undefined;
  const column = names.split(' ').indexOf('RcvbufErrors');
  const value = Number(values.split(' ')[column]);
  return column > 0 && Number.isFinite(value) ? value : undefined;
}
