/**
 * Lines of a child's stdout, taken one at a time: the line channel both kinds of bench
 * child (bench/children, bench/load/children) speak.
 */
import { createInterface } from 'node:readline';

/** How a reader words its two failures. */
export interface LineReaderMessages {
  /** The child's stdout ended (it exited). */
  exited(): string;
  /** No line came within `timeoutMs`. */
  silent(timeoutMs: number): string;
}

/**
 * Queue the lines of `input`; the returned function resolves with the next one, and
 * rejects after `timeoutMs` or once `input` ended with nothing left.
 */
export function lineReader(input: NodeJS.ReadableStream, messages: LineReaderMessages): (timeoutMs: number) => Promise<string> {
  const queue: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let ended = false;
  const lines = createInterface({ input });
  lines.on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  lines.on('close', () => {
    ended = true;
    for (const waiter of waiters.splice(0)) waiter(undefined);
  });
  return (timeoutMs) => {
    const queued = queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (ended) return Promise.reject(new Error(messages.exited()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(messages.silent(timeoutMs))), timeoutMs);
      waiters.push((line) => {
        clearTimeout(timer);
        if (line === undefined) reject(new Error(messages.exited()));
        else resolve(line);
      });
    });
  };
}
