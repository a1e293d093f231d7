/**
 * Option checks shared by every constructor. Messages follow one pattern:
 * ``Expected `name` to be <what>, got <value>``.
 * @module
 */
import { inspect } from 'node:util';
import type { Clock } from './clock.js';
import type { KeyBy } from './protocol/server-status.js';

/** Render a rejected value for an error message. */
export function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : inspect(value, { depth: 1, breakLength: Infinity });
}

/** Throw a TypeError unless `value` is an integer; a RangeError unless it lies in [min, max]. */
export function expectInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`Expected \`${name}\` to be an integer ${range}, got ${show(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`Expected \`${name}\` to be an integer ${range}, got ${show(value)}`);
  }
  return value;
}

/** Throw a TypeError unless `value` is a number; a RangeError unless it is finite and lies in [min, max]. */
export function expectNumber(name: string, value: unknown, min: number, max = Infinity): number {
  const range = max === Infinity ? `>= ${min}` : `in ${min}..${max}`;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`${name}\` to be a number ${range}, got ${show(value)}`);
  }
  if (value < min || value > max || !Number.isFinite(value)) {
    // A bounded range already says "finite".
    throw new RangeError(`Expected \`${name}\` to be a ${max === Infinity ? 'finite ' : ''}number ${range}, got ${show(value)}`);
  }
  return value;
}

/** Throw a TypeError unless `value` is a non-empty string. */
export function expectString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`Expected \`${name}\` to be a non-empty string, got ${show(value)}`);
  }
  return value;
}

/** Throw a TypeError unless `value` is one of `choices`. */
export function expectOneOf<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new TypeError(`Expected \`${name}\` to be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${show(value)}`);
  }
  return value as T;
}

/** Throw a TypeError unless `value` is a function. */
export function expectFunction<T>(name: string, value: unknown): T {
  if (typeof value !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${show(value)}`);
  }
  return value as T;
}

/**
 * Throw a TypeError unless `value` is a non-null object (an options bag); `expected`
 * describes it in the message when more than "an object" is required.
 */
export function expectObject<T extends object>(name: string, value: T, expected = 'an object'): T {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${show(value)}`);
  }
  return value;
}

/** Throw a TypeError unless `value` is a boolean. */
export function expectBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`Expected \`${name}\` to be a boolean, got ${show(value)}`);
  }
  return value;
}

/** The identities a server can be keyed by (SPEC 1.4): source IP (Apache), or IP and port. */
export const KEY_BY_VALUES: readonly KeyBy[] = ['ip', 'ip:port'];

/** Throw a TypeError unless `value` is a {@link KeyBy} policy. */
export function expectKeyBy(name: string, value: unknown): KeyBy {
  return expectOneOf(name, value, KEY_BY_VALUES);
}

/** Node fires a timer longer than this after 1 ms instead: a delay option must fit. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** Throw unless `value` is a timer delay in ms: an integer in `min`..2^31-1. */
export function expectDelay(name: string, value: unknown, min = 1): number {
  return expectInteger(name, value, min, MAX_TIMER_DELAY);
}

/**
 * Throw a TypeError unless `value` is a clock: an object with `now()`, and with
 * `monotonic()` too unless `monotonic` is `'optional'`.
 */
export function expectClock<C extends Partial<Clock>>(name: string, value: C, monotonic: 'required' | 'optional' = 'required'): C {
  const fits =
    typeof value === 'object' &&
    value !== null &&
    typeof value.now === 'function' &&
    (typeof value.monotonic === 'function' || (monotonic === 'optional' && value.monotonic === undefined));
  if (!fits) {
    const expected = monotonic === 'required' ? 'an object with now() and monotonic()' : 'an object with now() and optionally monotonic()';
    throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${show(value)}`);
  }
  return value;
}
