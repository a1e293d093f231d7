/**
 * Temp dirs of the interop suite that must go away even when a test file is interrupted
 * (the launcher's time limit sends SIGTERM) or fails before its `after` hook.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs = new Set<string>();
const exitHooks = new Set<() => void>();

/** Run `hook` (synchronously) when the process exits, unless {@link removeExitHook} is called first. */
export function addExitHook(hook: () => void): void {
  exitHooks.add(hook);
}

/** Forget an exit hook. */
export function removeExitHook(hook: () => void): void {
  exitHooks.delete(hook);
}

/**
 * A fresh temp dir `heartmonitor-interop-<name>-XXXXXX` with `mode` (applied after
 * creation, so the umask does not narrow it), removed by {@link removeTempDir} or at exit.
 */
export function makeTempDir(name: string, mode = 0o700): string {
  const dir = mkdtempSync(join(tmpdir(), `heartmonitor-interop-${name}-`));
  chmodSync(dir, mode);
  dirs.add(dir);
  return dir;
}

/** Remove a dir made by {@link makeTempDir} (kept, and printed, with HEARTMONITOR_INTEROP_KEEP=1). */
export function removeTempDir(dir: string): void {
  dirs.delete(dir);
  if (process.env.HEARTMONITOR_INTEROP_KEEP === '1') {
    console.error(`# kept ${dir}`);
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}

process.on('exit', () => {
  for (const hook of exitHooks) hook();
  for (const dir of dirs) removeTempDir(dir);
});
// Turn the launcher's SIGTERM (time limit) or a Ctrl-C into a normal exit, so the hooks run.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}
