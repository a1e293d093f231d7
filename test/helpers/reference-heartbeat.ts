/**
 * An independent reading of SPEC 1.2 (with our strict numbers), written byte by byte and
 * without sharing code with src/protocol/heartbeat.ts, so property tests can compare the two.
 */

const AMP = 0x26;
const EQ = 0x3d;
const PERCENT = 0x25;
const MAX_COUNT = 2n ** 31n - 1n;

/** What the reference accepts, with the numbers it reads. */
export type ReferenceResult = { ok: true; ready: number; busy: number; port: number } | { ok: false };

/** Is `byte` an ASCII hex digit? */
function isHex(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));
}

/** %XX-decode (invalid escapes stay literal; `+` stays `+`). */
function percentDecode(bytes: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === PERCENT && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
      out.push(Number.parseInt(String.fromCharCode(bytes[i + 1] as number, bytes[i + 2] as number), 16));
      i += 2;
    } else {
      out.push(bytes[i] as number);
    }
  }
  return out;
}

/** ASCII-lower-cased text of a key, or undefined when it holds non-ASCII bytes (never a known key). */
function asciiLower(bytes: readonly number[]): string | undefined {
  let text = '';
  for (const byte of bytes) {
    if (byte > 0x7f) return undefined;
    text += String.fromCharCode(byte >= 0x41 && byte <= 0x5a ? byte + 32 : byte);
  }
  return text;
}

/** A decimal integer (digits only, leading zeros allowed) in [min, max], else undefined. */
function strictInteger(bytes: readonly number[] | undefined, min: bigint, max: bigint): number | undefined {
  if (bytes === undefined || bytes.length === 0) return undefined;
  let value = 0n;
  for (const byte of bytes) {
    if (byte < 0x30 || byte > 0x39) return undefined;
    value = value * 10n + BigInt(byte - 0x30);
  }
  return value >= min && value <= max ? Number(value) : undefined;
}

/**
 * Accept exactly: 1..maxBytes bytes, no NUL, raw or %00-escaped (Apache treats the datagram
 * as a C string; we refuse rather than truncate), `&`-separated pieces (empty ones skipped), key up to the
 * first `=` (no `=` → value "1"), %XX-decoded, keys case-insensitive, the last duplicate
 * wins, `v`, `ready`, `busy` present, ready/busy decimal in 0..2^31-1, port in 1..65535
 * (default 80).
 */
export function referenceParse(message: Uint8Array, maxBytes = 1000): ReferenceResult {
  if (message.length === 0 || message.length > maxBytes || message.includes(0)) return { ok: false };
  const table = new Map<string, number[]>();
  let start = 0;
  for (let i = 0; i <= message.length; i++) {
    if (i < message.length && message[i] !== AMP) continue;
    const piece = Array.from(message.subarray(start, i));
    start = i + 1;
    if (piece.length === 0) continue;
    const eq = piece.indexOf(EQ);
    const keyBytes = percentDecode(eq === -1 ? piece : piece.slice(0, eq));
    const value = eq === -1 ? [0x31] : percentDecode(piece.slice(eq + 1));
    // An escaped NUL (%00) is refused like a raw one.
    if (keyBytes.includes(0) || value.includes(0)) return { ok: false };
    const key = asciiLower(keyBytes);
    if (key !== undefined) table.set(key, value);
  }
  if (!table.has('v')) return { ok: false };
  const ready = strictInteger(table.get('ready'), 0n, MAX_COUNT);
  const busy = strictInteger(table.get('busy'), 0n, MAX_COUNT);
  const port = table.has('port') ? strictInteger(table.get('port'), 1n, 65535n) : 80;
  if (ready === undefined || busy === undefined || port === undefined) return { ok: false };
  return { ok: true, ready, busy, port };
}
