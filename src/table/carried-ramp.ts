/**
 * Slow-start ramps from times carried with the data: a record's `inRotationSince` (when
 * the monitor put the server into rotation) becomes the start of the view's ramp, so a
 * view that connects late, or reads a file a flush behind, ramps in step with the monitor.
 * @module
 */
import type { ResolvedSlowStart } from '../balancer/options.js';
import type { Clock } from '../clock.js';
import type { ServerStatus } from '../protocol/server-status.js';

/**
 * Carried times closer than this are one time read twice: hb.dat carries ages relative
 * to a write whose moment a reader only knows from the file's mtime (a few ms off, more
 * for a long file), so the same entry reads back slightly different on every flush. A
 * real new entry comes at least a heartbeat apart from the last one.
 */
export const CARRIED_TIME_TOLERANCE = 1000;

/** A wall-clock time of the data on this view's monotonic clock. */
export function toMonotonic(wall: number, clock: Clock): number {
  return clock.monotonic() - (clock.now() - wall);
}

/**
 * The monotonic time the view's ramp of `record`'s server starts from, when the record
 * brings news of it; undefined when the view keeps its ramp as it is (no carried time:
 * an older writer or Apache's hb.dat, where the view ramps from first sight).
 *
 * News is a server the view meets for the first time (`previous` undefined: its ramp, if
 * any, must run from the monitor's moment, which may mean no ramp at all), or a carried
 * time that moved (the server returned after being stale, or was enabled) while the ramp
 * from it still runs. An old time read again must not end a ramp the view began on its
 * own evidence (after a failure it recovered from).
 *
 * @param previous - the record the view held for the key before, if any
 * @param record - the record read now
 * @param slowStart - the view's slow-start option (undefined: off)
 */
export function carriedRampStart(previous: ServerStatus | undefined, record: ServerStatus, slowStart: ResolvedSlowStart | undefined, clock: Clock): number | undefined {
  const carried = record.inRotationSince;
  if (slowStart === undefined || carried === undefined) return undefined;
  // A time ahead of this view's clock (a forged or corrupt record) would hold the server at
  // its minimum weight until then: a ramp never starts later than now.
  const since = Math.min(toMonotonic(carried, clock), clock.monotonic());
  if (previous === undefined) return since;
  const before = previous.inRotationSince;
  if (before !== undefined && Math.abs(carried - before) < CARRIED_TIME_TOLERANCE) return undefined;
  return clock.monotonic() - since < slowStart.window ? since : undefined;
}
