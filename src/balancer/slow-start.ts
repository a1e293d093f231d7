/**
 * The slow-start ramp (Envoy's shape): a server that joins or returns gets
 * `max(minWeightPercent / 100, (elapsed / window)^(1 / aggression))` of its weight.
 * @module
 */
import type { ResolvedSlowStart, SlowStartOptions } from './options.js';

/**
 * Share of its full weight a server gets `elapsed` ms into its ramp, in (0, 1].
 *
 * @param elapsed - ms since the ramp began
 * @param slowStart - window, aggression and minimum percent
 */
export function slowStartFactor(elapsed: number, slowStart: Required<SlowStartOptions>): number {
  if (elapsed >= slowStart.window) return 1;
  const timeFactor = Math.max(0, elapsed) / slowStart.window;
  return Math.max(slowStart.minWeightPercent / 100, timeFactor ** (1 / slowStart.aggression));
}

/** Where a ramp's start is kept for one server. */
export interface RampState {
  /** Monotonic time the current ramp began, while ramping. */
  rampSince: number | undefined;
}

/** Ramping weights are recomputed at most this many times per window. */
const RAMP_STEPS = 100;

/**
 * The servers currently in their ramp, so only they are recomputed as time passes
 * (never the whole table).
 * @internal
 */
export class SlowStartRamps<T> {
  private readonly ramping = new Set<T>();
  private readonly quantum: number;
  private lastStep = -Infinity;

  /**
   * @param slowStart - the resolved option (undefined: slow start is off)
   * @param stateOf - where an item keeps its ramp start
   * @param now - monotonic clock in ms
   */
  constructor(
    private readonly slowStart: ResolvedSlowStart | undefined,
    private readonly stateOf: (item: T) => RampState,
    private readonly now: () => number,
  ) {
    this.quantum = slowStart === undefined ? Infinity : slowStart.window / RAMP_STEPS;
  }

  /** Whether any item is ramping. */
  get active(): boolean {
    return this.ramping.size > 0;
  }

  /**
   * Begin (or restart) an item's ramp, now or from an earlier monotonic time `since` (a
   * time carried with the data, so every view ramps in step); a ramp from `since` that is
   * already over ends the item's ramp. Nothing when slow start is off.
   */
  start(item: T, since = this.now()): void {
    if (this.slowStart === undefined) return;
    if (this.now() - since >= this.slowStart.window) {
      this.stop(item);
      return;
    }
    this.stateOf(item).rampSince = since;
    this.ramping.add(item);
  }

  /** End an item's ramp at once (it failed or left the table). */
  stop(item: T): void {
    this.stateOf(item).rampSince = undefined;
    this.ramping.delete(item);
  }

  /** Ramp progress in [0, 1]; 1 when not ramping. */
  progress(item: T): number {
    const since = this.stateOf(item).rampSince;
    if (this.slowStart === undefined || since === undefined) return 1;
    return Math.min(1, (this.now() - since) / this.slowStart.window);
  }

  /** Share of its weight the item gets now (1 when not ramping). */
  factor(item: T): number {
    const since = this.stateOf(item).rampSince;
    return this.slowStart === undefined || since === undefined ? 1 : slowStartFactor(this.now() - since, this.slowStart);
  }

  /**
   * Call `update` for every ramping item when a step is due (or `force`), dropping the
   * ramps that have ended.
   */
  step(force: boolean, update: (item: T) => void): void {
    if (this.ramping.size === 0) return;
    const now = this.now();
    if (!force && now - this.lastStep < this.quantum) return;
    this.lastStep = now;
    for (const item of this.ramping) {
      if (this.progress(item) >= 1) this.stop(item);
      update(item);
    }
  }
}
