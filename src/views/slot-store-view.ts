/**
 * SlotStoreView: a SlotStore's table in a worker thread (or any thread holding the
 * buffer), with the whole balancing API of the monitor.
 * @module
 */
import type { ServerStatus } from '../protocol/server-status.js';
import { serverKey } from '../protocol/server-status.js';
import type { ServerFailure } from '../balancer/server-state.js';
import { expectOneOf } from '../validate.js';
import {
  changedSlots,
  ejectionCount,
  generation,
  highWater,
  publishEjection,
  readEjection,
  readHeader,
  readSettings,
  readSlot,
  ringEntries,
  settingsSequence,
  slotSequence,
  type FailureSharing,
  type SlotHeader,
} from '../stores/slot-layout.js';
import { BalancedView, type ViewSettings } from './balanced-view.js';
import type { HeartbeatView, HeartbeatViewOptions } from './view.js';

/**
 * Options of `SlotStore.attach()`: the monitor's balancing options, and per-view
 * overrides of the selection settings the buffer's header carries.
 */
export interface SlotStoreViewOptions extends HeartbeatViewOptions {
  /**
   * `'shared'`: this view's failure ejections reach every view of the store and the
   * monitor, and theirs reach it; `'local'`: it keeps its failures to itself.
   * @default the store's `failures` option
   */
  readonly failures?: FailureSharing;
}

/**
 * A view of a {@link SlotStore}'s buffer, usually in a worker thread, with the balancing
 * API of the monitor (SPEC 3.1): picks, leases, failure feedback (this view's own, or
 * with `failures: 'shared'` every view's), slow start (ramps from when the monitor put
 * the server into rotation, carried in the slot), fallbacks, metrics and the status page.
 * It follows the writer without locks: before each read it checks the buffer's
 * generation, and when it moved it replays the slots the writer listed in the change ring
 * since (scanning every slot only on its first look or when lapped). The operator's
 * drain/disable arrive with the slot they change.
 *
 * Its selection settings are those in the buffer's header: the monitor's, which a
 * HeartMonitor writes there when given the store, also after this view attached. When
 * they change the view rebuilds its table from the slots with the new settings (its own
 * failure state and in-flight counts start over, and `add` is emitted again).
 */
export class SlotStoreView extends BalancedView implements HeartbeatView {
  /** Number of slots. */
  readonly maxServers: number;
  private readonly words: Int32Array;
  private readonly header: SlotHeader;
  /** The settings sequence of the header's settings last read. */
  private settingsSeen: number;
  /** The view's own `failures` option, when given. */
  private readonly ownFailures: FailureSharing | undefined;
  private readonly sequences: Int32Array;
  /** The record last read from each slot (undefined: free), and the key it is applied under. */
  private readonly records: (ServerStatus | undefined)[] = [];
  private readonly keys: (string | undefined)[] = [];
  /** The slot that owns each key (two slots may share a key when the view keys by IP only). */
  private readonly owner = new Map<string, number>();
  private readonly changed: Int32Array;
  private snapshotGeneration: number | undefined;
  private sharing: FailureSharing;
  /** Each slot's occupant number as last read (what an ejection names). */
  private readonly occupants: Int32Array;
  /** The buffer as BigInt64 words, for "ejected until" values (with shared failures). */
  private ejections: BigInt64Array | undefined;
  private ejectionsSeen = 0;

  /**
   * @param buffer - `store.buffer`
   * @param options - balancing options and per-view overrides
   * @throws TypeError when `buffer` is not a SlotStore buffer of this layout version
   */
  constructor(buffer: SharedArrayBuffer, options: SlotStoreViewOptions = {}) {
    super(options);
    const header = readHeader(buffer);
    this.maxServers = header.maxServers;
    this.header = header;
    this.words = new Int32Array(buffer);
    this.settingsSeen = header.sequence;
    this.startTable(header);
    // -1 is odd, so no stable sequence matches it: every slot is decoded on first read.
    this.sequences = new Int32Array(header.maxServers).fill(-1);
    this.changed = new Int32Array(ringEntries(header.maxServers));
    this.occupants = new Int32Array(header.maxServers).fill(-1);
    this.ownFailures = options.failures === undefined ? undefined : expectOneOf('failures', options.failures, ['local', 'shared'] as const);
    this.sharing = this.ownFailures ?? header.failures;
    this.ejections = this.sharing === 'shared' ? new BigInt64Array(buffer) : undefined;
  }

  /** Whether failure ejections are shared with the other views and the monitor: this view's `failures` option, else the header's. */
  get failures(): FailureSharing {
    this.followSettings();
    return this.sharing;
  }

  /** Settings read from the buffer's header (the monitor's), with this view's overrides applied. */
  get settings(): ViewSettings {
    this.followSettings();
    return this.runningSettings;
  }

  /**
   * One shared-memory load per read: when the header's settings moved (a monitor adopted
   * the store after this view attached), take the new ones and rebuild the table from the
   * slots, so no record stays keyed or weighed by the old settings.
   */
  private followSettings(): void {
    if (settingsSequence(this.words) === this.settingsSeen) return;
    const reading = readSettings(this.words);
    if (reading === undefined) {
      // The writer stopped mid-write: keep the settings we have, and do not try again
      // (each try spins) until the sequence moves.
      this.settingsSeen = settingsSequence(this.words);
      return;
    }
    this.settingsSeen = reading.sequence;
    if (this.ownFailures === undefined && reading.failures !== this.sharing) {
      this.sharing = reading.failures;
      this.ejections = reading.failures === 'shared' ? new BigInt64Array(this.words.buffer as SharedArrayBuffer) : undefined;
      this.ejectionsSeen = 0;
    }
    if (!this.restartTable(reading)) return;
    this.sequences.fill(-1);
    this.occupants.fill(-1);
    this.records.length = 0;
    this.keys.length = 0;
    this.owner.clear();
    this.snapshotGeneration = undefined;
  }

  /** Stop the view's timer; the buffer is not touched. */
  close(): Promise<void> {
    this.stopTable();
    return Promise.resolve();
  }

  /** Replay what the writer changed since the last look, then ejections other views shared. @internal */
  protected override sync(): void {
    this.followSettings();
    const seen = generation(this.words);
    if (seen !== this.snapshotGeneration) {
      const count = this.snapshotGeneration === undefined ? false : changedSlots(this.words, this.header, this.snapshotGeneration, seen, this.changed);
      if (count === false || !this.replay(count)) this.scan();
      this.snapshotGeneration = seen;
    }
    if (this.ejections !== undefined && ejectionCount(this.words) !== this.ejectionsSeen) this.readEjections(this.ejections);
  }

  /** Publish this view's ejection of `server` for every view and the monitor (shared failures). @internal */
  protected override ejected(server: ServerStatus, failure: ServerFailure): void {
    if (this.ejections === undefined) return;
    const slot = this.owner.get(serverKey(server.ip, server.port, this.runningSettings.keyBy));
    if (slot === undefined) return;
    publishEjection(this.words, this.ejections, slot, this.occupants[slot] ?? -1, this.clock.now() + failure.retryAfter);
  }

  /**
   * Every slot's "ejected until" (rare: only after some view published one). The count is
   * read first, so an ejection published meanwhile moves it again and is read next time.
   */
  private readEjections(ejections: BigInt64Array): void {
    this.ejectionsSeen = ejectionCount(this.words);
    const now = this.clock.now();
    for (let slot = 0; slot < this.keys.length; slot++) {
      const key = this.keys[slot];
      if (key === undefined || this.owner.get(key) !== slot) continue;
      const until = readEjection(ejections, slot, this.occupants[slot] ?? -1);
      if (until !== undefined && until > now) this.ejectShared(key, until);
    }
  }

  /** Read every used slot (first look, or lapped by the writer). */
  private scan(): void {
    const used = Math.min(highWater(this.words), this.maxServers);
    for (let slot = 0; slot < used; slot++) this.read(slot);
  }

  /** Re-read the first `count` slots of `changed`; false when the ring named a slot that does not exist. */
  private replay(count: number): boolean {
    for (let i = 0; i < count; i++) {
      const slot = this.changed[i] ?? -1;
      if (slot < 0 || slot >= this.maxServers) return false;
      this.read(slot);
    }
    return true;
  }

  private read(slot: number): void {
    if (slotSequence(this.words, slot) === this.sequences[slot]) return;
    const reading = readSlot(this.words, slot);
    if (reading === undefined) return; // the writer died mid-write: keep what we had
    this.sequences[slot] = reading.sequence;
    this.occupants[slot] = reading.occupant;
    const server = reading.server;
    if (server === this.records[slot]) return;
    this.records[slot] = server;
    const before = this.keys[slot];
    const key = server === undefined ? undefined : serverKey(server.ip, server.port, this.runningSettings.keyBy);
    if (before !== undefined && before !== key && this.owner.get(before) === slot) {
      this.owner.delete(before);
      this.removeRecord(before);
    }
    this.keys[slot] = key;
    if (key === undefined || server === undefined) return;
    this.owner.set(key, slot);
    this.applyRecord(key, server);
  }
}
