/**
 * A TypeScript child of the load bench (bench/load/children/*.ts) spoken to in JSON lines,
 * tracked so it is stopped by PID whatever happens.
 */
import { fileURLToPath } from 'node:url';
import { lineReader } from '../lib/line-reader.js';
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
  const nextLine = lineReader(tracked.child.stdout as NodeJS.ReadableStream, {
    exited: () => `${name} exited`,
    silent: (timeoutMs) => `${name}: no answer within ${timeoutMs} ms`,
  });
  const next = async <T>(timeoutMs: number): Promise<T> => JSON.parse(await nextLine(timeoutMs)) as T;
  return {
    ...tracked,
    next,
    ask<T>(command: unknown, timeoutMs = 10_000) {
      tracked.child.stdin?.write(`${JSON.stringify(command)}\n`);
      return next<T>(timeoutMs);
    },
  };
}
