/**
 * Child process of the pool bench (bench/suites/pool-rate.ts): plays origins `first` …
 * `first + count - 1`, one UDP socket bound to each one's loopback address
 * (bench/lib/sources.ts), and sends their heartbeats to 127.0.0.1 on command. The sockets
 * stay bound across commands, so one set of children serves every receiver of a run.
 *
 * Usage: pool-sender.ts <first> <count>
 * Prints `ready <bind ms>` once bound, then takes one command per line on stdin:
 * - `go <port> <startAt> <warmupMs> <windowMs>`: from `startAt` (ms since the epoch, so
 *   every child starts at the same moment), each origin beats once per second, spread
 *   evenly over the second (bench/lib/pool-stream.ts), for `warmupMs + windowMs`; prints a
 *   StreamReport as JSON;
 * - `final <port> <spreadMs>`: each origin sends its final heartbeat once, spread over
 *   `spreadMs`; prints a FinalReport as JSON.
 * Exits when stdin closes. Sends only to 127.0.0.1 (network-safety rule); every loop is
 * bounded in count (the schedule) and in time (SLACK_MS past the schedule's end).
 */
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { schedule, streamBeats, type FinalReport, type StreamReport } from '../lib/pool-stream.js';
import { MAX_SOURCES, bindSources, finalHeartbeat } from '../lib/sources.js';

const [firstArg, countArg] = process.argv.slice(2, 4).map(Number);
if (firstArg === undefined || countArg === undefined || !Number.isInteger(firstArg) || !Number.isInteger(countArg) || firstArg < 0 || countArg < 1 || firstArg + countArg > MAX_SOURCES) {
  process.stderr.write(`usage: pool-sender.ts <first> <count> (first + count ≤ ${MAX_SOURCES})\n`);
  process.exit(2);
}
const first: number = firstArg;
const count: number = countArg;
const TARGET = '127.0.0.1';
// 5 ms ticks: at 100,000 beats/s pool-wide a tick releases ~500 datagrams, a burst the
// receiver's 4 MiB buffer absorbs many times over; a coarser tick would make the stream
// burstier than independent mod_heartbeat timers are.
const TICK_MS = 5;
/**
 * Catch-up limit: one tick sends at most this many ticks' worth of beats. A child that was
 * descheduled for 150 ms would otherwise send 150 ms of beats in one burst, which no pool
 * of independent origins does, and which overflows the receiver's queue by itself (the
 * loss would be the load generator's). Three ticks' worth still lets a child that only
 * runs late catch up within a few ticks.
 */
const CATCH_UP_TICKS = 3;
/** How far past its schedule a round may run on a starved machine before it gives up. */
const SLACK_MS = 2000;
/** How long to wait for the kernel to complete sends already handed to libuv. */
const SETTLE_MS = 2000;

const bindStart = performance.now();
const sockets = await bindSources(count, first);
const bindMs = performance.now() - bindStart;
const beat = streamBeats();

/** Milliseconds since the epoch → the performance.now() clock, which pacing uses (monotonic). */
const toMonotonic = (epochMs: number): number => performance.now() + (epochMs - Date.now());

/** Counts send completions; `settled()` resolves once every send handed out has completed. */
class Completions {
  ok = 0;
  failed = 0;
  readonly done = (error: Error | null): void => {
    if (error) this.failed++;
    else this.ok++;
  };
}

async function settled(handed: number, ...completions: Completions[]): Promise<void> {
  const deadline = performance.now() + SETTLE_MS;
  const total = (): number => completions.reduce((sum, c) => sum + c.ok + c.failed, 0);
  while (total() < handed && performance.now() < deadline) await sleep(5);
}

/**
 * Call `send(b)` for beats 0 … `total - 1`, beat `b` due `b * 1000 / perSecond` ms after
 * `start`; paced by elapsed time, not by ticks, so late timers on a busy machine
 * do not lower the rate (the late beats go out in the next ticks, CATCH_UP_TICKS at a time).
 */
async function paced(start: number, total: number, perSecond: number, send: (b: number) => void): Promise<{ next: number; maxLagMs: number }> {
  const deadline = start + (total * 1000) / perSecond + SLACK_MS;
  let next = 0;
  let maxLagMs = 0;
  const perTick = Math.max(1, Math.ceil((CATCH_UP_TICKS * TICK_MS * perSecond) / 1000));
  const wait = start - performance.now();
  if (wait > 0) await sleep(wait);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) * perSecond) / 1000) + 1, next + perTick);
      if (next < due) maxLagMs = Math.max(maxLagMs, now - start - (next * 1000) / perSecond);
      for (; next < due; next++) send(next);
      if (next >= total || now > deadline) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, TICK_MS);
    tick();
  });
  return { next, maxLagMs };
}

async function stream(port: number, startAt: number, warmupMs: number, windowMs: number): Promise<StreamReport> {
  const { total, firstWindowBeat } = schedule(count, warmupMs, windowMs);
  const warmupDone = new Completions();
  const windowDone = new Completions();
  let windowCpu: NodeJS.CpuUsage | undefined;
  const { next, maxLagMs } = await paced(toMonotonic(startAt), total, count, (b) => {
    const j = b % count;
    const inWindow = b >= firstWindowBeat;
    // The window's CPU starts with its first beat: the warm-up's cost is not the window's.
    if (b === firstWindowBeat) windowCpu = process.cpuUsage();
    (sockets[j] as Socket).send(beat(first + j, Math.floor(b / count), inWindow), port, TARGET, inWindow ? windowDone.done : warmupDone.done);
  });
  await settled(next, warmupDone, windowDone);
  const cpu = windowCpu === undefined ? { user: 0, system: 0 } : process.cpuUsage(windowCpu);
  return {
    warmupSent: warmupDone.ok,
    windowSent: windowDone.ok,
    failed: warmupDone.failed + windowDone.failed,
    skipped: total - next,
    maxLagMs,
    windowCpuUs: cpu.user + cpu.system,
  };
}

async function finalRound(port: number, spreadMs: number): Promise<FinalReport> {
  const completions = new Completions();
  const { next } = await paced(performance.now(), count, (count * 1000) / spreadMs, (j) => {
    (sockets[j] as Socket).send(finalHeartbeat(first + j), port, TARGET, completions.done);
  });
  await settled(next, completions);
  return { sent: completions.ok, failed: completions.failed + (count - next) };
}

const isPort = (value: number): boolean => Number.isInteger(value) && value > 0 && value < 65536;

async function run(line: string): Promise<void> {
  const [command, ...rest] = line.trim().split(/\s+/);
  const args = rest.map(Number);
  const [port = 0, a = Number.NaN, b = Number.NaN, c = Number.NaN] = args;
  let reply: StreamReport | FinalReport;
  // Bounded: a start at most 10 s ahead, a stream of at most 60 s.
  if (command === 'go' && isPort(port) && Math.abs(a - Date.now()) < 10_000 && b >= 0 && c > 0 && b + c <= 60_000) reply = await stream(port, a, b, c);
  else if (command === 'final' && isPort(port) && a > 0 && a <= 60_000) reply = await finalRound(port, a);
  else {
    process.stderr.write(`pool-sender: bad command ${JSON.stringify(line)}\n`);
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}

// Commands run one after another: a `final` must not overlap the stream before it.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  queue = queue.then(() => run(line));
});
lines.on('close', () => {
  void queue.finally(() => {
    for (const socket of sockets) socket.close();
    process.exit(0);
  });
});
process.stdout.write(`ready ${bindMs.toFixed(0)}\n`);
