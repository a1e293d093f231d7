import type { HeartMonitor, HeartMonitorEvents } from '../../src/index.js';

/**
 * Resolve with the arguments of the monitor's next `event` that satisfies `accept`; reject
 * after `timeoutMs` naming the event, so a missing event fails the test instead of hanging it.
 */
export function nextEvent<E extends keyof HeartMonitorEvents>(
  monitor: HeartMonitor,
  event: E,
  options: { timeoutMs?: number; accept?: (...args: HeartMonitorEvents[E]) => boolean } = {},
): Promise<HeartMonitorEvents[E]> {
  const { timeoutMs = 5000, accept = () => true } = options;
  return new Promise((resolve, reject) => {
    const on = monitor.on.bind(monitor) as (event: E, listener: (...args: HeartMonitorEvents[E]) => void) => void;
    const off = monitor.off.bind(monitor) as (event: E, listener: (...args: HeartMonitorEvents[E]) => void) => void;
    const listener = (...args: HeartMonitorEvents[E]): void => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      off(event, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      off(event, listener);
      reject(new Error(`no "${event}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    on(event, listener);
  });
}

/** How {@link waitFor} polls. */
export interface WaitOptions {
  /** Give up after this many ms (counted from the last progress when `progress` is given). */
  readonly timeoutMs?: number;
  /** Pause between two probes, in ms (0: the next event-loop turn). */
  readonly intervalMs?: number;
  /** Called before each probe (to resend a datagram, say). */
  readonly onTick?: () => void;
  /**
   * A probe that throws is tried again until the deadline (a server still starting), and
   * its last error is named in the timeout; by default the error fails the wait at once.
   */
  readonly retryErrors?: boolean;
  /**
   * A counter of work done: while it moves the wait goes on, and `timeoutMs` bounds only a
   * stall (a flood that takes long but keeps progressing).
   */
  readonly progress?: () => number;
}

/**
 * The one way tests wait for a condition: poll `probe` (sync or async) until it returns
 * something other than `undefined` or `false`, and resolve with that; reject after
 * `timeoutMs` with `what` in the message, so a condition that never holds fails the test
 * instead of hanging it.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 5000, intervalMs = 10, onTick, retryErrors = false, progress } = options;
  let deadline = Date.now() + timeoutMs;
  let lastProgress = progress?.();
  let lastError: unknown;
  for (;;) {
    onTick?.();
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (!retryErrors) throw error;
      lastError = error;
    }
    const now = progress?.();
    if (now !== lastProgress) {
      lastProgress = now;
      deadline = Date.now() + timeoutMs;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`Timed out after ${timeoutMs} ms ${progress === undefined ? '' : 'without progress '}waiting for ${what}${detail}`);
    }
    // 0: the next turn of the event loop, for waits measured in datagrams rather than ms.
    await new Promise((resolve) => (intervalMs === 0 ? setImmediate(resolve) : setTimeout(resolve, intervalMs)));
  }
}
