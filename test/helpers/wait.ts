import type { EventEmitter } from 'eventemitter3';

/**
 * Resolve with the arguments of the next `event` that satisfies `accept`; reject after
 * `timeoutMs` naming the event, so a missing event fails the test instead of hanging it.
 */
export function nextEvent<Events extends EventEmitter.ValidEventTypes, E extends EventEmitter.EventNames<Events>>(
  emitter: EventEmitter<Events>,
  event: E,
  options: { timeoutMs?: number; accept?: (...args: EventEmitter.EventArgs<Events, E>) => boolean } = {},
): Promise<EventEmitter.EventArgs<Events, E>> {
  const { timeoutMs = 5000, accept = () => true } = options;
  return new Promise((resolve, reject) => {
    const listener = ((...args: EventEmitter.EventArgs<Events, E>) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args);
    }) as EventEmitter.EventListener<Events, E>;
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no "${String(event)}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.on(event, listener);
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
