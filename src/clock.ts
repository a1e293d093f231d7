/**
 * Time sources. Ages are measured on a monotonic clock so a wall-clock jump neither
 * expires live servers nor revives dead ones; `lastSeen` still reports wall time.
 * @module
 */
import { performance } from 'node:perf_hooks';

/** The two clocks the monitor reads; inject one in tests. */
export interface Clock {
  /** Wall-clock time in ms since the epoch (for `lastSeen`). */
  now(): number;
  /** Monotonic time in ms (for ages: staleness and expiry). */
  monotonic(): number;
}

/** The process clocks: `Date.now()` and `performance.now()`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};
