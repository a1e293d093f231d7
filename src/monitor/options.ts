/**
 * The options of {@link HeartMonitor}, their defaults (Apache's, SPEC 1.4–1.5) and their
 * validation, kept apart from the monitor's runtime logic.
 * @module
 */
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { isIpLiteral, parseSocketAddress, type SocketAddress } from '../protocol/address.js';
import { resolveBalancingOptions, type BalancingOptions, type ResolvedBalancingOptions } from '../balancer/options.js';
import { createSourceFilter, type AllowOption, type SourceFilter } from './allowlist.js';
import { systemClock, type Clock } from '../clock.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/heartbeat.js';
import { DEFAULT_MAX_SKEW, normalizeSecrets, type HeartbeatSecrets } from '../protocol/signature.js';
import type { KeyBy } from '../protocol/server-status.js';
import { FileStore } from '../stores/file-store.js';
import { SlotStore, type FailureSharing } from '../stores/slot-store.js';
import type { HeartbeatStore } from '../stores/store.js';
import { resolveTableSettings } from '../table/settings.js';
import { expectClock, expectDelay, expectFunction, expectInteger, expectObject, expectOneOf, expectString, show } from '../validate.js';

/** Options of {@link HeartMonitor}. Every one is optional; see {@link BalancingOptions} for the balancing ones. */
export interface HeartMonitorOptions extends BalancingOptions {
  /**
   * `HeartbeatListen`: where to receive heartbeats, `addr:port`. A multicast group
   * (`239.0.0.1:27999`, `[ff15::1]:27999`) is joined; a unicast address is bound.
   * Without it the monitor is fed through `ingest()` and `httpHandler()` only.
   */
  readonly listen?: string | undefined;
  /**
   * Local interface for the multicast membership: an IPv4 address, or for IPv6 an
   * interface name (`lo`) or scoped address (`::%lo`). The OS chooses when omitted.
   */
  readonly interface?: string | undefined;
  /**
   * `HeartbeatMaxServers`: 0 selects file storage at `storage`; 10 or more selects that
   * many shared slots. 1..9 is an error, as in Apache.
   * @default 10
   */
  readonly maxServers?: number;
  /**
   * `HeartbeatStorage`: path of the hb.dat file used when `maxServers` is 0.
   * @default 'logs/hb.dat'
   */
  readonly storage?: string;
  /**
   * Directory a relative `storage` path resolves against.
   * @default process.cwd()
   */
  readonly root?: string;
  /**
   * An explicit store; overrides `maxServers` and `storage`. The monitor hands it its
   * settings (`staleAfter`, `expireAfter`, `warmupDivisor`, `keyBy`, `failures`), so the
   * store's readers balance as the monitor does; a store built with a different value of
   * one of them makes this constructor throw a RangeError naming it.
   */
  readonly store?: HeartbeatStore | undefined;
  /**
   * Failure state of the views of the monitor's SlotStore: `'local'` (each view keeps its
   * own, as each Apache child does) or `'shared'`: when the failures seen by one view (or
   * by the monitor) take a server out of rotation, every view and the monitor take it out
   * until the same moment. `'shared'` needs a store that shares failures: the SlotStore
   * `maxServers` ≥ 10 makes, or a `store` that is a SlotStore.
   * @default 'local' (or the `store`'s own `failures` option)
   */
  readonly failures?: FailureSharing | undefined;
  /**
   * How often the store is flushed (written), in ms.
   * @default 5000
   */
  readonly flushInterval?: number;
  /**
   * A server not heard from for this many ms is no longer picked (`stale` event).
   * @default 10000
   */
  readonly staleAfter?: number;
  /**
   * A server not heard from for this many ms is removed (`remove` event).
   * @default 30000
   */
  readonly expireAfter?: number;
  /**
   * Longer messages are malformed (Apache truncates at its 1000-byte buffer).
   * @default 1000
   */
  readonly maxMessageBytes?: number;
  /**
   * Server identity: source IP (Apache) or source IP plus advertised port.
   * @default 'ip'
   */
  readonly keyBy?: KeyBy;
  /**
   * Divisor of the warm-up rule (busy = 0 → ready / divisor); 1 turns it off.
   * @default 4
   */
  readonly warmupDivisor?: number;
  /**
   * Socket receive buffer in bytes, so bursts from large pools are not dropped by the
   * kernel (capped by the OS, e.g. net.core.rmem_max, unless the process may exceed it).
   * @default 4194304
   */
  readonly recvBufferSize?: number;
  /**
   * Least time between two "store full" error reports, in ms.
   * @default 5000
   */
  readonly reportInterval?: number;
  /**
   * Uniform random numbers in [0, 1) for picks (inject a seeded one in tests).
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * Wall and monotonic clocks (inject a fake one in tests).
   * @default systemClock
   */
  readonly clock?: Clock;
  /**
   * Sources allowed to announce servers: CIDR ranges and single IPs (`'10.0.0.0/8'`,
   * `'fd00::/8'`, `'127.0.0.1'`) or a `net.BlockList`. Datagrams, `ingest()` calls and HTTP
   * bodies from anywhere else are refused (`rejected` event, `stats().rejected`) and never
   * stored. Every source is allowed when omitted.
   */
  readonly allow?: AllowOption | undefined;
  /**
   * Shared secret (or a list, to rotate keys): heartbeats must then be signed
   * (`&ts=<ms>&sig=<hmac>`, see `signHeartbeat`); unsigned, badly signed, too old or too
   * new, and replayed heartbeats are refused. Without it, signed heartbeats are accepted
   * like any other (the extra fields are ignored, as Apache ignores them).
   */
  readonly secret?: HeartbeatSecrets | undefined;
  /**
   * With `secret`: how far, in ms, a heartbeat's `ts` may lie from this monitor's wall clock
   * in either direction. At most `expireAfter`, so a replay cannot outlive the server's entry.
   * @default 10000
   */
  readonly maxSkew?: number;
}

/** Options after defaults and validation. @internal */
export interface ResolvedOptions {
  readonly listen: SocketAddress | undefined;
  readonly listenText: string | undefined;
  readonly interface: string | undefined;
  readonly maxServers: number;
  readonly storage: string;
  readonly root: string;
  readonly flushInterval: number;
  readonly staleAfter: number;
  readonly expireAfter: number;
  readonly maxMessageBytes: number;
  readonly keyBy: KeyBy;
  readonly warmupDivisor: number;
  readonly recvBufferSize: number;
  readonly reportInterval: number;
  readonly random: () => number;
  readonly clock: Clock;
  readonly balancing: ResolvedBalancingOptions;
  readonly sourceFilter: SourceFilter | undefined;
  readonly secrets: readonly Buffer[] | undefined;
  readonly maxSkew: number;
  /** The `failures` option, when given. */
  readonly failures: FailureSharing | undefined;
}

/** `HeartbeatStorage`'s default, relative to `root`. @internal */
export const DEFAULT_STORAGE = 'logs/hb.dat';

/** Apache's message for `HeartbeatMaxServers` 1..9. */
export const MAX_SERVERS_MESSAGE = 'HeartbeatMaxServers: Should be 0 for file storage, or greater or equal than 10 for slotmem';

/** The monitor's own defaults; the table settings' (staleAfter, expireAfter, warmupDivisor, keyBy) are `TABLE_DEFAULTS` (table-settings.ts). */
const defaults = {
  maxServers: 10,
  storage: DEFAULT_STORAGE,
  flushInterval: 5000,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  recvBufferSize: 4 * 1024 * 1024,
  reportInterval: 5000,
  maxSkew: DEFAULT_MAX_SKEW,
} as const;

/**
 * Apply defaults and validate; throws TypeError/RangeError naming the option.
 * @internal
 */
export function resolveOptions(options: HeartMonitorOptions): ResolvedOptions {
  expectObject('options', options);
  const merged = { ...defaults, ...withoutUndefined(options) };
  const listen = options.listen === undefined ? undefined : parseSocketAddress(options.listen, 'listen');
  const maxServers = expectInteger('maxServers', merged.maxServers, 0);
  if (maxServers > 0 && maxServers < 10) throw new RangeError(`${MAX_SERVERS_MESSAGE}, got \`maxServers\` ${maxServers}`);
  const table = resolveTableSettings(merged);
  const { expireAfter } = table;
  const secrets = options.secret === undefined ? undefined : normalizeSecrets(options.secret, 'secret');
  const maxSkew = expectInteger('maxSkew', merged.maxSkew, 0);
  if (secrets !== undefined && maxSkew > expireAfter) {
    throw new RangeError(`Expected \`maxSkew\` to be at most \`expireAfter\` (${expireAfter}) so replays cannot outlive a server's entry, got ${maxSkew}`);
  }
  return {
    listen,
    listenText: options.listen,
    interface: options.interface === undefined ? undefined : checkInterface(expectString('interface', options.interface), listen),
    maxServers,
    storage: expectString('storage', merged.storage),
    root: options.root === undefined ? process.cwd() : expectString('root', options.root),
    // A timer delay: refused beyond 2^31-1 ms rather than flushing in a loop (Node fires such a timer after 1 ms).
    flushInterval: expectDelay('flushInterval', merged.flushInterval),
    ...table,
    maxMessageBytes: expectInteger('maxMessageBytes', merged.maxMessageBytes, 1, 65507),
    recvBufferSize: expectInteger('recvBufferSize', merged.recvBufferSize, 0),
    reportInterval: expectInteger('reportInterval', merged.reportInterval, 0),
    random: options.random === undefined ? Math.random : expectFunction<() => number>('random', options.random),
    clock: options.clock === undefined ? systemClock : expectClock('clock', options.clock),
    balancing: resolveBalancingOptions(options),
    sourceFilter: options.allow === undefined ? undefined : createSourceFilter(options.allow, 'allow'),
    secrets,
    maxSkew,
    failures: options.failures === undefined ? undefined : expectOneOf('failures', options.failures, ['local', 'shared'] as const),
  };
}

/**
 * The store `maxServers`/`storage` select when no `store` is given (SPEC 1.5): 0 → a
 * FileStore at `storage` resolved against `root`; 10 or more → a SlotStore with that many
 * slots. Either takes the monitor's settings through `adoptSettings` afterwards, like a
 * `store` given explicitly.
 * @internal
 */
export function createDefaultStore(options: ResolvedOptions): HeartbeatStore {
  if (options.maxServers === 0) {
    return new FileStore({ path: resolve(options.root, options.storage), expireAfter: options.expireAfter, clock: options.clock });
  }
  return new SlotStore({ maxServers: options.maxServers });
}

/**
 * Hand the monitor's settings to its store (RangeError on an explicit conflict), and
 * check that `failures: 'shared'` has a store that shares failures.
 * @internal
 */
export function adoptMonitorSettings(store: HeartbeatStore, options: ResolvedOptions): void {
  const { staleAfter, expireAfter, warmupDivisor, keyBy, failures } = options;
  if (typeof store.adoptSettings === 'function') store.adoptSettings({ staleAfter, expireAfter, warmupDivisor, keyBy, failures });
  if (failures === 'shared' && !(store instanceof SlotStore)) {
    throw new RangeError(`Expected \`failures\` to be 'local' with this store (only a SlotStore shares failures between its views and the monitor), got 'shared'`);
  }
}

/**
 * The membership interface must be something the socket API takes: an IPv4 address for an
 * IPv4 group; for IPv6 an interface name (`lo`) or an IPv6 address with an optional zone.
 */
function checkInterface(value: string, listen: SocketAddress | undefined): string {
  const ipv4 = isIP(value) === 4;
  const ipv6 = isIpLiteral(value) && !ipv4;
  const name = /^[A-Za-z0-9._-]{1,15}$/.test(value) && !ipv4;
  const fits = listen === undefined ? ipv4 || ipv6 || name : listen.family === 4 ? ipv4 : ipv6 || name || value.startsWith('::%');
  if (!fits) {
    const expected = listen?.family === 6 ? 'an interface name (lo) or an IPv6 address' : listen?.family === 4 ? 'an IPv4 address' : 'an IP address or interface name';
    throw new TypeError(`Expected \`interface\` to be ${expected}, got ${show(value)}`);
  }
  return value;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
