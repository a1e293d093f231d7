/**
 * Small helpers shared by the storage tests: temp dirs, a server record, waiting
 * for a condition or an event with a bound.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerStatus } from '../../src/index.js';

/** A fresh temp directory and a function that removes it. */
export function tempDir(prefix = 'hm-storage-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A server status with defaults. */
export function server(ip: string, overrides: Partial<ServerStatus> = {}): ServerStatus {
  return { ip, port: 80, ready: 10, busy: 1, lastSeen: Date.now(), ...overrides };
}
