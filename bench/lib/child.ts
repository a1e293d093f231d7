/**
 * A TypeScript child process spoken to in lines (stdin/stdout), stopped by its PID and
 * bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { lineReader } from './line-reader.js';

/** A running child. */
export interface LineChild {
  readonly process: ChildProcess;
  /** The next line the child prints; rejects after `timeoutMs` or when the child exits. */
  nextLine(timeoutMs: number): Promise<string>;
  /** Write one line to the child's stdin. */
  send(line: string): void;
  /** Stop the child (SIGTERM by PID, SIGKILL after 2 s) and wait for it to exit. */
  stop(): Promise<void>;
}

/**
 * Start `bench/children/<file>` with the tsx loader; stderr goes to ours. `ownSession`
 * starts it in a session of its own (setsid): with the kernel's autogroup scheduling that
 * is its own scheduling group, whose share a bench can then raise.
 */
export function startChild(file: string, args: readonly string[], options: { ownSession?: boolean } = {}): LineChild {
  const path = fileURLToPath(new URL(`../children/${file}`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx/esm', path, ...args], { stdio: ['pipe', 'pipe', 'inherit'], detached: options.ownSession ?? false });
  const nextLine = lineReader(child.stdout as NodeJS.ReadableStream, {
    exited: () => `${file} exited (code ${String(child.exitCode)})`,
    silent: (timeoutMs) => `${file}: no output within ${timeoutMs} ms`,
  });
  const exited = once(child, 'exit').then(() => undefined);
  return {
    process: child,
    nextLine,
    send(line) {
      child.stdin?.write(`${line}\n`);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      const killer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 2000);
      await exited;
      clearTimeout(killer);
    },
  };
}
