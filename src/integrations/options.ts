/**
 * The options every proxy integration shares (undici dispatcher, fastify plugin,
 * http-proxy handler): their defaults, written once, and their checks.
 * @module
 */
import type { BackendMember } from '../protocol/address.js';
import { expectBoolean, expectInteger, expectObject, show } from '../validate.js';
import type { LeasingView } from './view.js';

/** Default of the `retries` option of every integration. */
export const DEFAULT_DISPATCHER_RETRIES = 2;
/** Seconds a proxy suggests in `Retry-After` when no member can be picked. */
export const DEFAULT_NO_MEMBER_RETRY_AFTER = 1;

/** Options shared by the integrations (each documents them for its own case). */
export interface ProxyOptions {
  /** Count a 5xx answer as a failure of the server. */
  readonly failOn5xx?: boolean;
  /** How many more members a request that never reached an origin may try. */
  readonly retries?: number;
  /** Seconds suggested in `Retry-After` with a 503. */
  readonly retryAfter?: number;
}

/** Every integration's defaults, in one block. */
const DEFAULTS: Required<ProxyOptions> = {
  failOn5xx: true,
  retries: DEFAULT_DISPATCHER_RETRIES,
  retryAfter: DEFAULT_NO_MEMBER_RETRY_AFTER,
};

/**
 * Apply the defaults and check the shared options; throws TypeError/RangeError naming the option.
 * @internal
 */
export function resolveProxyOptions(options: ProxyOptions): Required<ProxyOptions> {
  expectObject('options', options);
  return {
    failOn5xx: expectBoolean('failOn5xx', options.failOn5xx ?? DEFAULTS.failOn5xx),
    retries: expectInteger('retries', options.retries ?? DEFAULTS.retries, 0),
    retryAfter: expectInteger('retryAfter', options.retryAfter ?? DEFAULTS.retryAfter, 0),
  };
}

/**
 * Check what an integration balances through: a view with `acquire()`, and `members` as
 * an array (or undefined for every live server).
 * @internal
 */
export function expectBalancingTarget(view: LeasingView, members: readonly BackendMember[] | undefined): void {
  if (typeof (view as Partial<LeasingView> | null | undefined)?.acquire !== 'function') {
    throw new TypeError(`Expected \`view\` to be a HeartMonitor or a view of its table (with acquire()), got ${show(view)}`);
  }
  if (members !== undefined && !Array.isArray(members)) {
    throw new TypeError(`Expected \`members\` to be an array of members, or undefined for every live server, got ${show(members)}`);
  }
}
