/**
 * The record of one server as it is stored in Redis and carried in change messages, and
 * the strict parser every view runs it through: a record written by anything else (an
 * old version, a hand-made HSET, someone with write access to Redis) is refused and
 * counted, never half-applied, and nothing it holds can reach a page or a file unchecked.
 * @module
 */
import { isIP } from 'node:net';
import { MAX_COUNT } from '../../protocol/heartbeat.js';
import { serverKey, type ServerStatus } from '../../protocol/server-status.js';

/** What a record says about a server; the time of the report is kept beside it. */
export interface RedisServerRecord {
  /** Canonical IP of the server. */
  readonly ip: string;
  /** Service port. */
  readonly port: number;
  /** Idle workers. */
  readonly ready: number;
  /** Busy workers. */
  readonly busy: number;
  /** The monitor that reported this server last (its `monitorId`). */
  readonly monitor: string;
  /** Extra heartbeat fields, when there were any. */
  readonly fields?: Readonly<Record<string, string>>;
}

/** Longest record accepted by a view, in characters. */
export const MAX_RECORD_LENGTH = 4096;
/** Most extra fields a record may carry. */
export const MAX_RECORD_FIELDS = 32;
/** Longest monitor id, in characters. */
export const MAX_MONITOR_ID_LENGTH = 128;

const IP_CHARACTERS = /^[\w.:%-]{1,64}$/;
// Control characters (C0, DEL, C1), line and paragraph separators, zero-width and bidi
// controls, BOM: text without them is safe in a terminal table, a log line or a page (escaped).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/;

/**
 * The JSON text of a record (what the monitor stores and publishes).
 * @internal
 */
export function encodeRecord(server: ServerStatus, monitor: string): string {
  const { ip, port, ready, busy, fields } = server;
  return fields === undefined ? JSON.stringify({ ip, port, ready, busy, monitor }) : JSON.stringify({ ip, port, ready, busy, monitor, fields });
}

/** Whether `id` is usable as a monitor id (printable, 1–128 characters). */
export function isValidMonitorId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_MONITOR_ID_LENGTH && !UNPRINTABLE.test(id);
}

/**
 * Parse and check a record stored under `key`.
 * @returns the record, or a reason it was refused
 */
export function parseRecord(key: string, text: string): RedisServerRecord | string {
  if (text.length > MAX_RECORD_LENGTH) return `record longer than ${MAX_RECORD_LENGTH} characters`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'record is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'record is not an object';
  const { ip, port, ready, busy, monitor, fields } = value as Record<string, unknown>;
  if (typeof ip !== 'string' || !IP_CHARACTERS.test(ip) || isIP(ip) === 0) return 'record has no valid ip';
  if (!isCount(port) || port < 1 || port > 65_535) return 'record has no valid port';
  if (!isCount(ready)) return 'record has no valid ready';
  if (!isCount(busy)) return 'record has no valid busy';
  if (!isValidMonitorId(monitor)) return 'record has no valid monitor id';
  if (key !== ip && key !== serverKey(ip, port, 'ip:port')) return 'record key does not match its ip and port';
  if (fields === undefined) return { ip, port, ready, busy, monitor };
  const checked = checkFields(fields);
  return typeof checked === 'string' ? checked : { ip, port, ready, busy, monitor, fields: checked };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_COUNT;
}

function checkFields(fields: unknown): Readonly<Record<string, string>> | string {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return 'record fields are not an object';
  let count = 0;
  // JSON.parse defines own properties only (a key named __proto__ stays a plain field), so
  // the parsed object is kept, frozen, instead of copied.
  for (const name in fields) {
    const text: unknown = (fields as Record<string, unknown>)[name];
    if (++count > MAX_RECORD_FIELDS) return `record has more than ${MAX_RECORD_FIELDS} fields`;
    if (typeof text !== 'string' || UNPRINTABLE.test(name) || UNPRINTABLE.test(text)) return 'record field is not printable text';
  }
  return Object.freeze(fields as Record<string, string>);
}
