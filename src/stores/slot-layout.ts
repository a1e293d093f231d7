/**
 * The byte layout of a SlotStore's SharedArrayBuffer and the seqlock that keeps readers
 * from seeing torn slots. Every shared access goes through Atomics, so the protocol is
 * free of data races under the JavaScript memory model.
 *
 * Buffer: a 64-byte header, then `maxServers` slots of {@link SLOT_BYTES} bytes, then the
 * change ring: {@link ringEntries}(maxServers) Int32 slot numbers. Every write publishes
 * its slot number at ring position `generation mod entries` before it bumps the
 * generation, so a reader that knows the generation it last saw can replay exactly the
 * slots written since (O(changes)) instead of scanning every slot, unless the writer has
 * lapped it (then it scans).
 *
 * Header (Int32 words unless noted): 0 magic, 1 layout version, 2 maxServers, 3 slot
 * size in bytes, 4 generation (bumped after every change), 5 keyBy (0 ip, 1 ip:port),
 * 6 warmupDivisor, 7 high-water mark (slots at or above it were never used, so readers
 * skip them), 8–9 staleAfter and 10–11 expireAfter (Float64 bit patterns), 12 number of
 * change ring entries (a power of two), 13 failure sharing (0 local, 1 shared), 14
 * ejections published so far (any thread bumps it; see below), 15 settings sequence: the
 * settings words (5, 6, 8–11, 13) have their own seqlock, because they may change after
 * views attached: a HeartMonitor given the store writes its own settings into it, and a
 * worker may have attached before the monitor existed. The writer makes the word odd,
 * rewrites the settings, and makes it even again; a view loads it on every read and,
 * when it moved, reads the settings again (retrying while odd or moved meanwhile).
 *
 * Slot (Int32 words): 0 sequence (odd while the writer is inside), 1 in use (0/1),
 * 2 ready, 3 busy, 4 port, 5 address length in bytes, 6–7 lastSeen (Float64 bit
 * pattern), 8–23 address text (64 bytes: an IPv6 literal with a zone fits), 24 the
 * operator's administrative state (0 none, 1 draining, 2 disabled: it travels with the
 * data, so `drain()` on the monitor reaches every view with the same write), 25 occupant
 * (bumped whenever the writer puts a new server into the slot), 26–27 inRotationSince
 * (Float64; NaN when the record carries none): when the monitor put the server into
 * rotation, so every view ramps it from the monitor's moment, not from when it first read
 * the slot. Words 0–27 belong to the one writer and the seqlock.
 *
 * Words 28–29 are the one part of a slot every thread may write: an "ejected until" (one
 * BigInt64, so a single atomic store or compare-and-swap moves it whole): wall-clock ms
 * since the epoch × 2^20 + the occupant (mod 2^20) it is about. With failure sharing, a
 * view whose failures take a server out of rotation raises it (to the later of the two
 * times) and then bumps header word 14, so every other view and the monitor take the
 * server out until then too. Wall time, because each thread's monotonic clock has its own
 * origin; the occupant, because the writer may have given the slot to another server
 * since the view last read it. Words 30–31 spare.
 *
 * Version 3 added the administrative state word; version 4 the occupant, inRotationSince,
 * "ejected until" and the header's failure sharing words; version 5 the settings sequence
 * (a version 4 reader would never see settings that change after it attached).
 * @module
 */
import type { AdminState } from '../balancer/server-state.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { TABLE_DEFAULTS, type TableSettings } from '../table/settings.js';

/** Fewest and most change ring entries: enough to absorb bursts, small next to the slots. */
const MIN_RING_ENTRIES = 64;
const MAX_RING_ENTRIES = 4096;

/** Bytes before the first slot. */
export const HEADER_BYTES = 64;
/** Bytes per slot. */
export const SLOT_BYTES = 128;
/** Longest address text a slot holds, in bytes. */
export const MAX_ADDRESS_BYTES = 64;

const MAGIC = 0x48425354; // "HBST"
const VERSION = 5;
const WORDS_PER_SLOT = SLOT_BYTES / 4;
const HEADER_WORDS = HEADER_BYTES / 4;

/** Header word indices. */
const H = { magic: 0, version: 1, maxServers: 2, slotBytes: 3, generation: 4, keyBy: 5, warmupDivisor: 6, highWater: 7, staleAfter: 8, expireAfter: 10, ringEntries: 12, failures: 13, ejections: 14, settings: 15 } as const;
/** Slot word offsets. */
const S = { sequence: 0, inUse: 1, ready: 2, busy: 3, port: 4, addressLength: 5, lastSeen: 6, address: 8, admin: 24, occupant: 25, inRotationSince: 26, ejectedUntil: 28 } as const;
/** Bits of an "ejected until" value that hold the occupant. */
const OCCUPANT_BITS = 20n;
const OCCUPANT_MASK = (1n << OCCUPANT_BITS) - 1n;
/** Latest "ejected until" that fits beside the occupant in a positive BigInt64. */
const MAX_UNTIL = 2 ** 43 - 1;

/** The administrative state word: index is the stored number. */
const ADMIN_CODES: readonly (AdminState | undefined)[] = [undefined, 'draining', 'disabled'];

/** The number stored for a server's administrative state (`failed` is per view and never shared). */
function adminCode(state: ServerStatus['state']): number {
  return state === 'draining' ? 1 : state === 'disabled' ? 2 : 0;
}

/** A bounded number of tries before a reader gives up on a slot whose writer stopped mid-write. */
const MAX_READ_ATTEMPTS = 100_000;

/** The settings words of the header: the table's, and failure sharing; they may change while views read. */
export interface SlotStoreSettings extends TableSettings {
  /** Whether a view's failure ejections are shared with every view and the monitor. */
  readonly failures: FailureSharing;
}

/** The settings stored in the header, read by every view: the table's, failure sharing, and the slot count. */
export interface SlotHeader extends SlotStoreSettings {
  readonly maxServers: number;
}

/** `'local'`: each view keeps its own failure state (Apache's children); `'shared'`: one view's ejection takes the server out for all. */
export type FailureSharing = 'local' | 'shared';

// Scratch space for moving Float64 values and address bytes through Int32 words.
// Each thread (module instance) has its own, and nothing here is shared.
const scratch = new ArrayBuffer(MAX_ADDRESS_BYTES);
const scratchWords = new Int32Array(scratch);
const scratchBytes = new Uint8Array(scratch);
const scratchFloat = new Float64Array(scratch, 0, 1);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Change ring entries for `maxServers` slots: the next power of two, within 64…4096 (so
 * 16 KiB at most; a reader lapped by 4,096 writes pays one scan for all of them).
 */
export function ringEntries(maxServers: number): number {
  let entries = MIN_RING_ENTRIES;
  while (entries < maxServers && entries < MAX_RING_ENTRIES) entries *= 2;
  return entries;
}

/** Bytes a buffer for `maxServers` slots needs. */
export function bufferBytes(maxServers: number): number {
  return ringOffset(maxServers) * 4 + ringEntries(maxServers) * 4;
}

/** Word index of the first change ring entry. */
function ringOffset(maxServers: number): number {
  return HEADER_WORDS + maxServers * WORDS_PER_SLOT;
}

function storeFloat(words: Int32Array, index: number, value: number): void {
  scratchFloat[0] = value;
  Atomics.store(words, index, scratchWords[0] ?? 0);
  Atomics.store(words, index + 1, scratchWords[1] ?? 0);
}

function loadFloat(words: Int32Array, index: number): number {
  scratchWords[0] = Atomics.load(words, index);
  scratchWords[1] = Atomics.load(words, index + 1);
  return scratchFloat[0] ?? 0;
}

/** Write the header of a fresh buffer (before it is shared). */
export function writeHeader(words: Int32Array, header: SlotHeader): void {
  Atomics.store(words, H.magic, MAGIC);
  Atomics.store(words, H.version, VERSION);
  Atomics.store(words, H.maxServers, header.maxServers);
  Atomics.store(words, H.slotBytes, SLOT_BYTES);
  Atomics.store(words, H.ringEntries, ringEntries(header.maxServers));
  storeSettings(words, header);
}

/** The settings words, without their seqlock. */
function storeSettings(words: Int32Array, settings: SlotStoreSettings): void {
  Atomics.store(words, H.keyBy, settings.keyBy === 'ip' ? 0 : 1);
  Atomics.store(words, H.warmupDivisor, settings.warmupDivisor);
  storeFloat(words, H.staleAfter, settings.staleAfter);
  storeFloat(words, H.expireAfter, settings.expireAfter);
  Atomics.store(words, H.failures, settings.failures === 'shared' ? 1 : 0);
}

/**
 * Replace the settings of a buffer views may already read (only the store's one writer
 * calls it): under the settings seqlock, so a view never takes half of the old settings
 * and half of the new.
 */
export function writeSettings(words: Int32Array, settings: SlotStoreSettings): void {
  const sequence = Atomics.load(words, H.settings);
  Atomics.store(words, H.settings, (sequence + 1) | 0);
  storeSettings(words, settings);
  Atomics.store(words, H.settings, (sequence + 2) | 0);
}

/** The settings sequence now: a view whose settings carry this value has the current ones. */
export function settingsSequence(words: Int32Array): number {
  return Atomics.load(words, H.settings);
}

/** Settings as read under their seqlock, with the sequence they belong to. */
export interface SettingsReading extends SlotStoreSettings {
  readonly sequence: number;
}

/**
 * Read the settings consistently; undefined when the writer stayed inside for every try
 * (it died mid-write: the reader keeps what it had). Values that no writer of ours stores
 * (a corrupted buffer) are brought into range, never trusted beyond it.
 */
export function readSettings(words: Int32Array): SettingsReading | undefined {
  for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
    const before = Atomics.load(words, H.settings);
    if ((before & 1) !== 0) continue;
    const keyBy = Atomics.load(words, H.keyBy) === 0 ? 'ip' : 'ip:port';
    const warmupDivisor = Math.max(1, Atomics.load(words, H.warmupDivisor));
    const staleAfter = loadFloat(words, H.staleAfter);
    const expireAfter = loadFloat(words, H.expireAfter);
    const failures = Atomics.load(words, H.failures) === 1 ? 'shared' : 'local';
    if (Atomics.load(words, H.settings) !== before) continue;
    const stale = Number.isFinite(staleAfter) && staleAfter >= 1 ? staleAfter : TABLE_DEFAULTS.staleAfter;
    const expire = Number.isFinite(expireAfter) && expireAfter >= stale ? expireAfter : Math.max(stale, TABLE_DEFAULTS.expireAfter);
    return { sequence: before, keyBy, warmupDivisor, staleAfter: stale, expireAfter: expire, failures };
  }
  return undefined;
}

/**
 * Read and check the header of a buffer handed over by a SlotStore.
 * @throws TypeError when the buffer is not a SlotStore buffer of this layout version
 */
export function readHeader(buffer: SharedArrayBuffer): SlotHeader & { readonly sequence: number } {
  const problem = (why: string): never => {
    throw new TypeError(`Expected a SlotStore buffer (SlotStore#buffer), got ${why}`);
  };
  if (!(buffer instanceof SharedArrayBuffer)) return problem(`${typeof buffer === 'object' ? Object.prototype.toString.call(buffer) : typeof buffer}`);
  if (buffer.byteLength < HEADER_BYTES) return problem(`a ${buffer.byteLength}-byte buffer`);
  const words = new Int32Array(buffer);
  if (Atomics.load(words, H.magic) !== MAGIC) return problem('a buffer without the SlotStore header');
  const version = Atomics.load(words, H.version);
  if (version !== VERSION) return problem(`layout version ${version} (this library reads version ${VERSION})`);
  const maxServers = Atomics.load(words, H.maxServers);
  if (Atomics.load(words, H.slotBytes) !== SLOT_BYTES || Atomics.load(words, H.ringEntries) !== ringEntries(maxServers) || buffer.byteLength < bufferBytes(maxServers)) {
    return problem(`a buffer too small for its ${maxServers} slots`);
  }
  const settings = readSettings(words);
  if (settings === undefined) return problem('a buffer whose writer stopped while writing its settings');
  return { maxServers, ...settings };
}

/** Changes so far; a reader whose snapshot carries the current value is up to date. */
export function generation(words: Int32Array): number {
  return Atomics.load(words, H.generation);
}

/** Number of leading slots that were ever used; readers need not look further. */
export function highWater(words: Int32Array): number {
  return Atomics.load(words, H.highWater);
}

/** Encode an address for a slot; undefined when it is longer than {@link MAX_ADDRESS_BYTES}. */
export function encodeAddress(ip: string): Uint8Array | undefined {
  const bytes = encoder.encode(ip);
  return bytes.length > MAX_ADDRESS_BYTES ? undefined : bytes;
}

/**
 * Write (or, with `server` undefined, free) a slot. Only one thread may write a buffer.
 * @param address - `encodeAddress(server.ip)`
 * @param addressInPlace - the slot already holds exactly these address bytes (this
 * writer put them there and nothing freed the slot since): skip rewriting them; otherwise
 * a new server moves in, and the slot's occupant number changes
 */
export function writeSlot(words: Int32Array, slot: number, server: ServerStatus | undefined, address: Uint8Array | undefined, addressInPlace = false): void {
  const base = HEADER_WORDS + slot * WORDS_PER_SLOT;
  const sequence = Atomics.load(words, base + S.sequence);
  // Odd: readers that start now retry; readers already inside see the change on their second load.
  Atomics.store(words, base + S.sequence, (sequence + 1) | 0);
  if (server === undefined || address === undefined) {
    Atomics.store(words, base + S.inUse, 0);
  } else {
    // Unchanged words need no store (a seq-cst store costs a fence; most heartbeats repeat
    // most values): a reader validates what it read against the sequence as before.
    storeChanged(words, base + S.inUse, 1);
    storeChanged(words, base + S.ready, server.ready);
    storeChanged(words, base + S.busy, server.busy);
    storeChanged(words, base + S.port, server.port);
    storeChanged(words, base + S.addressLength, address.length);
    scratchFloat[0] = server.lastSeen;
    storeChanged(words, base + S.lastSeen, scratchWords[0] ?? 0);
    storeChanged(words, base + S.lastSeen + 1, scratchWords[1] ?? 0);
    storeChanged(words, base + S.admin, adminCode(server.state));
    scratchFloat[0] = server.inRotationSince ?? Number.NaN;
    storeChanged(words, base + S.inRotationSince, scratchWords[0] ?? 0);
    storeChanged(words, base + S.inRotationSince + 1, scratchWords[1] ?? 0);
    if (!addressInPlace) {
      Atomics.store(words, base + S.occupant, (Atomics.load(words, base + S.occupant) + 1) | 0);
      scratchBytes.fill(0);
      scratchBytes.set(address);
      for (let i = 0; i < MAX_ADDRESS_BYTES / 4; i++) Atomics.store(words, base + S.address + i, scratchWords[i] ?? 0);
    }
  }
  Atomics.store(words, base + S.sequence, (sequence + 2) | 0);
  // Raised after the slot is complete, so a reader that sees the new mark sees the slot.
  if (slot >= Atomics.load(words, H.highWater)) Atomics.store(words, H.highWater, slot + 1);
  // Published before the generation moves, so a reader that sees the new generation finds
  // this entry (only this thread moves the generation).
  const written = Atomics.load(words, H.generation);
  const maxServers = Atomics.load(words, H.maxServers);
  Atomics.store(words, ringOffset(maxServers) + (written & (ringEntries(maxServers) - 1)), slot);
  Atomics.store(words, H.generation, (written + 1) | 0);
}

/**
 * The slot numbers written from generation `since` up to `until` (exclusive), into `into`;
 * false when the writer has lapped the ring since `since` (some of these entries are
 * overwritten or may be while they are read), and the reader must scan every slot instead.
 * @param until - a generation the reader loaded before calling
 */
export function changedSlots(words: Int32Array, header: SlotHeader, since: number, until: number, into: Int32Array): number | false {
  const entries = ringEntries(header.maxServers);
  const count = (until - since) | 0;
  if (count < 0 || count > entries) return false;
  const offset = ringOffset(header.maxServers);
  for (let i = 0; i < count; i++) into[i] = Atomics.load(words, offset + ((since + i) & (entries - 1)));
  // Entry g is overwritten by the write of generation g + entries, which stores it while the
  // generation still reads g + entries: below that, everything read above was intact.
  if (((Atomics.load(words, H.generation) - since) | 0) >= entries) return false;
  return count;
}

/** Store a word unless it already holds `value` (safe: this thread is the only writer). */
function storeChanged(words: Int32Array, index: number, value: number): void {
  if (Atomics.load(words, index) !== value) Atomics.store(words, index, value);
}

/** The sequence number of a slot now (even when stable). */
export function slotSequence(words: Int32Array, slot: number): number {
  return Atomics.load(words, HEADER_WORDS + slot * WORDS_PER_SLOT + S.sequence);
}

/** What {@link readSlot} saw. */
export interface SlotReading {
  /** The stable sequence number the values belong to. */
  readonly sequence: number;
  /** The server, or undefined for a free slot. */
  readonly server: ServerStatus | undefined;
  /** Which server this is, as "ejected until" values name it. */
  readonly occupant: number;
}

/**
 * Read a slot consistently: retry while the writer is inside (odd sequence) or wrote
 * meanwhile (sequence changed). Undefined if the writer never left the slot (it died
 * mid-write).
 */
export function readSlot(words: Int32Array, slot: number): SlotReading | undefined {
  const base = HEADER_WORDS + slot * WORDS_PER_SLOT;
  for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
    const before = Atomics.load(words, base + S.sequence);
    if ((before & 1) !== 0) continue;
    if (Atomics.load(words, base + S.inUse) === 0) {
      if (Atomics.load(words, base + S.sequence) === before) return { sequence: before, server: undefined, occupant: -1 };
      continue;
    }
    const ready = Atomics.load(words, base + S.ready);
    const busy = Atomics.load(words, base + S.busy);
    const port = Atomics.load(words, base + S.port);
    const length = Atomics.load(words, base + S.addressLength);
    const lastSeen = loadFloat(words, base + S.lastSeen);
    const state = ADMIN_CODES[Atomics.load(words, base + S.admin)];
    const occupant = Atomics.load(words, base + S.occupant);
    const carried = loadFloat(words, base + S.inRotationSince);
    for (let i = 0; i < MAX_ADDRESS_BYTES / 4; i++) scratchWords[i] = Atomics.load(words, base + S.address + i);
    if (Atomics.load(words, base + S.sequence) !== before) continue;
    const ip = decoder.decode(scratchBytes.subarray(0, Math.min(Math.max(length, 0), MAX_ADDRESS_BYTES)));
    const server: ServerStatus = Number.isNaN(carried) ? { ip, port, ready, busy, lastSeen } : { ip, port, ready, busy, lastSeen, inRotationSince: carried };
    return { sequence: before, server: Object.freeze(state === undefined ? server : { ...server, state }), occupant };
  }
  return undefined;
}

/** Ejections published so far: a reader that saw this count has seen every ejection up to it. */
export function ejectionCount(words: Int32Array): number {
  return Atomics.load(words, H.ejections);
}

/** The occupant number of a slot now (read by the writer, which owns it). */
export function slotOccupant(words: Int32Array, slot: number): number {
  return Atomics.load(words, HEADER_WORDS + slot * WORDS_PER_SLOT + S.occupant);
}

/** Index of a slot's "ejected until" in a BigInt64Array over the buffer (8-byte aligned: 64 + slot × 128 + 112). */
function ejectionIndex(slot: number): number {
  return (HEADER_WORDS + slot * WORDS_PER_SLOT + S.ejectedUntil) / 2;
}

/**
 * Publish that the server in `slot` (as `occupant` names it) is out of rotation until
 * wall-clock time `until`. Any thread may call it: a compare-and-swap keeps the later of
 * two times, and the header's count moves after the value is in place.
 * @param big - a BigInt64Array over the whole buffer
 * @returns false when the slot already said as much
 */
export function publishEjection(words: Int32Array, big: BigInt64Array, slot: number, occupant: number, until: number): boolean {
  const index = ejectionIndex(slot);
  const tag = BigInt(occupant) & OCCUPANT_MASK;
  // 43 bits of ms reach the year 2248; a longer time out is clamped, never wrapped into the sign bit.
  const value = (BigInt(Math.min(MAX_UNTIL, Math.max(0, Math.ceil(until)))) << OCCUPANT_BITS) | tag;
  for (;;) {
    const current = Atomics.load(big, index);
    if ((current & OCCUPANT_MASK) === tag && current >= value) return false;
    if (Atomics.compareExchange(big, index, current, value) === current) break;
  }
  Atomics.add(words, H.ejections, 1);
  return true;
}

/** Wall-clock time the server in `slot` (named by `occupant`) is out of rotation until, or undefined. */
export function readEjection(big: BigInt64Array, slot: number, occupant: number): number | undefined {
  const value = Atomics.load(big, ejectionIndex(slot));
  if (value === 0n || (value & OCCUPANT_MASK) !== (BigInt(occupant) & OCCUPANT_MASK)) return undefined;
  return Number(value >> OCCUPANT_BITS);
}
