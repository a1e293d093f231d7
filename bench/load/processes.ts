/**
 * Every process the load bench starts, stopped by its PID: on normal completion, on a
 * failure (the suite's `finally`), and on SIGINT/SIGTERM or exit of the bench itself.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

const running = new Set<ChildProcess>();
let hooked = false;

/**
 * Last resort on exit or a signal: SIGTERM by PID, which every child here honours (httpd's
 * parent then stops its www-data children; SIGKILL would orphan them).
 */
function terminateAllNow(): void {
  for (const child of running) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', terminateAllNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      terminateAllNow();
      process.exit(130);
    });
  }
}

/** A started process and how to stop it. */
export interface Tracked {
  readonly child: ChildProcess;
  /** SIGTERM by PID, SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Start `command` and track it until it exits. */
export function startTracked(command: string, args: readonly string[], options: SpawnOptions = {}): Tracked {
  hook();
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], ...options });
  running.add(child);
  const exited = once(child, 'exit').then(() => undefined, () => undefined);
  child.on('error', () => undefined);
  void exited.then(() => running.delete(child));
  return {
    child,
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const killer = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Stop every tracked process still running (by PID), in parallel. */
export async function stopAll(stops: readonly Tracked[]): Promise<void> {
  await Promise.all(stops.map((t) => t.stop()));
}
