/**
 * The pure parts of a simulated origin: what it reports in its heartbeat and how its
 * counters turn into utilisation.
 */
import type { HeartbeatStatus } from '../../src/index.js';

/** Counters of one origin since the last reset. */
export interface OriginCounters {
  /** Requests answered. */
  served: number;
  /** Worker-milliseconds spent serving (sum over workers). */
  busyMs: number;
  /** When the counters started (performance.now()). */
  since: number;
  /** When `busyMs` was last brought up to date. */
  lastChange: number;
}

/**
 * The heartbeat of an origin with `workers` workers of which `active` are serving:
 * ready = idle workers, busy = max(1, active) — never 0, so Apache's warm-up rule
 * (weight ready/4 when busy = 0) never applies to a running origin.
 */
export function heartbeatCounts(workers: number, active: number): HeartbeatStatus {
  return { ready: Math.max(0, workers - active), busy: Math.max(1, active) };
}

/** Fraction of worker time spent serving: busy worker-ms over workers × elapsed ms. */
export function utilisation(busyMs: number, workers: number, elapsedMs: number): number {
  return workers > 0 && elapsedMs > 0 ? busyMs / (workers * elapsedMs) : 0;
}
