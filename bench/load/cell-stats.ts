/**
 * From one cell's request log and origin counters to its figures: latency percentiles,
 * failed share, traffic shares and origin utilisation. Pure.
 */
import { percentile } from '../lib/stats.js';
import { utilisation } from './origin-model.js';

/** Status recorded for a request that got no HTTP answer (connection error, reset). */
export const NO_ANSWER = 0;
/** Status recorded for a request still open (or never sent) at the generator's deadline. */
export const TIMED_OUT = -1;

/** What the generator recorded: one entry per request, in send order. */
export interface RequestLog {
  /** Intended send time, ms since the start of the run. */
  readonly intended: Float64Array;
  /** Completion time minus intended send time, ms. */
  readonly latency: Float64Array;
  /** HTTP status, {@link NO_ANSWER} or {@link TIMED_OUT}. */
  readonly status: Int16Array;
  /** Index of the origin that answered (`x-origin`), -1 when unknown. */
  readonly origin: Int8Array;
}

/** Counters of one origin over the cell. */
export interface OriginStats {
  readonly name: string;
  readonly workers: number;
  readonly served: number;
  readonly busyMs: number;
  readonly elapsedMs: number;
}

/** The figures of one cell. */
export interface CellFigures {
  readonly sent: number;
  readonly ok: number;
  /** Requests without a 2xx answer (503 refused, 502, connection errors, timeouts). */
  readonly failed: number;
  /** failed / sent, in percent. */
  readonly failedPercent: number;
  /** Latency percentiles of the answered (2xx) requests, from their intended send time. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  /** Share of answered requests per origin, percent, in origin order. */
  readonly sharesPercent: readonly number[];
  /** Utilisation of each origin's workers, percent, in origin order. */
  readonly utilisationPercent: readonly number[];
  /**
   * Mean time a worker was held per request served, ms (nominal: the mean service time).
   * Above nominal when the origins' process got too little CPU to end services on time.
   */
  readonly serviceMs: number;
  /** Failed requests whose intended time lies at or after `disturbedAt` (when given). */
  readonly failedAfterDisturbance: number;
  /** Last failed request's intended time minus `disturbedAt`, ms (0 when none failed). */
  readonly lastFailureAfterMs: number;
}

/** A 2xx answer. */
export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Summarise one cell; `disturbedAt` is the disturbance's time since the run's start, in ms. */
export function cellFigures(log: RequestLog, origins: readonly OriginStats[], disturbedAt?: number): CellFigures {
  const sent = log.status.length;
  const okLatencies: number[] = [];
  const perOrigin = origins.map(() => 0);
  let failedAfterDisturbance = 0;
  let lastFailureAfterMs = 0;
  for (let i = 0; i < sent; i++) {
    const status = log.status[i] ?? TIMED_OUT;
    if (isSuccess(status)) {
      okLatencies.push(log.latency[i] ?? Number.NaN);
      const origin = log.origin[i] ?? -1;
      if (origin >= 0 && origin < perOrigin.length) perOrigin[origin] = (perOrigin[origin] ?? 0) + 1;
    } else if (disturbedAt !== undefined) {
      const after = (log.intended[i] ?? 0) - disturbedAt;
      if (after >= 0) {
        failedAfterDisturbance++;
        lastFailureAfterMs = Math.max(lastFailureAfterMs, after);
      }
    }
  }
  const sorted = Float64Array.from(okLatencies).sort();
  const ok = okLatencies.length;
  const failed = sent - ok;
  return {
    sent,
    ok,
    failed,
    failedPercent: sent === 0 ? 0 : (100 * failed) / sent,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    sharesPercent: perOrigin.map((count) => (ok === 0 ? 0 : (100 * count) / ok)),
    utilisationPercent: origins.map((o) => 100 * utilisation(o.busyMs, o.workers, o.elapsedMs)),
    serviceMs: meanServiceMs(origins),
    failedAfterDisturbance,
    lastFailureAfterMs,
  };
}

function meanServiceMs(origins: readonly OriginStats[]): number {
  const served = origins.reduce((sum, o) => sum + o.served, 0);
  return served === 0 ? Number.NaN : origins.reduce((sum, o) => sum + o.busyMs, 0) / served;
}

/** Largest distance, in percentage points, between measured shares and the expected ones (fractions). */
export function shareDeviation(sharesPercent: readonly number[], expected: readonly number[]): number {
  return expected.reduce((worst, fraction, i) => Math.max(worst, Math.abs((sharesPercent[i] ?? 0) - 100 * fraction)), 0);
}
