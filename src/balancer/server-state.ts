/**
 * The states a server can be in beyond "fresh or stale": the operator's administrative
 * states (which survive heartbeats) and the derived state shown by `describe()`.
 * @module
 */
import type { ServerStatus } from '../protocol/server-status.js';

/** A state set by the operator: `drain()` or `disable()`; `enable()` clears it. */
export type AdminState = 'draining' | 'disabled';

/**
 * Where a server stands, by precedence: `disabled` and `draining` (operator), `failed`
 * (out of rotation after failures), `stale` (no recent heartbeat), `warming` (in its
 * slow-start ramp), `active`.
 */
export type ServerState = 'active' | 'warming' | 'stale' | 'failed' | 'draining' | 'disabled';

/** An extended view of one server, as `describe()` and the status page show it. */
export interface ServerView {
  /** Identity in the table (`ip`, or `ip:port` with `keyBy: 'ip:port'`). */
  readonly key: string;
  /** The last heartbeat. */
  readonly server: ServerStatus;
  /** Derived state. */
  readonly state: ServerState;
  /** ms since the last heartbeat. */
  readonly age: number;
  /** Weight by lbmethod=heartbeat from the last report (ready, or ready / warm-up divisor). */
  readonly reportedWeight: number;
  /** Weight used for picks now (after state, in-flight correction and slow start). */
  readonly weight: number;
  /** Progress of the slow-start ramp in [0, 1] (1 when not ramping). */
  readonly slowStart: number;
  /** Leases open to this server. */
  readonly inFlight: number;
  /** Of those, leases opened since its last heartbeat (what the correction subtracts). */
  readonly inFlightSinceHeartbeat: number;
  /** Picks of this server since it joined the table. */
  readonly picks: number;
  /** Failures reported for this server. */
  readonly failures: number;
  /** ms until a failed server returns to rotation. */
  readonly retryIn?: number;
}

/** Payload of the `failed` event. */
export interface ServerFailure {
  /** Failures reported for this server in total. */
  readonly failures: number;
  /** Trips in a row (1 for the first; each doubles the time out). */
  readonly trips: number;
  /** Time out of rotation, in ms. */
  readonly retryAfter: number;
}
