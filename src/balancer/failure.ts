/**
 * Failure feedback as mod_proxy's "usable worker" state: consecutive failures beyond a
 * threshold take a server out of rotation; each consecutive trip doubles the time out.
 * @module
 */
import type { FailureOptions } from './options.js';

/** What the failure tracker remembers about one server. */
export interface FailureRecord {
  /** Failures since the last success or trip. */
  consecutive: number;
  /** Trips in a row (drives the backoff); reset by a success or a long healthy spell. */
  trips: number;
  /** Monotonic time the server may return, while it is out of rotation. */
  outUntil: number | undefined;
  /** Monotonic time it last returned. */
  recoveredAt: number | undefined;
  /** Failures reported in total. */
  total: number;
}

/** Result of one reported failure. */
export interface FailureOutcome {
  /** The server was taken out of rotation by this failure. */
  readonly tripped: boolean;
  /** Time out of rotation in ms, when tripped. */
  readonly retryAfter: number;
}

/** A fresh record. */
export function newFailureRecord(): FailureRecord {
  return { consecutive: 0, trips: 0, outUntil: undefined, recoveredAt: undefined, total: 0 };
}

/**
 * Count one failure at monotonic time `now`; trips the server when the threshold is met.
 *
 * @param record - the server's record (updated)
 * @param now - monotonic ms
 * @param options - resolved failure options
 */
export function recordFailure(record: FailureRecord, now: number, options: Required<FailureOptions>): FailureOutcome {
  record.total++;
  if (record.outUntil !== undefined) return { tripped: false, retryAfter: 0 };
  // A server that stayed healthy for the longest backoff starts over at the first step.
  if (record.recoveredAt !== undefined && now - record.recoveredAt >= options.maxRetryAfter) record.trips = 0;
  record.consecutive++;
  if (record.consecutive < options.threshold) return { tripped: false, retryAfter: 0 };
  record.consecutive = 0;
  record.trips++;
  const retryAfter = Math.min(options.maxRetryAfter, options.retryAfter * 2 ** (record.trips - 1));
  record.outUntil = now + retryAfter;
  return { tripped: true, retryAfter };
}

/** Count one success: the failure streak and the backoff start over. */
export function recordSuccess(record: FailureRecord): void {
  record.consecutive = 0;
  if (record.outUntil === undefined) record.trips = 0;
}
