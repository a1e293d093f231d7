/**
 * The simplest store: a bounded Map in this process.
 * @module
 */
import { expectInteger } from '../validate.js';
import type { ServerStatus } from '../protocol/server-status.js';
import type { HeartbeatStore } from './store.js';

/**
 * Default bound of {@link MemoryStore}: far above any real pool (Apache's own default is
 * 10 slots), small enough that a flood of spoofed source addresses holds at most ~10,000
 * entries (a few MB) however many sources it uses.
 */
export const DEFAULT_MEMORY_MAX_SERVERS = 10_000;

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most servers held at once; heartbeats of further new servers are refused.
   * @default 10000
   */
  readonly maxServers?: number;
}

/** Keeps servers in a Map in this process; nothing to flush. */
export class MemoryStore implements HeartbeatStore {
  /** Capacity in servers. */
  readonly maxServers: number;
  private readonly table = new Map<string, ServerStatus>();

  /** @param options - capacity */
  constructor(options: MemoryStoreOptions = {}) {
    this.maxServers = expectInteger('maxServers', options.maxServers ?? DEFAULT_MEMORY_MAX_SERVERS, 1);
  }

  /** Number of servers held. */
  get size(): number {
    return this.table.size;
  }

  /** {@inheritDoc HeartbeatStore.put} */
  put(server: ServerStatus, key: string = server.ip): boolean {
    // Size first: below the bound (the usual case) one map operation per heartbeat.
    if (this.table.size >= this.maxServers && !this.table.has(key)) return false;
    this.table.set(key, server);
    return true;
  }

  /** {@inheritDoc HeartbeatStore.delete} */
  delete(key: string): boolean {
    return this.table.delete(key);
  }

  /** {@inheritDoc HeartbeatStore.servers} */
  servers(): ServerStatus[] {
    return [...this.table.values()];
  }

  /** Nothing to persist. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
