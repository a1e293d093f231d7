/**
 * Option checks shared by every constructor. Messages follow one pattern:
 * ``Expected `name` to be <what>, got <value>``.
 * @module
 */
import { inspect } from 'node:util';

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

/** Throw a TypeError unless `value` is a finite number; a RangeError unless it is >= min. */
export function expectNumber(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`${name}\` to be a number >= ${min}, got ${show(value)}`);
  }
  if (value < min || !Number.isFinite(value)) {
    throw new RangeError(`Expected \`${name}\` to be a finite number >= ${min}, got ${show(value)}`);
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

/** Throw a TypeError unless `value` is a non-null object (an options bag). */
export function expectObject<T extends object>(name: string, value: T): T {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${show(value)}`);
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
