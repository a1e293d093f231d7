/**
 * The monitor's guards around its store: a `store` option is checked at construction, the
 * table is bounded by the store's capacity, writes that throw keep the monitor serving
 * from memory, and faults and refusals are reported throttled (`StoreError`,
 * `StoreFullError`): the first at once, then a count per interval.
 * @module
 */
import { StoreError, StoreFullError } from '../errors.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { DropReporter } from './drop-reporter.js';
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

/** Writes the monitor's records to its store and reports what goes wrong. @internal */
export class StoreWriter {
  /** Store failures (a throwing put/delete), reported like drops. */
  private readonly faults: DropReporter;
  private lastFault: { readonly cause: unknown; readonly action: 'put' | 'delete' } | undefined;
  /** New servers refused because the store is full. */
  private readonly full: DropReporter;
  /** Most entries the table holds, also when the store throws instead of refusing. */
  private readonly bound: number;

  /**
   * @param store - the monitor's store
   * @param reportInterval - least ms between two reports of one kind
   * @param monotonic - the monitor's monotonic clock
   * @param tableSize - servers in the table now
   * @param report - emits an `error`
   */
  constructor(
    private readonly store: HeartbeatStore,
    reportInterval: number,
    monotonic: () => number,
    tableSize: () => number,
    report: (error: Error) => void,
  ) {
    this.bound = storeBound(store);
    this.faults = new DropReporter(reportInterval, monotonic, ({ dropped, lastDropped }) => {
      const times = dropped === 1 ? '' : ` (${dropped} failures since the last report, last for ${lastDropped})`;
      report(asStoreError(this.lastFault?.cause, `${this.lastFault?.action ?? 'put'}${times}`));
    });
    this.full = new DropReporter(reportInterval, monotonic, ({ dropped, lastDropped }) => {
      report(new StoreFullError(store.maxServers ?? tableSize(), dropped, lastDropped));
    });
  }

  /**
   * Write a server's record.
   * @param known - the server is in the table already
   * @param tableSize - servers in the table now
   * @returns whether the server may be in the table: the store took it or, when the store
   * threw, the server is known or the table has room within the store's bound
   */
  put(record: ServerStatus, key: string, known: boolean, tableSize: number): boolean {
    try {
      return this.store.put(record, key) || known;
    } catch (cause) {
      // A faulty store must not make us forget servers: keep serving from memory, within
      // the table's bound, and report the faults throttled like drops.
      this.lastFault = { cause, action: 'put' };
      this.faults.drop(key);
      return known || tableSize < this.bound;
    }
  }

  /** Rewrite a known server's record now (its administrative state changed); a fault is reported at once. */
  rewrite(record: ServerStatus, key: string, report: (error: Error) => void): void {
    try {
      this.store.put(record, key);
    } catch (cause) {
      report(asStoreError(cause, 'put'));
    }
  }

  /** A new server was refused because the store is full. */
  refused(key: string): void {
    this.full.drop(key);
  }

  /** A server left the table. */
  delete(key: string): void {
    try {
      this.store.delete(key);
    } catch (cause) {
      this.lastFault = { cause, action: 'delete' };
      this.faults.drop(key);
    }
  }

  /** Report what is pending once its interval has passed (the monitor's sweep). */
  tick(): void {
    this.full.tick();
    this.faults.tick();
  }
}
