/**
 * The no-fresh-server policies: what a pick falls back to when no fresh server has
 * weight. The balancer gathers the candidates; this module only chooses among them.
 * @module
 */
import { drawWeighted, heartbeatWeight } from '../picking/selection.js';
import type { ServerStatus } from '../protocol/server-status.js';
import type { NoFreshServerPolicy } from './options.js';

/** A candidate of a fallback pick: anything carrying a server's last status. */
export interface FallbackCandidate {
  readonly entry: { readonly status: ServerStatus };
}

/** Chooses among stale-but-known servers, by policy. @internal */
export class FallbackPicker {
  private cursor = 0;

  /**
   * @param policy - `'last-known'` or `'round-robin'` (`'fail'` never reaches here)
   * @param random - uniform numbers in [0, 1)
   * @param warmupDivisor - Apache's busy = 0 rule, for last-known weights
   */
  constructor(
    readonly policy: Exclude<NoFreshServerPolicy, 'fail'>,
    private readonly random: () => number,
    private readonly warmupDivisor: number,
  ) {}

  /** The chosen candidate, or undefined when there is none (or none has weight). */
  choose<P extends FallbackCandidate>(candidates: readonly P[]): P | undefined {
    return this.policy === 'round-robin' ? this.roundRobin(candidates) : this.lastKnown(candidates);
  }

  private roundRobin<P>(candidates: readonly P[]): P | undefined {
    if (candidates.length === 0) return undefined;
    const chosen = candidates[this.cursor % candidates.length];
    this.cursor = (this.cursor + 1) % Number.MAX_SAFE_INTEGER;
    return chosen;
  }

  /** Exactly proportional to the weight of each server's last heartbeat. */
  private lastKnown<P extends FallbackCandidate>(candidates: readonly P[]): P | undefined {
    const weights = candidates.map(({ entry }) => heartbeatWeight(entry.status, this.warmupDivisor));
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    const chosen = drawWeighted(weights, weights.length, total, this.random);
    return chosen === undefined ? undefined : candidates[chosen];
  }
}
