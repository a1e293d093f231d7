/**
 * SlotStore: a fixed number of server slots in a SharedArrayBuffer (the analog of Apache's
 * mod_slotmem_shm, SPEC 1.7), written by the monitor and read by any number of worker
 * threads through {@link SlotStore.attach}.
 * @module
 */
import { StoreError } from '../errors.js';
import type { KeyBy, ServerStatus } from '../protocol/server-status.js';
import { checkTableOverrides, checkSameSettings, resolveTableSettings, sameTableSettings, type TableSettings } from '../table/settings.js';
import { expectInteger, expectObject, expectOneOf, show } from '../validate.js';
import {
  bufferBytes,
  ejectionCount,
  encodeAddress,
  MAX_ADDRESS_BYTES,
  publishEjection,
  readEjection,
  slotOccupant,
  writeHeader,
  writeSettings,
  writeSlot,
  type FailureSharing,
  type SlotStoreSettings,
  type SlotHeader,
} from './slot-layout.js';
import type { HeartbeatStore, SharedEjections, StoreSettings } from './store.js';
import { SlotStoreView, type SlotStoreViewOptions } from '../views/slot-store-view.js';

export { SLOT_BYTES, type FailureSharing, type SlotStoreSettings } from './slot-layout.js';
export { SlotStoreView, type SlotStoreViewOptions } from '../views/slot-store-view.js';

/** Apache's default `HeartbeatMaxServers`. */
export const DEFAULT_SLOT_COUNT = 10;

/**
 * Options of {@link SlotStore}. Besides the slot count they hold the selection settings
 * every attached view uses, so a worker needs nothing but the buffer to pick the way the
 * monitor does. A {@link HeartMonitor} given the store writes its own settings into it
 * (views already attached pick them up), so these are only needed for a store used
 * without a monitor; one given here that differs from the monitor's makes the monitor's
 * constructor throw.
 */
export interface SlotStoreOptions {
  /**
   * Number of slots (`HeartbeatMaxServers`); heartbeats of new servers are refused when
   * every slot is taken.
   * @default 10
   */
  readonly maxServers?: number;
  /**
   * Views never pick servers whose last heartbeat is this many ms old.
   * @default 10000
   */
  readonly staleAfter?: number;
  /**
   * Views leave out servers whose last heartbeat is this many ms old (the monitor also
   * frees their slots).
   * @default 30000
   */
  readonly expireAfter?: number;
  /**
   * Warm-up divisor of the weight rule (busy = 0 → ready / divisor).
   * @default 4
   */
  readonly warmupDivisor?: number;
  /**
   * How views match members to servers: by IP (Apache) or by IP and port.
   * @default 'ip'
   */
  readonly keyBy?: KeyBy;
  /**
   * Failure state of the views: `'local'` (each view keeps its own, as each Apache child
   * keeps its own worker state) or `'shared'`: when one view's failures (`markFailed`,
   * `release({ failed: true })`) take a server out of rotation, every view of this store
   * and the monitor take it out until the same moment. A view may override it.
   * @default 'local'
   */
  readonly failures?: FailureSharing;
}

interface Held {
  readonly slot: number;
  status: ServerStatus;
  /** `status.ip` encoded, kept because a key's address rarely changes. */
  address: Uint8Array;
}

/**
 * Keeps up to `maxServers` servers in a SharedArrayBuffer. The monitor (one thread) writes;
 * worker threads read through {@link SlotStore.attach} without locks. Each slot carries a
 * sequence counter (a seqlock): the writer makes it odd while it writes and even again
 * after, and a reader retries until it saw the same even value before and after reading,
 * so no reader ever sees a slot half-written. Writes are visible to readers at once; there
 * is nothing to flush.
 *
 * @example
 * ```ts
 * const store = new SlotStore({ maxServers: 64 });
 * const monitor = new HeartMonitor({ listen: '239.0.0.1:27999', store });
 * new Worker('./proxy.js', { workerData: store.buffer });
 * // in the worker:
 * const view = SlotStore.attach(workerData);
 * const target = view.pickBackend(['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
 * ```
 */
export class SlotStore implements HeartbeatStore {
  /** The shared memory: hand it to workers (`workerData`, `postMessage`). */
  readonly buffer: SharedArrayBuffer;
  /** Number of slots. */
  readonly maxServers: number;
  private readonly words: Int32Array;
  private readonly held = new Map<string, Held>();
  private readonly freeSlots: number[];
  /**
   * With `failures: 'shared'`: how the monitor publishes its ejections into the slots and
   * learns those of the views. @internal
   */
  sharedEjections: SharedEjections | undefined;
  /** The settings in the header now. */
  private current: SlotStoreSettings;
  /** The settings given to the constructor or adopted from a monitor: a monitor must agree with these. */
  private fixed: Partial<TableSettings>;
  private fixedFailures: FailureSharing | undefined;

  /** @param options - slot count and view settings; invalid values throw TypeError/RangeError */
  constructor(options: SlotStoreOptions = {}) {
    expectObject('options', options);
    this.maxServers = expectInteger('maxServers', options.maxServers ?? DEFAULT_SLOT_COUNT, 1, 1_000_000);
    this.fixedFailures = options.failures === undefined ? undefined : expectOneOf('failures', options.failures, ['local', 'shared'] as const);
    const header: SlotHeader = {
      maxServers: this.maxServers,
      ...resolveTableSettings(options),
      failures: this.fixedFailures ?? 'local',
    };
    this.fixed = checkTableOverrides(options);
    this.current = header;
    this.buffer = new SharedArrayBuffer(bufferBytes(this.maxServers));
    this.words = new Int32Array(this.buffer);
    writeHeader(this.words, header);
    // Popped from the end: slot 0 is handed out first.
    this.freeSlots = Array.from({ length: this.maxServers }, (_, i) => this.maxServers - 1 - i);
    this.sharedEjections = header.failures === 'shared' ? this.ejectionSharing() : undefined;
  }

  private ejectionSharing(): SharedEjections {
    const big = new BigInt64Array(this.buffer);
    let seen = ejectionCount(this.words);
    return {
      publish: (key, until) => {
        const held = this.held.get(key);
        if (held !== undefined) publishEjection(this.words, big, held.slot, slotOccupant(this.words, held.slot), until);
      },
      poll: () => {
        const count = ejectionCount(this.words);
        if (count === seen) return undefined;
        seen = count;
        const ejected: [string, number][] = [];
        for (const [key, held] of this.held) {
          const until = readEjection(big, held.slot, slotOccupant(this.words, held.slot));
          if (until !== undefined) ejected.push([key, until]);
        }
        return ejected;
      },
    };
  }

  /** The settings the store's views read from its header now (the monitor's, once a monitor adopted the store). */
  get settings(): SlotStoreSettings {
    return this.current;
  }

  /**
   * Take the monitor's settings (`HeartMonitor` calls it at construction): write them
   * into the header, where every view reads them (views attached earlier pick them up at
   * their next read), and share failures when the monitor asks for it. A setting given
   * to this store's constructor, or adopted from another monitor, must agree.
   * @throws RangeError naming the setting that differs and both values
   */
  adoptSettings(settings: StoreSettings): void {
    checkSameSettings('SlotStore', this.fixed, settings);
    const failures = settings.failures ?? this.fixedFailures ?? this.current.failures;
    if (this.fixedFailures !== undefined && failures !== this.fixedFailures) {
      throw new RangeError(
        `Expected the SlotStore's \`failures\` (${JSON.stringify(this.fixedFailures)}) to match the monitor's \`failures\` (${JSON.stringify(failures)}): give it once, to the HeartMonitor`,
      );
    }
    const { staleAfter, expireAfter, warmupDivisor, keyBy } = settings;
    this.fixed = { staleAfter, expireAfter, warmupDivisor, keyBy };
    if (settings.failures !== undefined) this.fixedFailures = settings.failures;
    const next: SlotStoreSettings = { staleAfter, expireAfter, warmupDivisor, keyBy, failures };
    if (sameTableSettings(next, this.current) && next.failures === this.current.failures) return;
    this.current = next;
    writeSettings(this.words, next);
    if (failures === 'shared') this.sharedEjections ??= this.ejectionSharing();
  }

  /**
   * A read-only view of a SlotStore's buffer, for a worker thread (or the owner's own
   * thread). Its settings come from the buffer's header unless overridden.
   *
   * @param buffer - `store.buffer`, as received by the worker
   * @param options - per-view random, clock and selection overrides
   * @throws TypeError when `buffer` is not a SlotStore buffer
   */
  static attach(buffer: SharedArrayBuffer, options: SlotStoreViewOptions = {}): SlotStoreView {
    return new SlotStoreView(buffer, options);
  }

  /** Number of slots in use. */
  get size(): number {
    return this.held.size;
  }

  /**
   * {@inheritDoc HeartbeatStore.put}
   * @throws StoreError when the address is longer than a slot holds (64 bytes)
   */
  put(server: ServerStatus, key: string = server.ip): boolean {
    let held = this.held.get(key);
    // A held slot keeps its address bytes while the key's address stays the same (the usual case).
    const inPlace = held !== undefined && held.status.ip === server.ip;
    const address = inPlace ? held?.address : encodeAddress(server.ip);
    if (address === undefined) throw new StoreError(`Address ${show(server.ip)} is longer than the ${MAX_ADDRESS_BYTES} bytes a slot holds`);
    if (held === undefined) {
      const slot = this.freeSlots.pop();
      if (slot === undefined) return false;
      held = { slot, status: server, address };
      this.held.set(key, held);
    }
    held.status = server;
    held.address = address;
    writeSlot(this.words, held.slot, server, address, inPlace);
    return true;
  }

  /** {@inheritDoc HeartbeatStore.delete} */
  delete(key: string): boolean {
    const held = this.held.get(key);
    if (held === undefined) return false;
    this.held.delete(key);
    writeSlot(this.words, held.slot, undefined, undefined);
    this.freeSlots.push(held.slot);
    return true;
  }

  /** {@inheritDoc HeartbeatStore.servers} */
  servers(): ServerStatus[] {
    const list: ServerStatus[] = [];
    for (const held of this.held.values()) list.push(held.status);
    return list;
  }

  /** Nothing to do: readers see every write at once. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to release: the buffer lives as long as someone holds it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
