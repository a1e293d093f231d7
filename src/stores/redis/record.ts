/**
 * The record of one server as it is stored in Redis and carried in change messages, and
 * the strict parser every view runs it through: a record written by anything else (an
 * old version, a hand-made HSET, someone with write access to Redis) is refused and
 * counted, never half-applied, and nothing it holds can reach a page or a file unchecked.
 *
 * A record is one line of tab-separated fields, identity first:
 * ```
 * <ip> TAB <port> TAB <monitor> TAB <ready> TAB <busy> [TAB r<in rotation, ms>] [TAB <extra fields as a JSON object>]
 * ```
 * `r<ms>` says how long the server had been in rotation when the report was made (the
 * monitor's `inRotationSince`, carried as a duration relative to the report, because
 * the report's own time reaches a view only as an age: views turn it back into a time
 * on their own clock, `lastSeen − ms`, and no two hosts' wall clocks are ever compared). Records
 * without it (older monitors) still parse: the view then ramps from first sight.
 * Tabs and line breaks cannot occur inside a field (ips and ports are digits and
 * punctuation, monitor ids are printable, the extra fields are JSON text, which escapes
 * control characters), so a view splits a record without a general parser. The identity
 * (ip, port, monitor) rarely changes between two reports of a server: a view checks it
 * once and afterwards only compares it, then reads the two counts (see
 * {@link readCountsAfterIdentity}), which is what keeps a view cheap at 10,000 reports a second.
 * @module
 */
import { isIP } from 'node:net';
import { isPrintableText, keptFields, MAX_EXTRA_FIELDS } from '../../protocol/extra-fields.js';
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
  /**
   * ms the server had been in rotation when it was reported (the report whose age the
   * write sends; negative only when the monitor's clock went back), when the monitor carried it.
   */
  readonly inRotationMs?: number;
  /** Extra heartbeat fields, when there were any. */
  readonly fields?: Readonly<Record<string, string>>;
}

/** Longest record accepted by a view, in characters. */
export const MAX_RECORD_LENGTH = 4096;
/** Most extra fields a record may carry (as many as a status may: protocol/extra-fields.ts). */
export const MAX_RECORD_FIELDS = MAX_EXTRA_FIELDS;
/** Longest monitor id, in characters. */
export const MAX_MONITOR_ID_LENGTH = 128;

const TAB = 9;
const MINUS = 45;
/** The tag of the in-rotation field (`r`). */
const ROTATION_TAG = 114;
/** Most digits of the in-rotation field: 15 keep it exact in a double (31,000 years). */
const MAX_ROTATION_DIGITS = 15;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const IP_CHARACTERS = /^[\w.:%-]{1,64}$/;
/**
 * The text of a record (what the monitor stores and publishes).
 * @param reportedAt - the moment of the report its age counts from, on the monitor's clock
 *   (the heartbeat's `lastSeen`, or later for a rewrite of it)
 * @internal
 */
export function encodeRecord(server: ServerStatus, monitor: string, reportedAt = server.lastSeen): string {
  const { ip, port, ready, busy } = server;
  // A status made by hand (not by a monitor) may hold fields no view accepts: keep the rest.
  const fields = server.fields === undefined ? undefined : keptFields(Object.entries(server.fields));
  const inRotation = inRotationMsOf(server, reportedAt);
  const head = `${ip}\t${port}\t${monitor}\t${ready}\t${busy}${inRotation === undefined ? '' : `\tr${inRotation}`}`;
  if (fields === undefined) return head;
  const record = `${head}\t${JSON.stringify(fields)}`;
  // Views refuse a record over the bound: rather than lose the server, leave its fields out.
  return record.length <= MAX_RECORD_LENGTH ? record : head;
}

/**
 * How long `server` had been in rotation when it was reported, in whole ms (`reportedAt −
 * inRotationSince`, both on the monitor's clock), or undefined when it carries no such time
 * (or one no record can hold).
 * @internal
 */
export function inRotationMsOf(server: ServerStatus, reportedAt = server.lastSeen): number | undefined {
  const since = server.inRotationSince;
  if (since === undefined) return undefined;
  const ms = Math.round(reportedAt - since);
  return Number.isFinite(ms) && Math.abs(ms) < 10 ** MAX_ROTATION_DIGITS ? ms : undefined;
}

/**
 * The identity part of a record (ip, port, monitor and the tab after them): two records
 * of one server that start with the same identity differ only in counts and fields.
 * @internal
 */
export function recordIdentity(record: Pick<RedisServerRecord, 'ip' | 'port' | 'monitor'>): string {
  return `${record.ip}\t${record.port}\t${record.monitor}\t`;
}

/** Whether `id` is usable as a monitor id (printable, 1–128 characters). */
export function isValidMonitorId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_MONITOR_ID_LENGTH && isPrintableText(id);
}

/**
 * Parse and check a record stored under `key`.
 * @returns the record, or a reason it was refused
 */
export function parseRecord(key: string, text: string): RedisServerRecord | string {
  if (text.length > MAX_RECORD_LENGTH) return `record longer than ${MAX_RECORD_LENGTH} characters`;
  const portAt = text.indexOf('\t') + 1;
  const monitorAt = portAt === 0 ? 0 : text.indexOf('\t', portAt) + 1;
  const countsAt = monitorAt === 0 ? 0 : text.indexOf('\t', monitorAt) + 1;
  if (countsAt === 0) return 'record is not ip, port, monitor, ready, busy separated by tabs';
  const ip = text.slice(0, portAt - 1);
  if (!IP_CHARACTERS.test(ip) || isIP(ip) === 0) return 'record has no valid ip';
  const port = readCount(text, portAt, monitorAt - 1);
  if (port < 1 || port > 65_535) return 'record has no valid port';
  const monitor = text.slice(monitorAt, countsAt - 1);
  if (!isValidMonitorId(monitor)) return 'record has no valid monitor id';
  if (key !== ip && key !== serverKey(ip, port, 'ip:port')) return 'record key does not match its ip and port';
  const counts: RecordCounts = { ready: 0, busy: 0, inRotationMs: Number.NaN, fieldsAt: -1 };
  const refused = readCountsAfterIdentity(text, countsAt, text.length, counts);
  if (refused !== undefined) return refused;
  const { ready, busy, inRotationMs, fieldsAt } = counts;
  const base = Number.isNaN(inRotationMs) ? { ip, port, ready, busy, monitor } : { ip, port, ready, busy, monitor, inRotationMs };
  if (fieldsAt < 0) return base;
  const fields = parseFields(text.slice(fieldsAt));
  return typeof fields === 'string' ? fields : { ...base, fields };
}

/** The counts of a record, its in-rotation ms (NaN: none) and where its fields start (-1: none). @internal */
export interface RecordCounts {
  ready: number;
  busy: number;
  inRotationMs: number;
  fieldsAt: number;
}

/**
 * Read `ready TAB busy [TAB r<ms>] [TAB fields]` from `text[start, end)` (the part of a
 * record after its identity) into `into`, allocating nothing.
 * @returns undefined, or a reason the counts were refused
 * @internal
 */
export function readCountsAfterIdentity(text: string, start: number, end: number, into: RecordCounts): string | undefined {
  let busyAt = start;
  while (busyAt < end && text.charCodeAt(busyAt) !== TAB) busyAt++;
  const ready = readCount(text, start, busyAt);
  if (ready < 0) return 'record has no valid ready';
  let busyEnd = busyAt + 1;
  while (busyEnd < end && text.charCodeAt(busyEnd) !== TAB) busyEnd++;
  const busy = readCount(text, busyAt + 1, busyEnd);
  if (busy < 0) return 'record has no valid busy';
  let restAt = busyEnd < end ? busyEnd + 1 : -1;
  let inRotationMs = Number.NaN;
  if (restAt >= 0 && text.charCodeAt(restAt) === ROTATION_TAG) {
    let rotationEnd = restAt + 1;
    while (rotationEnd < end && text.charCodeAt(rotationEnd) !== TAB) rotationEnd++;
    inRotationMs = readSignedMs(text, restAt + 1, rotationEnd);
    if (Number.isNaN(inRotationMs)) return 'record has no valid in-rotation ms';
    restAt = rotationEnd < end ? rotationEnd + 1 : -1;
  }
  into.ready = ready;
  into.busy = busy;
  into.inRotationMs = inRotationMs;
  into.fieldsAt = restAt;
  return undefined;
}

/** A decimal integer with an optional minus (no plus, no leading zero, no `-0`, at most 15 digits) in `text[start, end)`, or NaN. */
function readSignedMs(text: string, start: number, end: number): number {
  const negative = start < end && text.charCodeAt(start) === MINUS;
  const digitsAt = negative ? start + 1 : start;
  const digits = end - digitsAt;
  if (digits < 1 || digits > MAX_ROTATION_DIGITS || (digits > 1 && text.charCodeAt(digitsAt) === DIGIT_0)) return Number.NaN;
  let value = 0;
  for (let i = digitsAt; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code < DIGIT_0 || code > DIGIT_9) return Number.NaN;
    value = value * 10 + (code - DIGIT_0);
  }
  if (negative && value === 0) return Number.NaN;
  return negative ? -value : value;
}

/**
 * A decimal count (0 … 2^31-1, no sign, no leading zero) in `text[start, end)`, or -1.
 * @internal
 */
export function readCount(text: string, start: number, end: number): number {
  if (end <= start || end - start > 10 || (end - start > 1 && text.charCodeAt(start) === DIGIT_0)) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code < DIGIT_0 || code > DIGIT_9) return -1;
    value = value * 10 + (code - DIGIT_0);
  }
  return value <= MAX_COUNT ? value : -1;
}

/**
 * Parse and check the extra fields of a record (a JSON object of printable strings).
 * @returns the fields, frozen, or a reason they were refused
 * @internal
 */
export function parseFields(text: string): Readonly<Record<string, string>> | string {
  let fields: unknown;
  try {
    fields = JSON.parse(text);
  } catch {
    return 'record fields are not JSON';
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return 'record fields are not an object';
  let count = 0;
  // JSON.parse defines own properties only (a key named __proto__ stays a plain field), so
  // the parsed object is kept, frozen, instead of copied.
  for (const name in fields) {
    const value: unknown = (fields as Record<string, unknown>)[name];
    if (++count > MAX_RECORD_FIELDS) return `record has more than ${MAX_RECORD_FIELDS} fields`;
    if (typeof value !== 'string' || !isPrintableText(name) || !isPrintableText(value)) return 'record field is not printable text';
  }
  if (count === 0) return 'record fields are empty (a record without fields has no fields part)';
  return Object.freeze(fields as Record<string, string>);
}
