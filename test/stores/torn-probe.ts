/**
 * Self-consistent slot contents for the torn-read test: every field is derived from one
 * number, so a record mixing two writes (or half a write) is detectable.
 */
import type { ServerStatus } from '../../src/index.js';

const BASE_TIME = 1_700_000_000_000;

/** A server whose address, counts, port and lastSeen all encode `value` (0..2^24-1). */
export function tornProbe(value: number): ServerStatus {
  const v = value & 0xffffff;
  // An IPv6 address of varying length, so a torn address would also show in its length.
  const ip = `fd00::${(v >> 12).toString(16)}:${(v & 0xfff).toString(16)}`;
  return { ip, ready: v, busy: v ^ 0x5555, port: (v % 65535) + 1, lastSeen: BASE_TIME + v * 1.5 };
}

/** Whether a record read back is exactly `tornProbe(v)` for the `v` its address names. */
export function decodeTornProbe(server: ServerStatus): boolean {
  const match = /^fd00::([0-9a-f]+):([0-9a-f]+)$/.exec(server.ip);
  if (match === null) return false;
  const v = (parseInt(match[1] ?? '', 16) << 12) | parseInt(match[2] ?? '', 16);
  const expected = tornProbe(v);
  return server.ready === expected.ready && server.busy === expected.busy && server.port === expected.port && server.lastSeen === expected.lastSeen;
}
