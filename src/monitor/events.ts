/**
 * The monitor's events and the payloads and counters they carry: a leaf module, so the
 * HTTP handler, the metrics and anything else that speaks of heartbeats depend on these
 * types, not on the `HeartMonitor` class (no import cycles, type-only ones included).
 * @module
 */
import type { AddressInfo } from 'node:net';
import type { ServerFailure } from '../balancer/server-state.js';
import type { HeartMonitorWarning } from '../diagnostics/warning.js';
import type { ServerStatus } from '../protocol/server-status.js';

/** Where a heartbeat came from. */
export interface HeartbeatSource {
  /** Sender IP address. */
  readonly address: string;
  /** Sender port, when known. */
  readonly port?: number | undefined;
}

/** Payload of the `malformed` event: one dropped datagram or body. */
export interface MalformedHeartbeat {
  /** Sender. */
  readonly from: HeartbeatSource;
  /** Why it was dropped. */
  readonly reason: string;
  /** The message as text (bytes that are not UTF-8 are replaced). */
  readonly message: string;
}

/** Why a well-formed heartbeat was refused (see the `allow` and `secret` options). */
export type RefusalCode = 'not-allowed' | 'unsigned' | 'bad-signature' | 'skew' | 'replay' | 'store-full';

/** Payload of the `rejected` event: a heartbeat refused by the allowlist, the signature check, or a full store. */
export interface RejectedHeartbeatInfo {
  /** Sender. */
  readonly from: HeartbeatSource;
  /** Machine-readable cause. */
  readonly code: RefusalCode;
  /** Human-readable reason. */
  readonly reason: string;
}

/**
 * Counters since the monitor was created; `received = accepted + malformed + rejected`.
 * Plain JavaScript names (one word each): `HeartMonitorMetrics` (`metrics()`) carries the same
 * figures under the snake_case names exporters map to metric names (`heartbeats_received`…).
 */
export interface HeartMonitorStats {
  /** Messages seen (datagrams, HTTP bodies, ingest calls). */
  readonly received: number;
  /** Messages applied to the table. */
  readonly accepted: number;
  /** Messages that failed parsing. */
  readonly malformed: number;
  /** Messages refused: source not allowed, bad or missing signature, replay, or the store was full. */
  readonly rejected: number;
  /** Servers in the table now. */
  readonly servers: number;
  /** Servers in the table that are fresh (pickable). */
  readonly fresh: number;
}

/** The events of `HeartMonitor`, with their payloads. */
export interface HeartMonitorEvents {
  /** The socket is bound (and the group joined). */
  listening: [address: AddressInfo];
  /** Every accepted heartbeat, one event per server. */
  update: [server: ServerStatus];
  /** First heartbeat of a server (emitted before its `update`). */
  add: [server: ServerStatus];
  /** A server was not heard from for `staleAfter` and is no longer picked. */
  stale: [server: ServerStatus];
  /** A server was not heard from for `expireAfter` and left the table. */
  remove: [server: ServerStatus];
  /** A datagram or body was dropped. */
  malformed: [info: MalformedHeartbeat];
  /** A heartbeat was refused by `allow` or `secret`, or because the table is full (never stored). */
  rejected: [info: RejectedHeartbeatInfo];
  /** A socket, store or listener fault; the monitor keeps running. */
  error: [error: Error];
  /**
   * A configuration that runs but cannot do what was meant (members matching no server,
   * origins sharing an IP under keyBy 'ip', every weight 0, multicast on the default
   * interface). Once per code; without a listener it goes to `process.emitWarning`.
   */
  warning: [warning: HeartMonitorWarning];
  /** `close()` finished. */
  close: [];
  /** Failures took a server out of rotation (`markFailed`, `release({ failed: true })`). */
  failed: [server: ServerStatus, failure: ServerFailure];
  /** A failed server's retry interval ended: it is back in rotation (through slow start). */
  recovered: [server: ServerStatus];
}
