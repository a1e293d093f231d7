/**
 * A full garbage collection on demand, for benches that must keep collections out of
 * what they time or measure.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Collect garbage fully (twice; exposes gc when the process was not started with --expose-gc). */
export function collectGarbage(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
}
