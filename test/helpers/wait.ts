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

/**
 * Poll `condition` every `intervalMs` (calling `onTick` first, e.g. to resend a datagram)
 * until it holds; reject after `timeoutMs` with `what` in the message.
 */
export async function waitUntil(
  what: string,
  condition: () => boolean,
  options: { timeoutMs?: number; intervalMs?: number; onTick?: () => void } = {},
): Promise<void> {
  const { timeoutMs = 5000, intervalMs = 25, onTick } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    onTick?.();
    if (condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
