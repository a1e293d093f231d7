/**
 * The heartbeat wire format of mod_heartbeat (`v=1&ready=<u>&busy=<u>`), parsed the way
 * mod_heartmonitor parses it, except that numbers are strict (SPEC 1.1, 1.2).
 * @module
 */

/** Largest value accepted for `ready` and `busy` (a C `int`). */
export const MAX_COUNT = 2 ** 31 - 1;
/** Apache reads datagrams into a 1000-byte buffer. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1000;
/** Port assumed when a heartbeat does not name one. */
export const DEFAULT_PORT = 80;

/** A heartbeat that passed every check. */
export interface ParsedHeartbeat {
  /** Always true: tells a parsed heartbeat from a {@link RejectedHeartbeat}. */
  readonly ok: true;
  /** Protocol version (`v`); Apache only requires it to be present. */
  readonly version: string;
  /** Idle workers ready for a request. */
  readonly ready: number;
  /** Workers doing anything else. */
  readonly busy: number;
  /** Service port (`port`, default 80). */
  readonly port: number;
  /** Every other key (lower-cased) with its unescaped value. */
  readonly fields: Readonly<Record<string, string>>;
}

/** A message that was dropped, with the reason. */
export interface RejectedHeartbeat {
  /** Always false: tells a rejection from a {@link ParsedHeartbeat}. */
  readonly ok: false;
  /** Human-readable reason, e.g. ``missing `busy` ``. */
  readonly reason: string;
}

/** Result of {@link parseHeartbeat}. */
export type HeartbeatParseResult = ParsedHeartbeat | RejectedHeartbeat;

/** Options of {@link parseHeartbeat}. */
export interface ParseHeartbeatOptions {
  /**
   * Messages longer than this many bytes are rejected rather than truncated.
   * @default 1000
   */
  readonly maxMessageBytes?: number;
}

const KNOWN_KEYS = new Set(['v', 'ready', 'busy', 'port']);
const DECIMAL = /^[0-9]+$/;
// ignoreBOM: a value that starts with U+FEFF keeps it (the default decoder would drop it).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Parse one heartbeat message (a datagram or an HTTP body).
 *
 * Follows mod_heartmonitor: split on `&` (empty pieces skipped), split each piece at the
 * first `=` (no `=` means the value `1`), %XX-unescape keys and values (`+` stays `+`),
 * keys case-insensitive, later duplicates win, `v`, `ready` and `busy` required. Unlike
 * Apache's `atoi`, numbers must be plain decimal integers in range. Never throws.
 *
 * @param message - the raw bytes, or text
 * @param options - size limit
 * @returns the fields, or `{ ok: false, reason }`
 */
export function parseHeartbeat(message: string | Uint8Array, options: ParseHeartbeatOptions = {}): HeartbeatParseResult {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  let bytes: Buffer;
  if (typeof message === 'string') bytes = Buffer.from(message, 'utf8');
  else bytes = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  if (bytes.length === 0) return reject('empty message');
  if (bytes.length > maxBytes) return reject(`message is ${bytes.length} bytes, over the ${maxBytes}-byte limit`);
  // The fast path refuses NUL bytes itself, so a message it accepts passes the NUL check below.
  const common = parseCommon(bytes);
  if (common !== undefined) return common;
  // Apache stops at a NUL (C string); silently cutting there would hide a corrupt sender.
  if (bytes.includes(0)) return reject('message contains a NUL byte');

  const text = bytes.toString('latin1');
  // `%00` unescapes to the NUL refused above as a raw byte: refuse it escaped too, in any
  // piece — also one a later duplicate key overrides. No escape can swallow the `%` of a
  // `%00` (it is not a hex digit), so every occurrence decodes to NUL.
  if (text.includes('%00')) return reject('message contains a NUL byte (escaped as %00)');
  const table = parseFieldTable(text);
  for (const key of ['v', 'ready', 'busy'] as const) {
    if (!table.has(key)) return reject(`missing \`${key}\``);
  }
  const ready = toInteger(table.get('ready'), 0, MAX_COUNT);
  if (ready === undefined) return reject(badNumber('ready', table.get('ready'), 0, MAX_COUNT));
  const busy = toInteger(table.get('busy'), 0, MAX_COUNT);
  if (busy === undefined) return reject(badNumber('busy', table.get('busy'), 0, MAX_COUNT));
  let port = DEFAULT_PORT;
  if (table.has('port')) {
    const parsed = toInteger(table.get('port'), 1, 65535);
    if (parsed === undefined) return reject(badNumber('port', table.get('port'), 1, 65535));
    port = parsed;
  }

  const fields: Record<string, string> = {};
  for (const [key, value] of table) if (!KNOWN_KEYS.has(key)) fields[key] = value;
  return { ok: true, version: table.get('v') ?? '', ready, busy, port, fields };
}

/** What {@link formatHeartbeat} writes. */
export interface HeartbeatFields {
  /** Idle workers. */
  readonly ready: number;
  /** Busy workers. */
  readonly busy: number;
  /** Service port; omitted from the message when undefined (as mod_heartbeat does). */
  readonly port?: number | undefined;
  /** Extra `&key=value` pairs appended after the standard ones (escaped). */
  readonly fields?: Readonly<Record<string, string>> | undefined;
}

/**
 * Format a heartbeat exactly as mod_heartbeat does (`v=1&ready=<u>&busy=<u>`), plus
 * `&port=<u>` and any extra fields when given.
 *
 * @param heartbeat - counts, optional port and extra fields
 * @returns the message text
 * @throws RangeError when a count or the port is out of range
 * @throws TypeError when `fields` names `v`, `ready`, `busy` or `port`, or holds a NUL
 */
export function formatHeartbeat(heartbeat: HeartbeatFields): string {
  checkCount('ready', heartbeat.ready, 0, MAX_COUNT);
  checkCount('busy', heartbeat.busy, 0, MAX_COUNT);
  let text = `v=1&ready=${heartbeat.ready}&busy=${heartbeat.busy}`;
  if (heartbeat.port !== undefined) {
    checkCount('port', heartbeat.port, 1, 65535);
    text += `&port=${heartbeat.port}`;
  }
  for (const [key, value] of Object.entries(heartbeat.fields ?? {})) {
    // Receivers let a later duplicate win, so an extra `ready` would override the real one.
    if (KNOWN_KEYS.has(key.toLowerCase())) throw new TypeError(`Expected \`fields\` not to contain the reserved key ${JSON.stringify(key)}`);
    // Receivers refuse a NUL, escaped or not: a heartbeat carrying one would be dropped.
    if (key.includes('\0') || value.includes('\0')) throw new TypeError(`Expected \`fields\` to hold no NUL character, got ${JSON.stringify(key)}`);
    text += `&${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
  }
  return text;
}

/**
 * Split `key=value&key=value` text the way Apache's `argstr_to_table` does: empty pieces
 * skipped, a piece without `=` has the value `1`, keys and values %XX-unescaped, keys
 * lower-cased, later duplicates win. Shared by the wire format and hb.dat lines.
 *
 * @param latin1 - the bytes as latin1 text (one char per byte)
 * @internal
 */
export function parseFieldTable(latin1: string): Map<string, string> {
  const table = new Map<string, string>();
  // latin1 maps each byte to one char, so splitting cannot break a multi-byte sequence.
  for (const piece of latin1.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const rawKey = eq === -1 ? piece : piece.slice(0, eq);
    const rawValue = eq === -1 ? '1' : piece.slice(eq + 1);
    table.set(unescape(rawKey).toLowerCase(), unescape(rawValue));
  }
  return table;
}

/**
 * The fast path for what senders actually send: only `v`, `ready`, `busy` and `port`, no
 * escapes, no NUL, valid numbers. It gives the full path's result without building the
 * key table or any intermediate string (it reads the bytes directly: this runs once per
 * datagram); anything else returns undefined and takes the full path, which also words
 * every rejection.
 */
function parseCommon(bytes: Buffer): ParsedHeartbeat | undefined {
  const length = bytes.length;
  let version: string | undefined;
  // -1: not seen yet. Later duplicates win, as in the full path.
  let ready = -1;
  let busy = -1;
  let port = -1;
  for (let start = 0; start < length; ) {
    let end = start;
    let eq = -1;
    for (; end < length; end++) {
      const code = bytes[end] as number;
      if (code === 38 /* & */) break;
      if (code === 37 /* % */ || code === 0 || code > 0x7f) return undefined;
      if (code === 61 /* = */ && eq === -1) eq = end;
    }
    if (end > start) {
      const keyEnd = eq === -1 ? end : eq;
      // A piece without `=` has the value `1`.
      const key = knownKey(bytes, start, keyEnd);
      if (key === KEY_V) version = eq === -1 ? '1' : versionText(bytes, eq + 1, end);
      else {
        const value = eq === -1 ? 1 : decimal(bytes, eq + 1, end);
        if (key === KEY_READY) ready = value;
        else if (key === KEY_BUSY) busy = value;
        else if (key === KEY_PORT) port = value;
        else return undefined;
        if (value === -1) return undefined;
      }
    }
    start = end + 1;
  }
  if (version === undefined || ready === -1 || busy === -1 || ready > MAX_COUNT || busy > MAX_COUNT) return undefined;
  if (port === -1) port = DEFAULT_PORT;
  else if (port < 1 || port > 65535) return undefined;
  return { ok: true, version, ready, busy, port, fields: NO_FIELDS };
}

/** The fast path's `fields`: always empty, so one frozen object serves every result. */
const NO_FIELDS: Readonly<Record<string, string>> = Object.freeze({});
const KEY_OTHER = 0;
const KEY_V = 1;
const KEY_READY = 2;
const KEY_BUSY = 3;
const KEY_PORT = 4;
const KEY_NAMES = ['', 'v', 'ready', 'busy', 'port'] as const;

/** Which of `v`, `ready`, `busy`, `port` the bytes spell, ignoring ASCII case. */
function knownKey(bytes: Buffer, start: number, end: number): number {
  const length = end - start;
  const key = length === 1 ? KEY_V : length === 5 ? KEY_READY : length === 4 ? (lower(bytes[start] as number) === 98 /* b */ ? KEY_BUSY : KEY_PORT) : KEY_OTHER;
  if (key === KEY_OTHER) return KEY_OTHER;
  const name = KEY_NAMES[key] as string;
  for (let i = 0; i < length; i++) if (lower(bytes[start + i] as number) !== name.charCodeAt(i)) return KEY_OTHER;
  return key;
}

/** ASCII upper case to lower case (what `toLowerCase` does to ASCII); other bytes unchanged. */
function lower(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code;
}

/** `v`'s value as text; the usual `1` without allocating. */
function versionText(bytes: Buffer, start: number, end: number): string {
  return end - start === 1 && bytes[start] === 49 /* 1 */ ? '1' : bytes.toString('latin1', start, end);
}

/**
 * A decimal integer read from bytes, like {@link toInteger} without its range check:
 * -1 when empty, not all digits, or over 10 significant digits.
 */
function decimal(bytes: Buffer, start: number, end: number): number {
  if (end === start) return -1;
  let value = 0;
  let significant = 0;
  for (let i = start; i < end; i++) {
    const digit = (bytes[i] as number) - 48;
    if (digit < 0 || digit > 9) return -1;
    if (significant > 0 || digit !== 0) significant++;
    value = value * 10 + digit;
  }
  return significant > 10 ? -1 : value;
}

function reject(reason: string): RejectedHeartbeat {
  return { ok: false, reason };
}

/** A decimal integer in [min, max], or undefined (strict `atoi`). @internal */
export function toInteger(text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined || !DECIMAL.test(text)) return undefined;
  // Zero padding is still a decimal integer; more than 10 significant digits never fits.
  const digits = text.replace(/^0+(?=[0-9])/, '');
  if (digits.length > 10) return undefined;
  const value = Number(digits);
  return value >= min && value <= max ? value : undefined;
}

/** Reason text for a field that is not a decimal integer in range. @internal */
export function badNumber(key: string, value: string | undefined, min: number, max: number): string {
  const shown = JSON.stringify(value ?? '');
  return `\`${key}\` must be a decimal integer in ${min}..${max}, got ${shown.length > 40 ? `${shown.slice(0, 37)}..."` : shown}`;
}

function checkCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Expected \`${name}\` to be an integer in ${min}..${max}, got ${String(value)}`);
  }
}

const HEX = /^[0-9a-fA-F]{2}$/;

/** %XX-unescape like ap_unescape_url: valid escapes decode to bytes, invalid ones stay literal. */
function unescape(latin1: string): string {
  if (!latin1.includes('%')) return isAscii(latin1) ? latin1 : utf8.decode(Buffer.from(latin1, 'latin1'));
  const out: number[] = [];
  for (let i = 0; i < latin1.length; i++) {
    const hex = latin1.slice(i + 1, i + 3);
    if (latin1[i] === '%' && HEX.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(latin1.charCodeAt(i));
    }
  }
  return utf8.decode(Uint8Array.from(out));
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}
