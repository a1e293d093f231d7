/**
 * The seam between the monitor and wherever the server table is shared or persisted.
 * @module
 */
import type { AdminState } from '../balancer/server-state.js';
import type { ServerStatus } from '../protocol/server-status.js';
import type { TableSettings } from '../table/settings.js';
import type { FailureSharing } from './slot-layout.js';

/** What a monitor hands its store: its table settings, and its `failures` option when given. */
export interface StoreSettings extends TableSettings {
  /** The monitor's `failures` option; undefined when it was not given. */
  readonly failures?: FailureSharing | undefined;
}

/**
 * Where a monitor keeps a shared copy of its server table (memory, an hb.dat file,
 * SharedArrayBuffer slots…). The monitor calls `put` for every accepted heartbeat,
 * `delete` when a server expires and `flush` every `flushInterval`.
 *
 * `key` identifies the server: its IP, or `ip:port` when the monitor keys by port too.
 * It defaults to `server.ip`, so `put(server)` / `delete(ip)` work for callers that key
 * by IP, as Apache does.
 */
export interface HeartbeatStore {
  /** Capacity in servers, when the store has one (named in "store full" errors). */
  readonly maxServers?: number | undefined;
  /**
   * Insert or replace a server's status.
   * @returns false when the server is new and the store is full (nothing was stored)
   */
  put(server: ServerStatus, key?: string): boolean;
  /**
   * Forget a server.
   * @returns whether it was there
   */
  delete(key: string): boolean;
  /** A snapshot of the stored servers. */
  servers(): ServerStatus[];
  /** Persist the current table (a no-op for stores without a backing medium). */
  flush(): Promise<void>;
  /** Final flush; releases timers and handles. The store may be used again afterwards. */
  close(): Promise<void>;
  /**
   * Optional: share an administrative state set on the monitor (`drain`, `disable`;
   * undefined for `enable`) with the store's readers. `key` is an `ip` or a server key.
   */
  setAdmin?(key: string, state: AdminState | undefined): void;
  /**
   * Optional: the monitor hands its settings over once, at construction, so a store whose
   * readers balance (SlotStore views, hb.dat readers) carries them to those readers: a
   * view then balances exactly as the monitor does without repeating its options.
   * @throws RangeError when the store was built with a different value of a setting (an
   * explicit conflict), naming the setting and both values
   */
  adoptSettings?(settings: StoreSettings): void;
}

/**
 * What a store that shares failure ejections between the monitor and its views offers
 * the monitor (a SlotStore made with `failures: 'shared'`).
 * @internal
 */
export interface SharedEjections {
  /** The monitor's failures took the server under `key` out of rotation until wall-clock time `until`. */
  publish(key: string, until: number): void;
  /**
   * Ejections views published since the last call, as `[key, until]` (wall-clock ms);
   * undefined when nothing was published since (one shared-memory load).
   */
  poll(): [key: string, until: number][] | undefined;
}

/** The store's shared ejections, when it has them. @internal */
export function sharedEjectionsOf(store: HeartbeatStore): SharedEjections | undefined {
  const candidate = (store as { readonly sharedEjections?: unknown }).sharedEjections;
  return typeof candidate === 'object' && candidate !== null ? (candidate as SharedEjections) : undefined;
}
