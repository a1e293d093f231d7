/** Bounded waiting for conditions (never a fixed sleep where a condition exists). */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Poll `probe` every `intervalMs` until it returns a value other than undefined/false.
 * @throws Error naming `what` and the last probe error after `timeoutMs`
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

export { sleep };
