/**
 * The paced heartbeat stream of the pool bench, shared by its sender children
 * (bench/children/pool-sender.ts) and the receivers (bench/suites/pool-rate.ts): which beat is sent when,
 * and how a receiver tells a beat of the measured window from a warm-up beat.
 *
 * The window is marked in the payload instead of being cut by the clock: a receiver that
 * counts "datagrams between t0 and t1" is off by whatever sat in its receive queue at t0
 * and t1 (thousands of datagrams while a flush blocks the event loop), which would hide or
 * invent the loss this bench exists to show. With a mark, "received in the window" and
 * "sent in the window" count exactly the same datagrams.
 */

/** Length of `v=1&ready=`: the first digit of `ready` follows it. */
const READY_OFFSET = 10;
/** `ready` of a window beat: 90 … 99 (WINDOW_SPAN values), so its first digit is `9`. */
const WINDOW_READY = 90;
/** `ready` of a warm-up beat: 20 … 49 (WARMUP_SPAN values; first digit 2–4), never mistaken for a window beat. */
const WARMUP_READY = 20;
const ASCII_NINE = 0x39;

const BUSY_SPAN = 9;
const WINDOW_SPAN = 10;
const WARMUP_SPAN = 30;

/**
 * The payloads of the stream, built once: `beat(i, round, inWindow)` is the heartbeat origin
 * `i` sends as its `round`-th beat (a shared Buffer: a sender at 15,000 datagrams/s should
 * not format a string per send).
 */
export function streamBeats(): (i: number, round: number, inWindow: boolean) => Buffer {
  const table = (base: number, span: number): Buffer[] =>
    Array.from({ length: span * BUSY_SPAN }, (_, k) => Buffer.from(`v=1&ready=${base + Math.floor(k / BUSY_SPAN)}&busy=${k % BUSY_SPAN}`));
  const windowBeats = table(WINDOW_READY, WINDOW_SPAN);
  const warmupBeats = table(WARMUP_READY, WARMUP_SPAN);
  return (i, round, inWindow) =>
    inWindow
      ? (windowBeats[((i + round) % WINDOW_SPAN) * BUSY_SPAN + (i % BUSY_SPAN)] as Buffer)
      : (warmupBeats[((i + round) % WARMUP_SPAN) * BUSY_SPAN + (i % BUSY_SPAN)] as Buffer);
}

/** Whether a received datagram is a window beat (one byte compare: the bare socket must stay bare). */
export function isWindowDatagram(message: Buffer): boolean {
  return message[READY_OFFSET] === ASCII_NINE;
}

/** Whether an accepted heartbeat's `ready` marks it as a window beat. */
export function isWindowReady(ready: number): boolean {
  return ready >= WINDOW_READY && ready < WINDOW_READY + WINDOW_SPAN;
}

/**
 * The schedule of `origins` origins beating once per second, evenly spread: beat `b` is
 * origin `b % origins`'s beat number `floor(b / origins)`, due `b * 1000 / origins` ms after
 * the start. Beats due before `warmupMs` are warm-up beats, the ones due in the next
 * `windowMs` are window beats; nothing is due after that.
 */
export interface Schedule {
  /** Every beat of the stream (warm-up and window). */
  readonly total: number;
  /** Index of the first window beat (= number of warm-up beats). */
  readonly firstWindowBeat: number;
}

/** {@link Schedule} of a stream. */
export function schedule(origins: number, warmupMs: number, windowMs: number): Schedule {
  // Beat b is due at b·1000/origins; it belongs to a phase when that is before the phase's end.
  const dueBefore = (ms: number): number => Math.ceil((ms * origins) / 1000);
  return { total: dueBefore(warmupMs + windowMs), firstWindowBeat: dueBefore(warmupMs) };
}

/** What a sender child reports after a stream. */
export interface StreamReport {
  /** Warm-up beats the kernel took (send callback without error). */
  readonly warmupSent: number;
  /** Window beats the kernel took. */
  readonly windowSent: number;
  /** Sends that failed (either phase). */
  readonly failed: number;
  /** Beats not sent because the time bound ran out (0 when the child kept up). */
  readonly skipped: number;
  /** Largest lag of a send behind its due time, ms (how well the child kept the pace). */
  readonly maxLagMs: number;
  /** The child's CPU time (user + system) during the window beats, µs. */
  readonly windowCpuUs: number;
}

/** What a sender child reports after the final round. */
export interface FinalReport {
  readonly sent: number;
  readonly failed: number;
}
