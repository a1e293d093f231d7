/**
 * A TypeScript child of the load bench (bench/load/children/*.ts) spoken to in JSON lines,
 * tracked so it is stopped by PID whatever happens.
 */
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startTracked, type Tracked } from './processes.js';

/** A running child with a line channel. */
export interface NodeChild extends Tracked {
  /** The next JSON line it prints; rejects after `timeoutMs` or when it exits. */
  next<T>(timeoutMs: number): Promise<T>;
  /** Send one command and wait for its one-line answer. */
  ask<T>(command: unknown, timeoutMs?: number): Promise<T>;
}

/** Start `bench/load/children/<name>.ts` with one JSON argument. */
export function startNodeChild(name: string, config: unknown): NodeChild {
  const path = fileURLToPath(new URL(`./children/${name}.ts`, import.meta.url));
  const tracked = startTracked(process.execPath, ['--import', 'tsx/esm', path, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const queue: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let ended = false;
  const lines = createInterface({ input: tracked.child.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  lines.on('close', () => {
    ended = true;
    for (const waiter of waiters.splice(0)) waiter(undefined);
  });
  const next = <T>(timeoutMs: number): Promise<T> => {
    const queued = queue.shift();
    if (queued !== undefined) return Promise.resolve(JSON.parse(queued) as T);
    if (ended) return Promise.reject(new Error(`${name} exited`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no answer within ${timeoutMs} ms`)), timeoutMs);
      waiters.push((line) => {
        clearTimeout(timer);
        if (line === undefined) reject(new Error(`${name} exited`));
        else resolve(JSON.parse(line) as T);
      });
    });
  };
  return {
    ...tracked,
    next,
    ask<T>(command: unknown, timeoutMs = 10_000) {
      tracked.child.stdin?.write(`${JSON.stringify(command)}\n`);
      return next<T>(timeoutMs);
    },
  };
}
