/**
 * Signed heartbeats: an HMAC-SHA256 over the message and a timestamp, carried in two extra
 * fields Apache ignores, so one sender can feed both Apache and a monitor that insists on
 * signatures.
 *
 * Wire form: `<message>&ts=<ms>&sig=<hex>` where
 * - `<message>` is the unsigned heartbeat (`v=1&ready=5&busy=1`, maybe `&port=…`),
 * - `<ms>` is the sender's wall clock in ms since the epoch, a decimal integer,
 * - `<hex>` is the lower-case hex HMAC-SHA256, keyed with the shared secret, of the
 *   message's bytes from its first byte up to (not including) the last `&sig=`, that is of
 *   `<message>&ts=<ms>` exactly as sent.
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { show } from '../validate.js';

/** A shared secret: text (UTF-8) or raw bytes. */
export type HeartbeatSecret = string | Uint8Array;

/** One secret, or several to rotate keys (senders sign with the first; monitors accept any). */
export type HeartbeatSecrets = HeartbeatSecret | readonly HeartbeatSecret[];

/** Field carrying the sender's timestamp (ms since the epoch). */
export const TIMESTAMP_FIELD = 'ts';
/** Field carrying the signature. */
export const SIGNATURE_FIELD = 'sig';
/** Default tolerated distance, in ms, between a signed heartbeat's `ts` and the monitor's clock. */
export const DEFAULT_MAX_SKEW = 10_000;

const SIG_MARKER = Buffer.from(`&${SIGNATURE_FIELD}=`, 'latin1');
const SIG_HEX_LENGTH = 64;
const HEX = /^[0-9a-f]+$/;
const TIMESTAMP = /^[0-9]{1,16}$/;

/**
 * Sign a heartbeat: append `&ts=<timestamp>&sig=<hmac>` (see the module notes for the
 * exact bytes signed).
 *
 * @param message - the unsigned heartbeat, e.g. from `formatHeartbeat`
 * @param secret - the shared secret; with a list, the first one signs
 * @param timestamp - wall-clock ms since the epoch (`Date.now()`); must grow from one
 *   heartbeat to the next, since monitors refuse a `ts` not newer than the last one
 * @returns the signed message
 * @throws TypeError / RangeError on an empty secret or a bad timestamp
 */
export function signHeartbeat(message: string, secret: HeartbeatSecrets, timestamp: number): string {
  const [key] = normalizeSecrets(secret, 'secret');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`Expected \`timestamp\` to be a non-negative integer (ms since the epoch), got ${show(timestamp)}`);
  }
  const signed = `${message}&${TIMESTAMP_FIELD}=${timestamp}`;
  return `${signed}&${SIGNATURE_FIELD}=${hmac(key as Buffer, Buffer.from(signed, 'utf8')).toString('hex')}`;
}

/** Result of {@link verifyHeartbeatSignature}. */
export type SignatureCheck =
  | {
      /** The signature is valid. */
      readonly ok: true;
      /** The signed `ts`, ms since the epoch. */
      readonly timestamp: number;
      /** The signature, lower-case hex (identifies this exact message). */
      readonly signature: string;
    }
  | {
      /** The signature is missing or wrong. */
      readonly ok: false;
      /** `unsigned` when there is no signature at all, else `bad-signature`. */
      readonly code: 'unsigned' | 'bad-signature';
      /** Why the signature was refused. */
      readonly reason: string;
    };

/**
 * Check that a message carries a valid signature by one of `secrets`. Only the signature
 * and timestamp are checked here; freshness and replay are the monitor's business.
 * Compares in constant time (`timingSafeEqual`). Never throws.
 *
 * @param message - the message as received
 * @param secrets - accepted secrets, as `normalizeSecrets()` returns them (internal)
 * @param timestampText - the parsed `ts` field, if any (the last one in the message)
 */
export function verifyHeartbeatSignature(message: string | Uint8Array, secrets: readonly Buffer[], timestampText: string | undefined): SignatureCheck {
  const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const at = bytes.lastIndexOf(SIG_MARKER);
  if (at === -1) return { ok: false, code: 'unsigned', reason: 'unsigned heartbeat (no `sig`)' };
  const given = bytes.subarray(at + SIG_MARKER.length).toString('latin1');
  if (given.length !== SIG_HEX_LENGTH || !HEX.test(given)) return { ok: false, code: 'bad-signature', reason: '`sig` must be the last field, 64 lower-case hex digits' };
  if (timestampText === undefined) return { ok: false, code: 'bad-signature', reason: 'signed heartbeat without `ts`' };
  if (!TIMESTAMP.test(timestampText)) return { ok: false, code: 'bad-signature', reason: '`ts` must be a decimal integer (ms since the epoch)' };
  const expected = Buffer.from(given, 'hex');
  const signed = bytes.subarray(0, at);
  // Try every secret (rotation) without stopping early, so timing tells nothing about which matched.
  let valid = false;
  for (const secret of secrets) valid = timingSafeEqual(hmac(secret, signed), expected) || valid;
  if (!valid) return { ok: false, code: 'bad-signature', reason: 'bad signature' };
  return { ok: true, timestamp: Number(timestampText), signature: given };
}

/**
 * Validate the `secret` option and turn it into a list of keys.
 *
 * @param secret - one secret or a list (rotation)
 * @param option - option name for error messages
 * @throws TypeError naming the option when a secret is missing, empty or of another type
 */
export function normalizeSecrets(secret: unknown, option: string): Buffer[] {
  const list: unknown[] = Array.isArray(secret) ? secret : [secret];
  const expected = `Expected \`${option}\` to be a non-empty string or Buffer, or a non-empty list of them`;
  if (list.length === 0) throw new TypeError(`${expected}, got an empty list`);
  return list.map((item) => {
    if (typeof item === 'string' && item.length > 0) return Buffer.from(item, 'utf8');
    if (item instanceof Uint8Array && item.byteLength > 0) return Buffer.from(item);
    throw new TypeError(`${expected}, got ${show(item)}`);
  });
}

function hmac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
