/**
 * The one switch for "our recommended mode" in the load bench: the balancing options the
 * node proxy runs with when it is not bound to Apache's rule. Change it here and every
 * recommended-mode cell follows.
 */
import type { HeartMonitorOptions } from '../../src/index.js';

/**
 * Balancing options of the recommended mode for a proxy that is one of `proxies` side by
 * side over the same pool (each sees only its own requests): the `'adaptive'` preset, told
 * how many proxies share the pool.
 */
export function recommendedOptions(proxies: number): Partial<HeartMonitorOptions> {
  return { balancing: 'adaptive', proxies };
}

/** How the recommended mode is described in tables. */
export const RECOMMENDED_LABEL = "balancing: 'adaptive', proxies: N";
