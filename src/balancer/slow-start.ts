/**
 * The slow-start ramp (Envoy's shape): a server that joins or returns gets
 * `max(minWeightPercent / 100, (elapsed / window)^(1 / aggression))` of its weight.
 * @module
 */
import type { ResolvedSlowStart } from './options.js';

/**
 * Share of its full weight a server gets `elapsed` ms into its ramp, in (0, 1].
 *
 * @param elapsed - ms since the ramp began
 * @param slowStart - window, aggression and minimum percent
 */
export function slowStartFactor(elapsed: number, slowStart: ResolvedSlowStart): number {
  if (elapsed >= slowStart.window) return 1;
  const timeFactor = Math.max(0, elapsed) / slowStart.window;
  return Math.max(slowStart.minWeightPercent / 100, timeFactor ** (1 / slowStart.aggression));
}
