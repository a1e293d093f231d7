/**
 * SlotStore: a fixed number of server slots in a SharedArrayBuffer (the analog of Apache's
 * mod_slotmem_shm, SPEC 1.7), written by the monitor and read by any number of worker
 * threads through {@link SlotStore.attach}.
 * @module
 */
import type { BackendMember } from '../protocol/address.js';
import type { Clock } from '../clock.js';
import { StoreError } from '../errors.js';
import { DEFAULT_FILE_EXPIRE_AFTER } from './hb-file.js';
import { DEFAULT_STALE_AFTER, DEFAULT_WARMUP_DIVISOR, type PickOptions } from '../picking/selection.js';
import { SnapshotPicker, type SnapshotEdits } from '../picking/snapshot-picker.js';
import type { KeyBy, ServerStatus } from '../protocol/server-status.js';
import { expectFunction, expectInteger, expectNumber, expectOneOf, show } from '../validate.js';
import {
  bufferBytes,
  changedSlots,
  encodeAddress,
  generation,
  highWater,
  MAX_ADDRESS_BYTES,
  readHeader,
  readSlot,
  ringEntries,
  slotSequence,
  writeHeader,
  writeSlot,
  type SlotHeader,
} from './slot-layout.js';
import type { HeartbeatStore } from './store.js';

export { SLOT_BYTES } from './slot-layout.js';

/** Apache's default `HeartbeatMaxServers`. */
export const DEFAULT_SLOT_COUNT = 10;

/**
 * Options of {@link SlotStore}. Besides the slot count they hold the selection settings
 * every attached view uses, so a worker needs nothing but the buffer to pick the way the
 * monitor does.
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
}

/** Options of {@link SlotStore.attach}: per-view overrides of the selection settings. */
export interface SlotStoreViewOptions extends Omit<PickOptions, 'now'> {
  /**
   * Wall clock used to age servers (inject a fake one in tests).
   * @default Date.now
   */
  readonly clock?: Pick<Clock, 'now'>;
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

  /** @param options - slot count and view settings; invalid values throw TypeError/RangeError */
  constructor(options: SlotStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError(`Expected \`options\` to be an object, got ${show(options)}`);
    this.maxServers = expectInteger('maxServers', options.maxServers ?? DEFAULT_SLOT_COUNT, 1, 1_000_000);
    const header: SlotHeader = {
      maxServers: this.maxServers,
      staleAfter: expectNumber('staleAfter', options.staleAfter ?? DEFAULT_STALE_AFTER, 1),
      expireAfter: expectNumber('expireAfter', options.expireAfter ?? DEFAULT_FILE_EXPIRE_AFTER, 1),
      warmupDivisor: expectInteger('warmupDivisor', options.warmupDivisor ?? DEFAULT_WARMUP_DIVISOR, 1, 2 ** 31 - 1),
      keyBy: expectOneOf('keyBy', options.keyBy ?? 'ip', ['ip', 'ip:port'] as const),
    };
    this.buffer = new SharedArrayBuffer(bufferBytes(this.maxServers));
    this.words = new Int32Array(this.buffer);
    writeHeader(this.words, header);
    // Popped from the end: slot 0 is handed out first.
    this.freeSlots = Array.from({ length: this.maxServers }, (_, i) => this.maxServers - 1 - i);
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

/**
 * A read-only view of a {@link SlotStore}'s buffer, usually in a worker thread. It keeps a
 * snapshot that it updates only when the writer changed something: it replays the slots
 * the writer listed in the buffer's change ring since the view last looked, and scans
 * every slot only on its first look or when the writer lapped the ring meanwhile.
 */
export class SlotStoreView {
  /** Number of slots. */
  readonly maxServers: number;
  /** Settings read from the buffer's header, with this view's overrides applied. */
  readonly settings: Readonly<Required<Pick<PickOptions, 'staleAfter' | 'warmupDivisor' | 'keyBy'>>> & { readonly expireAfter: number };
  private readonly words: Int32Array;
  private readonly header: SlotHeader;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly pickOptions: PickOptions;
  private readonly picker: SnapshotPicker;
  private readonly sequences: Int32Array;
  /**
   * The server in each slot (undefined: free) up to the highest slot ever seen in use,
   * which is also the snapshot the picker indexes: positions are slots, so a server that
   * arrives or leaves is one position edited in place, never a rebuild of the snapshot.
   */
  private readonly records: (ServerStatus | undefined)[] = [];
  /** Scratch for the slot numbers read from the change ring. */
  private readonly changed: Int32Array;
  private snapshotGeneration: number | undefined;
  /** Slots overwritten since the last pick, for the picker. */
  private readonly edits = { positions: [] as number[], previous: [] as (ServerStatus | undefined)[] } satisfies SnapshotEdits;

  /**
   * @param buffer - `store.buffer`
   * @param options - per-view overrides
   */
  constructor(buffer: SharedArrayBuffer, options: SlotStoreViewOptions = {}) {
    const header = readHeader(buffer);
    this.maxServers = header.maxServers;
    this.header = header;
    this.words = new Int32Array(buffer);
    this.clock = options.clock ?? { now: Date.now };
    this.settings = {
      staleAfter: options.staleAfter === undefined ? header.staleAfter : expectNumber('staleAfter', options.staleAfter, 1),
      warmupDivisor: options.warmupDivisor === undefined ? header.warmupDivisor : expectInteger('warmupDivisor', options.warmupDivisor, 1),
      keyBy: options.keyBy === undefined ? header.keyBy : expectOneOf('keyBy', options.keyBy, ['ip', 'ip:port'] as const),
      expireAfter: header.expireAfter,
    };
    this.pickOptions = {
      ...this.settings,
      random: options.random === undefined ? Math.random : expectFunction<() => number>('random', options.random),
      now: () => this.clock.now(),
    };
    this.picker = new SnapshotPicker(this.pickOptions);
    // -1 is odd, so no stable sequence matches it: every slot is decoded on first read.
    this.sequences = new Int32Array(header.maxServers).fill(-1);
    this.changed = new Int32Array(ringEntries(header.maxServers));
  }

  /** The servers in the slots now, leaving out expired ones. */
  servers(): ServerStatus[] {
    const now = this.clock.now();
    return this.current().filter((server): server is ServerStatus => server !== undefined && now - server.lastSeen < this.settings.expireAfter);
  }

  /**
   * Pick a server among all fresh servers in the slots (SPEC 1.8), with the same pure
   * function and settings the monitor uses.
   * @returns the server, or undefined when none has weight
   */
  pickBackend(): ServerStatus | undefined;
  /**
   * Pick one of `members` like lbmethod=heartbeat.
   * @param members - URLs, `host:port` strings or `{ host, port }` objects
   * @returns the chosen member itself, or undefined when no member has weight
   */
  pickBackend<M extends BackendMember>(members: readonly M[]): M | undefined;
  pickBackend<M extends BackendMember>(members?: readonly M[]): ServerStatus | M | undefined {
    // Stale servers weigh 0 in the pure function and expire later than they go stale,
    // so picking from the unfiltered snapshot gives the same result without a copy.
    // Indexed, not walked: a pick re-weighs only when the writer's generation moved.
    const picked = this.picker.pick(this.current(), members, this.clock.now(), this.edits);
    this.clearEdits();
    return picked;
  }

  /** The records, updated when the writer's generation moved since the last look. */
  private current(): readonly (ServerStatus | undefined)[] {
    const seen = generation(this.words);
    if (seen === this.snapshotGeneration) return this.records;
    const count = this.snapshotGeneration === undefined ? false : changedSlots(this.words, this.header, this.snapshotGeneration, seen, this.changed);
    if (count === false || !this.replay(count)) this.scan();
    this.snapshotGeneration = seen;
    return this.records;
  }

  /** Read every used slot (first look, or lapped by the writer); the picker re-weighs them all. */
  private scan(): void {
    this.cover(Math.min(highWater(this.words), this.maxServers));
    for (let slot = 0; slot < this.records.length; slot++) this.readCached(slot);
    this.clearEdits();
    this.picker.forget();
  }

  /**
   * Re-read the first `count` slots of `changed`, listing each slot whose server changed
   * (replaced, arrived or left) in `edits`, so the picker re-weighs just those.
   * @returns false when the ring named a slot that does not exist (then scan instead)
   */
  private replay(count: number): boolean {
    for (let i = 0; i < count; i++) {
      const slot = this.changed[i] ?? -1;
      if (slot < 0 || slot >= this.maxServers) return false;
      this.cover(slot + 1);
      const before = this.records[slot];
      const after = this.readCached(slot);
      if (after !== before) this.noteEdit(slot, before);
    }
    return true;
  }

  /** List an overwritten slot for the picker. */
  private noteEdit(slot: number, previous: ServerStatus | undefined): void {
    // Without picks (servers() only) the list would grow forever: past one entry per
    // used slot, the picker re-weighs everything at the next pick instead.
    if (this.edits.positions.length >= this.records.length) this.clearEdits(true);
    this.edits.positions.push(slot);
    this.edits.previous.push(previous);
  }

  /** Grow the records to `slots` slots (new ones free until read). */
  private cover(slots: number): void {
    while (this.records.length < slots) this.records.push(undefined);
  }

  /** Empty `edits`; `forgetSnapshot` when the picker has not seen them yet. */
  private clearEdits(forgetSnapshot = false): void {
    if (forgetSnapshot && this.edits.positions.length > 0) this.picker.forget();
    this.edits.positions.length = 0;
    this.edits.previous.length = 0;
  }

  private readCached(slot: number): ServerStatus | undefined {
    if (slotSequence(this.words, slot) === this.sequences[slot]) return this.records[slot];
    const reading = readSlot(this.words, slot);
    if (reading === undefined) return this.records[slot];
    this.sequences[slot] = reading.sequence;
    this.records[slot] = reading.server;
    return reading.server;
  }
}
