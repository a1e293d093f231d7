/**
 * Apache's `lbmethod=heartbeat` (SPEC 1.8) as pure functions: the weight rule and an
 * exactly proportional weighted draw over a snapshot of servers.
 * @module
 */
import type { BackendMember } from '../protocol/address.js';
import { serverKey, type KeyBy, type ServerStatus } from '../protocol/server-status.js';
import { checkTableOverrides, DEFAULT_WARMUP_DIVISOR, TABLE_DEFAULTS } from '../table/settings.js';
import { heardWithin } from './freshness.js';
import { expectMembers, memberKey } from './member-key.js';
import { expectFunction } from '../validate.js';

/** Options of the pure {@link pickBackend}. */
export interface PickOptions {
  /**
   * Source of uniform numbers in [0, 1).
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * Current wall-clock time in ms since the epoch, or a function returning it.
   * @default Date.now
   */
  readonly now?: number | (() => number);
  /**
   * Servers whose last heartbeat is this many ms old or older are never picked.
   * @default 10000
   */
  readonly staleAfter?: number;
  /**
   * A server reporting busy = 0 gets `floor(ready / warmupDivisor)`; 1 turns the rule off.
   * @default 4
   */
  readonly warmupDivisor?: number;
  /**
   * How members are matched to servers: by IP (Apache) or by IP and port.
   * @default 'ip'
   */
  readonly keyBy?: KeyBy;
}

/**
 * The weight lbmethod=heartbeat gives a server: `ready`, or `floor(ready / divisor)` when
 * it reports busy = 0 (and ready > 0).
 *
 * @param server - the server's counts
 * @param warmupDivisor - divisor of the warm-up rule (4 in Apache)
 */
export function heartbeatWeight(server: Pick<ServerStatus, 'ready' | 'busy'>, warmupDivisor = DEFAULT_WARMUP_DIVISOR): number {
  return server.busy === 0 && server.ready > 0 ? Math.floor(server.ready / warmupDivisor) : server.ready;
}

/**
 * The weight a draw gives `server` at `now`: 0 while it is out of rotation (a `state` set
 * by the operator or by failure feedback, as `monitor.servers()` and views report it) or
 * stale, else its {@link heartbeatWeight}. The one rule every picker applies to a record.
 * @internal
 */
export function pickWeight(server: ServerStatus, now: number, staleAfter: number, warmupDivisor: number): number {
  if (server.state !== undefined || !heardWithin(server.lastSeen, now, staleAfter)) return 0;
  return heartbeatWeight(server, warmupDivisor);
}

/**
 * Draw an index in proportion to `weights` (integers); undefined when they sum to 0.
 * @internal
 */
export function drawWeighted(weights: ArrayLike<number>, count: number, total: number, random: () => number): number | undefined {
  if (total <= 0) return undefined;
  let target = Math.floor(random() * total);
  for (let i = 0; i < count; i++) {
    const weight = weights[i] ?? 0;
    if (target < weight) return i;
    target -= weight;
  }
  return undefined;
}

/**
 * Pick a server, in exact proportion to its heartbeat weight, among the fresh servers of
 * `servers` (a server with a `state` — draining, disabled or failed — is out of rotation).
 *
 * @param servers - a snapshot of the server table
 * @param members - omitted: choose among all servers
 * @param options - injectable random and clock, and the SPEC 1.8 parameters
 * @returns the chosen server, or undefined when no fresh server has weight
 */
export function pickBackend(servers: Iterable<ServerStatus>, members?: undefined, options?: PickOptions): ServerStatus | undefined;
/**
 * Pick one of `members` the way lbmethod=heartbeat does: members whose host matches no
 * known server are skipped, each other member weighs what its server weighs, stale
 * servers are skipped, and the draw is exactly proportional.
 *
 * @param servers - a snapshot of the server table
 * @param members - balancer members (URLs, `host:port` or `{ host, port }`)
 * @param options - injectable random and clock, and the SPEC 1.8 parameters
 * @returns the chosen member itself, or undefined when no member has weight (Apache: 503)
 */
export function pickBackend<M extends BackendMember>(servers: Iterable<ServerStatus>, members: readonly M[], options?: PickOptions): M | undefined;
export function pickBackend<M extends BackendMember>(
  servers: Iterable<ServerStatus>,
  members?: readonly M[],
  options: PickOptions = {},
): ServerStatus | M | undefined {
  expectMembers(members);
  const random = options.random === undefined ? Math.random : expectFunction<() => number>('random', options.random);
  const now = typeof options.now === 'function' ? options.now() : (options.now ?? Date.now());
  const given = checkTableOverrides({ staleAfter: options.staleAfter, warmupDivisor: options.warmupDivisor, keyBy: options.keyBy });
  const { staleAfter, warmupDivisor: divisor, keyBy } = { ...TABLE_DEFAULTS, ...given };
  const weightOf = (server: ServerStatus): number => pickWeight(server, now, staleAfter, divisor);

  if (members === undefined) {
    const candidates = [...servers];
    const weights = candidates.map(weightOf);
    const chosen = drawWeighted(weights, weights.length, sum(weights), random);
    return chosen === undefined ? undefined : candidates[chosen];
  }
  const byKey = new Map<string, ServerStatus>();
  for (const server of servers) byKey.set(serverKey(server.ip, server.port, keyBy), server);
  const weights = members.map((member) => {
    const server = byKey.get(memberKey(member, keyBy));
    return server === undefined ? 0 : weightOf(server);
  });
  const chosen = drawWeighted(weights, weights.length, sum(weights), random);
  return chosen === undefined ? undefined : members[chosen];
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
