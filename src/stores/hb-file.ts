/**
 * The hb.dat flat file of mod_heartmonitor (SPEC 1.6): one line per server,
 * `<ip> &ready=<u>&busy=<u>&lastseen=<s>&port=<u>`, written by our FileStore and read
 * the way mod_lbmethod_heartbeat reads it, minus its faults.
 * @module
 */
import { isIP } from 'node:net';
import { canonicalHost, isIpLiteral } from '../protocol/address.js';
import { StoreError } from '../errors.js';
import { keptFields } from '../protocol/extra-fields.js';
import { badNumber, DEFAULT_PORT, MAX_COUNT, parseFieldTable, toInteger } from '../protocol/heartbeat.js';
import { serverKey, type ServerStatus } from '../protocol/server-status.js';
import { DEFAULT_MAX_FILE_BYTES, readBounded, RefusedFileError } from './bounded-read.js';
import { checkTableOverrides, DEFAULT_EXPIRE_AFTER, resolveTableSettings, TABLE_SETTING_NAMES, type TableSettings } from '../table/settings.js';
import { expectInteger } from '../validate.js';

/** A server not seen for more than 30 s is left out of the file (SPEC 1.4): the table's `expireAfter` default. */
export const DEFAULT_FILE_EXPIRE_AFTER = DEFAULT_EXPIRE_AFTER;

/** Keys of an hb.dat line that map to {@link ServerStatus} properties. */
const LINE_KEYS = new Set(['ready', 'busy', 'lastseen', 'port', 'state', 'age', 'inrotationms']);

/**
 * mod_lbmethod_heartbeat leaves out every server whose `lastseen` is this many seconds or
 * more (`LBM_HEARTBEAT_MAX_LASTSEEN`), whatever its `ready`.
 */
export const APACHE_MAX_LASTSEEN = 10;

/**
 * One hb.dat line for `server`, exactly as mod_heartmonitor writes it (trailing `\n`
 * included). `lastseen` is the whole seconds between `server.lastSeen` and `now`.
 *
 * A server the operator drained or disabled (`server.state`) is written so that Apache's
 * own balancer stops picking it while our readers still know it:
 * `<ip> &ready=<u>&busy=<u>&lastseen=<max(10, age)>&port=<u>&state=<draining|disabled>&age=<s>`.
 * Apache skips every line whose `lastseen` is 10 or more (a `ready=0` line alone is not
 * enough: its draw can still land on it), and ignores the two extra keys; our readers take
 * the state, and the real age from `age`.
 *
 * A server whose record carries `inRotationSince` gets `&inrotationms=<ms>` last: the ms
 * between then and the write (relative to the writer's clock, like `lastseen`, so a
 * reader on another host needs no agreement on wall time), at most 2147483647. Apache
 * ignores it; our readers start the slow-start ramp from it.
 *
 * @param server - the server's last status
 * @param now - wall-clock time of the write, ms since the epoch
 */
export function formatHeartbeatLine(server: ServerStatus, now: number): string {
  // Defence in depth: whatever reached the table, only an IP literal may start a line
  // (a space, `&` or newline in it would forge fields or whole lines readers trust).
  if (!isIpLiteral(server.ip)) throw new TypeError(`Refusing to write an hb.dat line for ${JSON.stringify(String(server.ip)).slice(0, 80)}: not an IP literal`);
  checkLineNumber('port', server.port, 1, 65535);
  checkLineNumber('ready', server.ready, 0, MAX_COUNT);
  checkLineNumber('busy', server.busy, 0, MAX_COUNT);
  const lastseen = Math.max(0, Math.floor((now - server.lastSeen) / 1000));
  const since = server.inRotationSince;
  // Finite numbers only (a record from any store may reach this); a time ahead of the write reads as 0.
  const inRotation = typeof since === 'number' && Number.isFinite(since) ? `&inrotationms=${Math.min(MAX_COUNT, Math.max(0, Math.round(now - since)))}` : '';
  const state = server.state;
  if (state === 'draining' || state === 'disabled') {
    const hidden = Math.max(APACHE_MAX_LASTSEEN, lastseen);
    return `${server.ip} &ready=${server.ready}&busy=${server.busy}&lastseen=${hidden}&port=${server.port}&state=${state}&age=${lastseen}${inRotation}\n`;
  }
  return `${server.ip} &ready=${server.ready}&busy=${server.busy}&lastseen=${lastseen}&port=${server.port}${inRotation}\n`;
}

/**
 * A whole hb.dat: with `settings`, first the {@link formatSettingsLine} of the writer's
 * settings, then one {@link formatHeartbeatLine} per server, in the given order.
 *
 * @param servers - the servers to write
 * @param now - wall-clock time of the write, ms since the epoch
 * @param settings - the table settings of the writer (its monitor's), for readers to use
 */
export function formatHeartbeatFile(servers: Iterable<ServerStatus>, now: number, settings?: TableSettings): string {
  let text = settings === undefined ? '' : formatSettingsLine(settings);
  for (const server of servers) text += formatHeartbeatLine(server, now);
  return text;
}

/** What starts the settings line: a comment for Apache (SPEC 1.6), settings for our readers. */
export const SETTINGS_LINE_PREFIX = '# heartmonitor ';

/**
 * The settings line of an hb.dat (trailing `\n` included):
 * `# heartmonitor keyBy=<ip|ip:port> staleAfter=<ms> expireAfter=<ms> warmupDivisor=<n>`.
 * It starts with `#`, so mod_lbmethod_heartbeat skips it as a comment and
 * mod_heartmonitor copies it unchanged; our readers take the writer's settings from it.
 * Numbers are written as JavaScript writes them (`String(n)`), so every valid value reads
 * back exactly.
 *
 * @param settings - the writer's table settings
 * @throws RangeError/TypeError when a setting is out of its range (the line is never written)
 */
export function formatSettingsLine(settings: TableSettings): string {
  const checked = checkTableOverrides(settings);
  const values = TABLE_SETTING_NAMES.map((name) => `${name}=${String(checked[name])}`);
  return `${SETTINGS_LINE_PREFIX}${values.join(' ')}\n`;
}

/** A setting's number as the line writes it: digits, an optional fraction and exponent; no sign, no hex, no Infinity. */
const SETTING_NUMBER = /^\d{1,30}(?:\.\d{1,30})?(?:e[+-]?\d{1,3})?$/;
/** Longest settings line read; a longer one is refused (no writer of ours comes close). */
const MAX_SETTINGS_LINE = 512;

/**
 * Read a settings line ({@link formatSettingsLine}); the settings, or why the line is
 * refused. All four settings must be there once each and within the ranges the monitor
 * accepts; names this version does not know are ignored (a newer writer may add some).
 * Never throws.
 *
 * @param line - the line, without its line break
 */
export function parseSettingsLine(line: string): TableSettings | string {
  if (!line.startsWith(SETTINGS_LINE_PREFIX)) return `a settings line starts with ${JSON.stringify(SETTINGS_LINE_PREFIX)}`;
  if (line.length > MAX_SETTINGS_LINE) return `settings line longer than ${MAX_SETTINGS_LINE} characters`;
  const given = new Map<string, string>();
  for (const token of line.slice(SETTINGS_LINE_PREFIX.length).split(' ')) {
    if (token === '') continue;
    const equals = token.indexOf('=');
    if (equals <= 0) return `settings line: ${JSON.stringify(token.slice(0, 40))} is not name=value`;
    const name = token.slice(0, equals);
    if (given.has(name)) return `settings line: ${JSON.stringify(name.slice(0, 40))} given twice`;
    given.set(name, token.slice(equals + 1));
  }
  const input: Record<string, unknown> = {};
  for (const name of TABLE_SETTING_NAMES) {
    const text = given.get(name);
    if (text === undefined) return `settings line: \`${name}\` missing`;
    if (name === 'keyBy') input[name] = text;
    else if (SETTING_NUMBER.test(text)) input[name] = Number(text);
    else return `settings line: \`${name}\` must be a number, got ${JSON.stringify(text.slice(0, 40))}`;
  }
  try {
    // Every setting is given, so no default is taken: the monitor's own checks, stale before expiry included.
    const { keyBy, staleAfter, expireAfter, warmupDivisor } = resolveTableSettings(input);
    return { keyBy, staleAfter, expireAfter, warmupDivisor };
  } catch (error) {
    return `settings line: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function checkLineNumber(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`Refusing to write an hb.dat line with ${name} ${String(value).slice(0, 40)}: not an integer in ${min}..${max}`);
  }
}

/** A line of an hb.dat that {@link parseHeartbeatFile} left out, and why. */
export interface SkippedHeartbeatLine {
  /** 1-based line number. */
  readonly line: number;
  /** The line's text (without its line break). */
  readonly text: string;
  /** Why it was left out. */
  readonly reason: string;
}

/** What {@link parseHeartbeatFile} found. */
export interface HeartbeatFileContents {
  /** One status per usable line (a later line for the same IP and port replaces an earlier one). */
  readonly servers: ServerStatus[];
  /** Lines that were neither comments nor blank and could not be used (a malformed settings line too). */
  readonly skipped: SkippedHeartbeatLine[];
  /**
   * The writer's table settings, from the file's settings line (`# heartmonitor …`, which
   * our FileStore writes first); undefined when the file has none (Apache's hb.dat) or
   * only a malformed one. The first good settings line counts.
   */
  readonly settings?: TableSettings;
}

/** Options of {@link parseHeartbeatFile}. */
export interface ParseHeartbeatFileOptions {
  /**
   * Wall-clock time the file was written (its mtime), ms since the epoch: a line's
   * `lastSeen` is this minus its `lastseen` seconds, so entries age with the file.
   * @default Date.now()
   */
  readonly writtenAt?: number;
}

/**
 * Parse the text of an hb.dat the way mod_lbmethod_heartbeat does: lines starting with
 * `#` are comments (but for our settings line, `# heartmonitor …`, read into `settings`);
 * the IP is everything before the first space; the rest is split like a heartbeat (SPEC
 * 1.2) with missing `ready`/`busy`/`lastseen` read as 0 and a missing `port` as 80. Lines
 * without a space are skipped (blank lines silently). Unlike Apache, numbers are strict,
 * the IP must be an IP address, and a last line without a newline is read whole. Never
 * throws.
 *
 * @param text - the file's contents
 * @param options - when the file was written
 */
export function parseHeartbeatFile(text: string | Uint8Array, options: ParseHeartbeatFileOptions = {}): HeartbeatFileContents {
  const writtenAt = options.writtenAt ?? Date.now();
  const latin1 = typeof text === 'string' ? Buffer.from(text, 'utf8').toString('latin1') : Buffer.from(text).toString('latin1');
  const byKey = new Map<string, ServerStatus>();
  const skipped: SkippedHeartbeatLine[] = [];
  let settings: TableSettings | undefined;
  const lines = latin1.split('\n');
  // A final "\n" leaves an empty last piece, which is not a line.
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith(SETTINGS_LINE_PREFIX)) {
      const found = parseSettingsLine(line);
      const problem = typeof found === 'string' ? found : settings === undefined ? undefined : 'a second settings line (the first one counts)';
      if (problem !== undefined) skipped.push({ line: index + 1, text: Buffer.from(line, 'latin1').toString('utf8'), reason: problem });
      else if (typeof found !== 'string') settings = found;
      return;
    }
    if (line.startsWith('#') || line.trim() === '') return;
    const result = parseLine(line, writtenAt);
    if (typeof result === 'string') skipped.push({ line: index + 1, text: Buffer.from(line, 'latin1').toString('utf8'), reason: result });
    else byKey.set(serverKey(result.ip, result.port, 'ip:port'), result);
  });
  return settings === undefined ? { servers: [...byKey.values()], skipped } : { servers: [...byKey.values()], skipped, settings };
}

function parseLine(line: string, writtenAt: number): ServerStatus | string {
  const space = line.indexOf(' ');
  if (space === -1) return 'no space after the IP address';
  const ipText = line.slice(0, space);
  if (isIP(ipText.split('%')[0] ?? '') === 0) return `${JSON.stringify(ipText)} is not an IP address`;
  const table = parseFieldTable(line.slice(space + 1));
  const numbers: Record<'ready' | 'busy' | 'lastseen' | 'port' | 'age' | 'inrotationms', number> = { ready: 0, busy: 0, lastseen: 0, port: DEFAULT_PORT, age: -1, inrotationms: -1 };
  for (const key of ['ready', 'busy', 'lastseen', 'port', 'age', 'inrotationms'] as const) {
    const value = table.get(key);
    if (value === undefined) continue;
    const min = key === 'port' ? 1 : 0;
    const max = key === 'port' ? 65535 : MAX_COUNT;
    const parsed = toInteger(value, min, max);
    if (parsed === undefined) return badNumber(key, value, min, max);
    numbers[key] = parsed;
  }
  const fields = keptFields(table, LINE_KEYS);
  const stateText = table.get('state');
  const state = stateText === 'draining' || stateText === 'disabled' ? stateText : undefined;
  if (stateText !== undefined && state === undefined) return `\`state\` must be draining or disabled, got ${JSON.stringify(stateText)}`;
  // A drained or disabled line hides its age from Apache in `lastseen`; `age` is the real one.
  const age = state !== undefined && numbers.age >= 0 ? numbers.age : numbers.lastseen;
  return Object.freeze({
    ip: canonicalHost(ipText),
    port: numbers.port,
    ready: numbers.ready,
    busy: numbers.busy,
    lastSeen: writtenAt - age * 1000,
    // When the writer put the server into rotation, by the same clock as lastSeen.
    ...(numbers.inrotationms >= 0 ? { inRotationSince: writtenAt - numbers.inrotationms } : {}),
    ...(fields === undefined ? {} : { fields }),
    ...(state === undefined ? {} : { state }),
  });
}

/**
 * Read an hb.dat (ours or Apache's) and return its servers. Each `lastSeen` accounts for
 * the line's `lastseen` and for the file's age (its mtime; a future mtime counts as now),
 * so a file nobody rewrites goes stale instead of being trusted forever. Unusable lines
 * are left out; use {@link parseHeartbeatFile} to see them. Only a regular file of at most
 * `maxFileBytes` is read, opened without blocking (a FIFO or device is refused).
 *
 * @param path - the file
 * @param options - `maxFileBytes` (default 16 MiB)
 * @returns the servers, one per IP and port
 * @throws StoreError naming the path and the cause when the file cannot be read or is refused
 */
export async function readHeartbeatFile(path: string, options: { readonly maxFileBytes?: number } = {}): Promise<ServerStatus[]> {
  const maxBytes = expectInteger('maxFileBytes', options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, 1);
  try {
    // stat and read through one descriptor, so the mtime belongs to the bytes read even
    // when a writer renames a new file over the path meanwhile.
    const { bytes, stats } = await readBounded(path, maxBytes);
    return parseHeartbeatFile(bytes, { writtenAt: Math.min(Math.floor(stats.mtimeMs), Date.now()) }).servers;
  } catch (cause) {
    const refused = cause instanceof RefusedFileError ? `: ${cause.message}` : '';
    throw new StoreError(`Cannot read heartbeat file ${path}${refused}`, { cause, path });
  }
}
