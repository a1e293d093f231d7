/**
 * The freshness rule (SPEC 1.4, 1.8): a server whose last heartbeat is `staleAfter` ms old
 * or older is not picked. Tables (monotonic seenAt) and snapshots (wall-clock lastSeen)
 * both decide it here.
 * @module
 */

/**
 * Whether a server last heard at `seenAt` is still fresh at `now` (same clock for both).
 * @internal
 */
export function isFreshAt(seenAt: number, now: number, staleAfter: number): boolean {
  return now - seenAt < staleAfter;
}
