/**
 * A TypeScript child process spoken to in lines (stdin/stdout), stopped by its PID and
 * bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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
  const queue: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let ended = false;
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  lines.on('close', () => {
    ended = true;
    for (const waiter of waiters.splice(0)) waiter(undefined);
  });
  const exited = once(child, 'exit').then(() => undefined);
  return {
    process: child,
    nextLine(timeoutMs) {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (ended) return Promise.reject(new Error(`${file} exited (code ${String(child.exitCode)})`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${file}: no output within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((line) => {
          clearTimeout(timer);
          if (line === undefined) reject(new Error(`${file} exited (code ${String(child.exitCode)})`));
          else resolve(line);
        });
      });
    },
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
