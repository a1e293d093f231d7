/**
 * The opt-in balancing options (the `balancing` preset, slow start, in-flight correction,
 * pick mode, what to do when every server is busy, shared pools, failure feedback,
 * no-fresh-server policy), their defaults and their validation. Every default keeps
 * Apache's lbmethod=heartbeat behaviour (SPEC 1.8).
 * @module
 */
import { expectBoolean, expectInteger, expectNumber, expectObject, expectOneOf } from '../validate.js';

/** Envoy-style slow start: a (re)joining server ramps up to its full weight. */
export interface SlowStartOptions {
  /** Length of the ramp in ms. */
  readonly window: number;
  /**
   * Shape of the ramp: 1 is linear; larger values give more traffic early
   * (weight × (elapsed / window)^(1 / aggression)).
   * @default 1
   */
  readonly aggression?: number;
  /**
   * Least share of its full weight a ramping server gets, in percent.
   * @default 10
   */
  readonly minWeightPercent?: number;
}

/** How long a failed server stays out of rotation. */
export interface FailureOptions {
  /**
   * First time out of rotation, in ms (mod_proxy's `retry`).
   * @default 60000
   */
  readonly retryAfter?: number;
  /**
   * Cap of the exponential backoff (each consecutive trip doubles the time out), in ms.
   * @default 600000
   */
  readonly maxRetryAfter?: number;
  /**
   * Consecutive failures that take a server out of rotation.
   * @default 1
   */
  readonly threshold?: number;
}

/** How a backend is chosen among the fresh ones. */
export type PickMode = 'weighted' | 'p2c';

/** What a pick does when no fresh server has weight. */
export type NoFreshServerPolicy = 'fail' | 'last-known' | 'round-robin';

/**
 * What a pick does when fresh servers exist but every one's (corrected) weight is 0:
 * `'refuse'` returns undefined (Apache's 503); `'most-headroom'` takes the server with the
 * most corrected ready workers relative to its capacity (`ready + busy`).
 */
export type WhenAllBusyPolicy = 'refuse' | 'most-headroom';

/**
 * A named preset of the balancing options. `'apache'`: lbmethod=heartbeat exactly (every
 * option at its default). `'adaptive'`: `inFlightCorrection` and
 * `whenAllBusy: 'most-headroom'` with the proportional draw — for proxies not bound to
 * Apache's picks (docs/balancing.md has the figures behind that choice).
 */
export type BalancingMode = 'apache' | 'adaptive';

/** Accepted values of the `balancing` option. */
export const BALANCING_MODES: readonly BalancingMode[] = ['apache', 'adaptive'];

/** The balancing options of {@link HeartMonitorOptions}; all opt-in. */
export interface BalancingOptions {
  /**
   * A preset for the options below: `'apache'` (each at its default, Apache's rule) or
   * `'adaptive'` (`inFlightCorrection: true`, `whenAllBusy: 'most-headroom'`,
   * `pickMode: 'weighted'`). An option given explicitly overrides the preset.
   * @default 'apache'
   */
  readonly balancing?: BalancingMode;
  /** Ramp new and returning servers up over a window. Off by default (Apache). */
  readonly slowStart?: SlowStartOptions | undefined;
  /**
   * Correct the ready count a server reported by this process's own requests since that
   * report: minus each lease opened since, plus each lease released since (whenever it was
   * opened), kept within 0..`ready + busy` (see `acquire()`).
   * @default false
   */
  readonly inFlightCorrection?: boolean;
  /**
   * `'weighted'`: exactly proportional draw (Apache). `'p2c'`: two proportional draws,
   * the one with the larger (corrected) weight wins.
   * @default 'weighted'
   */
  readonly pickMode?: PickMode;
  /**
   * When fresh servers exist but all have (corrected) weight 0: `'refuse'` returns
   * undefined (Apache's 503); `'most-headroom'` picks the server with the most corrected
   * ready workers relative to its capacity (`ready + busy`), so requests queue where the
   * queue is shortest instead of being refused while origins are alive.
   * @default 'refuse'
   */
  readonly whenAllBusy?: WhenAllBusyPolicy;
  /**
   * How many proxies (processes, workers) balance over this pool, each with its own
   * leases. With `inFlightCorrection`, each counts `1 / proxies` of a report's ready
   * workers as its own, so N proxies do not all spend the same idle workers between two
   * heartbeats. 1 counts the whole report.
   * @default 1
   */
  readonly proxies?: number;
  /** Time out of rotation after `markFailed()` / `release({ failed: true })`. */
  readonly failure?: FailureOptions | undefined;
  /**
   * When no fresh server has weight: `'fail'` returns undefined (Apache's 503),
   * `'last-known'` draws by the last weights of servers not yet expired,
   * `'round-robin'` rotates over known servers.
   * @default 'fail'
   */
  readonly noFreshServer?: NoFreshServerPolicy;
}

/** Slow start after defaults. @internal */
export interface ResolvedSlowStart {
  readonly window: number;
  readonly aggression: number;
  readonly minWeightPercent: number;
}

/** Balancing options after defaults and validation. @internal */
export interface ResolvedBalancingOptions {
  readonly slowStart: ResolvedSlowStart | undefined;
  readonly inFlightCorrection: boolean;
  readonly pickMode: PickMode;
  readonly whenAllBusy: WhenAllBusyPolicy;
  readonly proxies: number;
  readonly failure: Required<FailureOptions>;
  readonly noFreshServer: NoFreshServerPolicy;
}

/** What each preset sets; explicit options override it. */
const PRESETS: Readonly<Record<BalancingMode, { readonly inFlightCorrection: boolean; readonly pickMode: PickMode; readonly whenAllBusy: WhenAllBusyPolicy }>> = {
  apache: { inFlightCorrection: false, pickMode: 'weighted', whenAllBusy: 'refuse' },
  // Weighted, not p2c: with exact accounting p2c's latency was no better in the queue
  // simulation and its shares drifted 3–4 points towards large servers at 60 % load.
  adaptive: { inFlightCorrection: true, pickMode: 'weighted', whenAllBusy: 'most-headroom' },
};

/** Far beyond any real deployment; keeps a report's share from vanishing into rounding. */
const MAX_PROXIES = 10_000;

/** mod_proxy's default `retry` is 60 s. */
export const DEFAULT_RETRY_AFTER = 60_000;
/** Backoff cap: ten minutes. */
export const DEFAULT_MAX_RETRY_AFTER = 600_000;

/** Defaults of what the presets leave alone: Apache's behaviour, or off. */
const DEFAULTS = {
  balancing: 'apache',
  proxies: 1,
  noFreshServer: 'fail',
  slowStart: { aggression: 1, minWeightPercent: 10 },
  failure: { retryAfter: DEFAULT_RETRY_AFTER, maxRetryAfter: DEFAULT_MAX_RETRY_AFTER, threshold: 1 },
} as const;

/**
 * Apply defaults and validate; throws TypeError/RangeError naming the option.
 * @internal
 */
export function resolveBalancingOptions(options: BalancingOptions): ResolvedBalancingOptions {
  expectObject('options', options);
  const mode = expectOneOf('balancing', options.balancing === undefined ? DEFAULTS.balancing : options.balancing, BALANCING_MODES);
  const preset = PRESETS[mode];
  return {
    slowStart: options.slowStart === undefined ? undefined : resolveSlowStart(options.slowStart),
    // `=== undefined`, not `??`: a null is a mistake to report, not a request for the default.
    inFlightCorrection: expectBoolean('inFlightCorrection', options.inFlightCorrection === undefined ? preset.inFlightCorrection : options.inFlightCorrection),
    pickMode: expectOneOf('pickMode', options.pickMode === undefined ? preset.pickMode : options.pickMode, ['weighted', 'p2c'] as const),
    whenAllBusy: expectOneOf('whenAllBusy', options.whenAllBusy === undefined ? preset.whenAllBusy : options.whenAllBusy, ['refuse', 'most-headroom'] as const),
    proxies: expectInteger('proxies', options.proxies === undefined ? DEFAULTS.proxies : options.proxies, 1, MAX_PROXIES),
    failure: resolveFailure(options.failure === undefined ? {} : options.failure),
    noFreshServer: expectOneOf('noFreshServer', options.noFreshServer === undefined ? DEFAULTS.noFreshServer : options.noFreshServer, ['fail', 'last-known', 'round-robin'] as const),
  };
}

function resolveSlowStart(slowStart: SlowStartOptions): ResolvedSlowStart {
  expectObject('slowStart', slowStart);
  const window = expectNumber('slowStart.window', slowStart.window, 1);
  const aggression = expectNumber('slowStart.aggression', slowStart.aggression ?? DEFAULTS.slowStart.aggression, Number.MIN_VALUE);
  const minWeightPercent = expectNumber('slowStart.minWeightPercent', slowStart.minWeightPercent ?? DEFAULTS.slowStart.minWeightPercent, 0, 100);
  return { window, aggression, minWeightPercent };
}

function resolveFailure(failure: FailureOptions): Required<FailureOptions> {
  expectObject('failure', failure);
  const retryAfter = expectInteger('failure.retryAfter', failure.retryAfter ?? DEFAULTS.failure.retryAfter, 1);
  const maxRetryAfter = expectInteger('failure.maxRetryAfter', failure.maxRetryAfter ?? Math.max(retryAfter, DEFAULTS.failure.maxRetryAfter), retryAfter);
  const threshold = expectInteger('failure.threshold', failure.threshold ?? DEFAULTS.failure.threshold, 1);
  return { retryAfter, maxRetryAfter, threshold };
}

