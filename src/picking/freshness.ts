/**
 * The freshness rule (SPEC 1.4, 1.8): a server whose last heartbeat is `staleAfter` ms old
 * or older is not picked, and one `expireAfter` ms old leaves the table. Tables (monotonic
 * seenAt), snapshots and files (wall-clock lastSeen) all decide it here.
 * @module
 */

/**
 * Whether a server last heard at `seenAt` was heard within `window` ms of `now` (same clock
 * for both): fresh with `staleAfter`, still in the table with `expireAfter`.
 * @internal
 */
export function heardWithin(seenAt: number, now: number, window: number): boolean {
  return now - seenAt < window;
}
