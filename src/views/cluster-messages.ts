/**
 * The messages a monitor's primary process and its cluster workers (or forked children)
 * exchange over the IPC channel: a worker says hello, the primary answers with a snapshot
 * of the table and then streams batched changes. Plain JSON values, so they travel over
 * Node's default `json` serialization as well as `advanced`.
 * @module
 */
import { MAX_COUNT } from '../protocol/heartbeat.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { resolveTableSettings, type TableSettings } from '../table/settings.js';

/** The channel name used when none is given. */
export const DEFAULT_CHANNEL = 'heartmonitor';

/**
 * One server on the wire: `[key, ip, port, ready, busy, lastSeen, admin, inRotationSince?]`,
 * with admin 0 (none), 1 (draining) or 2 (disabled), and the wall-clock time the monitor
 * put the server into rotation when the record carries it (views ramp from it; primary
 * and workers share one host's clock, as `lastSeen` already assumes) — an array, because
 * a batch of 10,000 servers repeats no property names.
 * @internal
 */
export type ServerRow =
  | [key: string, ip: string, port: number, ready: number, busy: number, lastSeen: number, admin: number]
  | [key: string, ip: string, port: number, ready: number, busy: number, lastSeen: number, admin: number, inRotationSince: number];

/** The selection settings the primary's monitor uses, sent with every snapshot. @internal */
export type SharedSettings = TableSettings;

/** Worker → primary: send me a snapshot, then changes. @internal */
export interface HelloMessage {
  readonly heartmonitor: string;
  readonly type: 'hello';
}

/** Primary → worker: the whole table. @internal */
export interface SnapshotMessage {
  readonly heartmonitor: string;
  readonly type: 'snapshot';
  readonly settings: SharedSettings;
  readonly servers: ServerRow[];
}

/** Primary → worker: servers added or changed, and keys that left the table. @internal */
export interface ChangesMessage {
  readonly heartmonitor: string;
  readonly type: 'changes';
  readonly put: ServerRow[];
  readonly remove: string[];
}

/** Any message of the protocol. @internal */
export type ClusterMessage = HelloMessage | SnapshotMessage | ChangesMessage;

const ADMIN_STATES = [undefined, 'draining', 'disabled'] as const;

/** The row for a server (its `state`, if draining or disabled, travels with it). @internal */
export function toRow(key: string, server: ServerStatus): ServerRow {
  const admin = server.state === 'draining' ? 1 : server.state === 'disabled' ? 2 : 0;
  const since = server.inRotationSince;
  return since === undefined
    ? [key, server.ip, server.port, server.ready, server.busy, server.lastSeen, admin]
    : [key, server.ip, server.port, server.ready, server.busy, server.lastSeen, admin, since];
}

/** The frozen status a row describes, or undefined when the row is not well-formed. @internal */
export function fromRow(row: unknown): ServerStatus | undefined {
  if (!Array.isArray(row) || (row.length !== 7 && row.length !== 8)) return undefined;
  const [key, ip, port, ready, busy, lastSeen, admin, since] = row as unknown[];
  if (typeof key !== 'string' || typeof ip !== 'string' || ip.length === 0 || ip.length > 64) return undefined;
  if (!isCount(port) || port < 1 || port > 65535 || !isCount(ready) || !isCount(busy)) return undefined;
  if (typeof lastSeen !== 'number' || !Number.isFinite(lastSeen)) return undefined;
  if (admin !== 0 && admin !== 1 && admin !== 2) return undefined;
  if (since !== undefined && (typeof since !== 'number' || !Number.isFinite(since))) return undefined;
  const state = ADMIN_STATES[admin];
  const server: ServerStatus = since === undefined ? { ip, port, ready, busy, lastSeen } : { ip, port, ready, busy, lastSeen, inRotationSince: since };
  return Object.freeze(state === undefined ? server : { ...server, state });
}

const MESSAGE_TYPES: ReadonlySet<unknown> = new Set(['hello', 'snapshot', 'changes']);

/**
 * Whether an IPC message is one of heartmonitor's own (`monitor.shareWithCluster()` and
 * `ClusterView` talk over the IPC channel the application's `worker.on('message')` and
 * `process.on('message')` handlers listen to). Every such message is a plain object whose
 * `heartmonitor` property holds the channel name (`'heartmonitor'` unless another
 * `channel` is given) and whose `type` is `'hello'`, `'snapshot'` or `'changes'`; an
 * application's handler can skip them:
 *
 * @example
 * ```ts
 * import { isHeartmonitorMessage } from 'heartmonitor';
 *
 * process.on('message', (message: unknown) => {
 *   if (isHeartmonitorMessage(message)) return; // the cluster view's traffic
 *   // … the application's own messages
 * });
 * ```
 *
 * @param message - anything received over IPC
 * @returns true for heartmonitor's messages on any channel, false for everything else
 */
export function isHeartmonitorMessage(message: unknown): boolean {
  if (typeof message !== 'object' || message === null) return false;
  const { heartmonitor, type } = message as { heartmonitor?: unknown; type?: unknown };
  return typeof heartmonitor === 'string' && MESSAGE_TYPES.has(type);
}

/** Whether `message` belongs to `channel` (other IPC traffic of the application is left alone). @internal */
export function isOnChannel(message: unknown, channel: string): message is { readonly heartmonitor: string; readonly type: unknown } {
  return typeof message === 'object' && message !== null && (message as { heartmonitor?: unknown }).heartmonitor === channel;
}

/** Check the settings of a snapshot; undefined when they are not well-formed. @internal */
export function readSettings(value: unknown): SharedSettings | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { staleAfter, expireAfter, warmupDivisor, keyBy } = value as Record<string, unknown>;
  // Every setting must be sent: a missing one would silently take this side's default.
  if (staleAfter === undefined || expireAfter === undefined || warmupDivisor === undefined || keyBy === undefined) return undefined;
  try {
    // The monitor's own checks: what it accepted passes, anything else is not its snapshot.
    return resolveTableSettings({ staleAfter, expireAfter, warmupDivisor, keyBy });
  } catch {
    return undefined;
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_COUNT;
}

