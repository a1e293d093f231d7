/**
 * Change messages: what one write of a monitor changed in a shared table, published as one
 * message (one `SPUBLISH` per script run, however many servers it carries). The write
 * script builds them in Lua (scripts.ts); {@link encodeChanges} is the same format from
 * TypeScript (for tests and tools), and {@link decodeChanges} is what every view runs,
 * in one pass over the message without splitting it.
 *
 * ```
 * <sequence> SP <redis time, ms>
 * P SP <key> SP <age ms> SP <record>     a report, `age` ms old at that time (record.ts)
 * D SP <key>                            the server left the table
 * A SP <key> SP <draining|disabled|->   administrative state set (`-`: cleared)
 * ```
 * Lines are separated by `\n`; a record never holds one.
 * @module
 */
import type { AdminState } from '../../balancer/server-state.js';
import { readCount } from './record.js';

/** One change, as {@link encodeChanges} takes it. */
export type Change =
  | { readonly kind: 'put'; readonly key: string; readonly age: number; readonly record: string }
  | { readonly kind: 'remove'; readonly key: string }
  | { readonly kind: 'admin'; readonly key: string; readonly state: AdminState | undefined };

/** Where {@link decodeChanges} delivers each line. @internal */
export interface ChangeVisitor {
  /** A report: the record is `message[start, end)` (not sliced: most are only compared). */
  put(key: string, age: number, message: string, start: number, end: number): void;
  /** A server left the table. */
  remove(key: string): void;
  /** An administrative state was set (undefined: cleared). */
  admin(key: string, state: AdminState | undefined): void;
  /** A line was refused (the rest of the message is still applied). */
  refused(reason: string): void;
}

/** The first line of a change message. @internal */
export interface ChangeHeader {
  /** Sequence number (views detect gaps with it). */
  readonly sequence: number;
  /** The Redis node's time when the script ran, ms. */
  readonly time: number;
  /** Where the first change line starts. */
  readonly bodyAt: number;
}

const HEADER = /^(\d{1,15}) (\d{1,15})\n/;
const SPACE = 32;
/** Longest key a line may name (an IPv6 `[addr]:port` is 47 characters). */
const MAX_KEY_LENGTH = 100;

/**
 * The text of a change message.
 * @internal
 */
export function encodeChanges(sequence: number, time: number, changes: readonly Change[]): string {
  const lines = [`${sequence} ${time}`];
  for (const change of changes) {
    if (change.kind === 'put') lines.push(`P ${change.key} ${change.age} ${change.record}`);
    else if (change.kind === 'remove') lines.push(`D ${change.key}`);
    else lines.push(`A ${change.key} ${change.state ?? '-'}`);
  }
  return lines.join('\n');
}

/**
 * Read the header of a change message.
 * @returns the header, or undefined when the message has none
 * @internal
 */
export function readChangeHeader(message: string): ChangeHeader | undefined {
  const header = HEADER.exec(message);
  if (header === null) return undefined;
  return { sequence: Number(header[1]), time: Number(header[2]), bodyAt: header[0].length };
}

/**
 * Deliver every line of `message` from `bodyAt` on to `visitor`, in order; a line that
 * is not a well-formed change is refused (counted by the visitor) and the next is read.
 * @internal
 */
export function decodeChanges(message: string, bodyAt: number, visitor: ChangeVisitor): void {
  let lineAt = bodyAt;
  while (lineAt < message.length) {
    let lineEnd = message.indexOf('\n', lineAt);
    if (lineEnd < 0) lineEnd = message.length;
    decodeLine(message, lineAt, lineEnd, visitor);
    lineAt = lineEnd + 1;
  }
}

function decodeLine(message: string, start: number, end: number, visitor: ChangeVisitor): void {
  const kind = message.charCodeAt(start);
  if (end - start < 3 || message.charCodeAt(start + 1) !== SPACE) {
    visitor.refused('change line without a kind and a key');
    return;
  }
  const keyAt = start + 2;
  let keyEnd = keyAt;
  while (keyEnd < end && message.charCodeAt(keyEnd) !== SPACE) keyEnd++;
  if (keyEnd === keyAt || keyEnd - keyAt > MAX_KEY_LENGTH) {
    visitor.refused('change line without a valid key');
    return;
  }
  const key = message.slice(keyAt, keyEnd);
  if (kind === 0x50 /* P */) {
    let ageEnd = keyEnd + 1;
    while (ageEnd < end && message.charCodeAt(ageEnd) !== SPACE) ageEnd++;
    const age = readCount(message, keyEnd + 1, ageEnd);
    if (keyEnd >= end || age < 0 || ageEnd >= end) visitor.refused('change line without key, age and record');
    else visitor.put(key, age, message, ageEnd + 1, end);
  } else if (kind === 0x44 /* D */) {
    if (keyEnd !== end) visitor.refused('removal line with more than a key');
    else visitor.remove(key);
  } else if (kind === 0x41 /* A */) {
    const state = keyEnd < end ? message.slice(keyEnd + 1, end) : '';
    if (state === 'draining' || state === 'disabled') visitor.admin(key, state);
    else if (state === '-') visitor.admin(key, undefined);
    else visitor.refused('admin line with an unknown state');
  } else {
    visitor.refused('unknown change line');
  }
}
