/**
 * Leases: what `acquire()` hands out, so the balancer knows which requests are in flight
 * and how they ended.
 * @module
 */
import type { ServerStatus } from '../protocol/server-status.js';

/** How a leased request ended. */
export interface LeaseResult {
  /** The request failed (connect error, 5xx…): counts towards failure feedback. */
  readonly failed?: boolean;
}

/** One request in flight to a server; call `release()` exactly once when it ends. */
export interface Lease {
  /** The server picked (its status when the lease was opened). */
  readonly server: ServerStatus;
  /**
   * End the request. Further calls do nothing.
   * @param result - `{ failed: true }` reports a failure (see the `failure` option)
   */
  release(result?: LeaseResult): void;
}

/** A lease on one of the members passed to `acquire(members)`. */
export interface MemberLease<M> extends Lease {
  /** The chosen member itself. */
  readonly member: M;
}
