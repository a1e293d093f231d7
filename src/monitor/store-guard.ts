/**
 * The monitor's guards around its store: a `store` option is checked at construction, the
 * table is bounded by the store's capacity, and store faults become `StoreError`s.
 * @module
 */
import { StoreError } from '../errors.js';
import { DEFAULT_MEMORY_MAX_SERVERS } from '../stores/memory-store.js';
import type { HeartbeatStore } from '../stores/store.js';
import { show } from '../validate.js';

const STORE_METHODS = ['put', 'delete', 'servers', 'flush', 'close'] as const;

/**
 * A `store` option must have the interface's methods: checked at construction, not at the first heartbeat.
 * @internal
 */
export function checkStore(store: unknown): HeartbeatStore {
  const missing =
    typeof store !== 'object' || store === null ? [...STORE_METHODS] : STORE_METHODS.filter((name) => typeof (store as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) {
    throw new TypeError(`Expected \`store\` to be a HeartbeatStore (methods ${STORE_METHODS.join(', ')}), got ${show(store)} without ${missing.join(', ')}`);
  }
  const maxServers = (store as HeartbeatStore).maxServers;
  if (maxServers !== undefined && (typeof maxServers !== 'number' || !Number.isInteger(maxServers) || maxServers < 1)) {
    throw new RangeError(`Expected \`store.maxServers\` to be undefined or an integer >= 1, got ${show(maxServers)}`);
  }
  return store as HeartbeatStore;
}

/**
 * The table's bound: the store's capacity, else MemoryStore's default.
 * @internal
 */
export function storeBound(store: HeartbeatStore): number {
  return store.maxServers ?? DEFAULT_MEMORY_MAX_SERVERS;
}

/**
 * A store fault as the `error` event reports it.
 * @internal
 */
export function asStoreError(cause: unknown, action: string): Error {
  return cause instanceof StoreError ? cause : new StoreError(`Store ${action} failed`, { cause });
}
