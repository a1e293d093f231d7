/**
 * HeartbeatFileReader: the balancer side of an hb.dat, for processes that do not run the
 * monitor themselves (mod_lbmethod_heartbeat's job, without its faults).
 * @module
 */
import { EventEmitter } from 'eventemitter3';
import { closeSync, fstatSync, openSync, readFileSync, statSync, type Stats } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import type { BackendMember } from '../protocol/address.js';
import type { Clock } from '../clock.js';
import { StoreError } from '../errors.js';
import { DEFAULT_FILE_EXPIRE_AFTER, parseHeartbeatFile, type SkippedHeartbeatLine } from '../stores/hb-file.js';
import type { PickOptions } from '../picking/selection.js';
import { SnapshotPicker } from '../picking/snapshot-picker.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { expectFunction, expectInteger, expectNumber, expectOneOf, expectString, show } from '../validate.js';

/** Default least time between two checks of the file, in ms. */
export const DEFAULT_CHECK_INTERVAL = 500;

/** Options of {@link HeartbeatFileReader}. */
export interface HeartbeatFileReaderOptions extends Omit<PickOptions, 'now'> {
  /** The hb.dat to read; a relative path resolves against the cwd now. */
  readonly path: string;
  /**
   * Least time between two `stat` calls, in ms: picks in between use the view in memory.
   * 0 checks on every call.
   * @default 500
   */
  readonly checkInterval?: number;
  /**
   * Servers whose last heartbeat (line `lastseen` plus file age) is this old are dropped
   * from the view, even when the file is never rewritten.
   * @default 30000
   */
  readonly expireAfter?: number;
  /**
   * Wall clock (inject a fake one in tests).
   * @default Date.now
   */
  readonly clock?: Pick<Clock, 'now'>;
}

/** The events of {@link HeartbeatFileReader}. */
export interface HeartbeatFileReaderEvents {
  /** The file was (re-)read; the new view of its servers. */
  change: [servers: ServerStatus[]];
  /**
   * The file could not be read (missing, unreadable). Emitted once per outage: the
   * last good view stays in use, and its entries still go stale and expire.
   */
  error: [error: StoreError];
}

interface FileSignature {
  readonly mtimeMs: number;
  readonly size: number;
  readonly ino: number;
}

/**
 * Reads an hb.dat written by our FileStore or by Apache's mod_heartmonitor and picks
 * backends from it. The file is `stat`ed at most every `checkInterval` ms and re-read only
 * when its mtime, size or inode changed, never per pick as Apache does. Entries age by
 * the file's mtime (a frozen file goes stale), a last line without a newline is read
 * whole, and a missing or unreadable file keeps the last good view and is reported once
 * through the `error` event.
 *
 * @example
 * ```ts
 * const reader = new HeartbeatFileReader({ path: '/run/hb/hb.dat' });
 * reader.on('error', (err) => console.warn(err.message));
 * const target = reader.pickBackend(['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
 * ```
 */
export class HeartbeatFileReader extends EventEmitter<HeartbeatFileReaderEvents> {
  /** Absolute path of the file read. */
  readonly path: string;
  private readonly checkInterval: number;
  private readonly expireAfter: number;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly pickOptions: PickOptions;
  private readonly picker: SnapshotPicker;
  private view: ServerStatus[] = [];
  private skippedLines: SkippedHeartbeatLine[] = [];
  private signature: FileSignature | undefined;
  private checkedAt = -Infinity;
  private failure: StoreError | undefined;

  /** @param options - path, check interval and selection parameters */
  constructor(options: HeartbeatFileReaderOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError(`Expected \`options\` to be an object with a \`path\`, got ${show(options)}`);
    this.path = resolve(expectString('path', options.path));
    this.checkInterval = expectInteger('checkInterval', options.checkInterval ?? DEFAULT_CHECK_INTERVAL, 0);
    this.expireAfter = expectNumber('expireAfter', options.expireAfter ?? DEFAULT_FILE_EXPIRE_AFTER, 1);
    this.clock = options.clock ?? { now: Date.now };
    this.pickOptions = {
      random: options.random === undefined ? Math.random : expectFunction<() => number>('random', options.random),
      now: () => this.clock.now(),
      ...(options.staleAfter === undefined ? {} : { staleAfter: expectNumber('staleAfter', options.staleAfter, 1) }),
      ...(options.warmupDivisor === undefined ? {} : { warmupDivisor: expectInteger('warmupDivisor', options.warmupDivisor, 1) }),
      ...(options.keyBy === undefined ? {} : { keyBy: expectOneOf('keyBy', options.keyBy, ['ip', 'ip:port'] as const) }),
    };
    this.picker = new SnapshotPicker(this.pickOptions, this.expireAfter);
  }

  /** The read failure currently in effect (cleared by the next good read). */
  get lastError(): StoreError | undefined {
    return this.failure;
  }

  /** Lines of the last good read that could not be used, with reasons. */
  get skipped(): readonly SkippedHeartbeatLine[] {
    return this.skippedLines;
  }

  /** The servers of the file that have not expired (checks the file first if due). */
  servers(): ServerStatus[] {
    this.refreshIfDue();
    const now = this.clock.now();
    return this.view.filter((server) => now - server.lastSeen < this.expireAfter);
  }

  /**
   * Pick a server among all fresh servers of the file (SPEC 1.8).
   * @returns the server, or undefined when none has weight (Apache: 503)
   */
  pickBackend(): ServerStatus | undefined;
  /**
   * Pick one of `members` like lbmethod=heartbeat (members of unknown or stale servers
   * are skipped).
   * @param members - URLs, `host:port` strings or `{ host, port }` objects
   * @returns the chosen member itself, or undefined when no member has weight
   */
  pickBackend<M extends BackendMember>(members: readonly M[]): M | undefined;
  pickBackend<M extends BackendMember>(members?: readonly M[]): ServerStatus | M | undefined {
    this.refreshIfDue();
    // Indexed, not walked: a pick re-weighs only after a re-read or when a server ages out.
    return this.picker.pick(this.view, members, this.clock.now());
  }

  /** Check the file now, whatever the interval, and re-read it if it changed. */
  refresh(): void {
    this.checkedAt = performance.now();
    let descriptor: number | undefined;
    try {
      if (this.signature !== undefined && sameFile(this.signature, statSync(this.path))) return;
      // stat and read through one descriptor so the mtime belongs to the bytes read.
      descriptor = openSync(this.path, 'r');
      const info = fstatSync(descriptor);
      const bytes = readFileSync(descriptor);
      const contents = parseHeartbeatFile(bytes, { writtenAt: Math.min(Math.floor(info.mtimeMs), this.clock.now()) });
      this.signature = { mtimeMs: info.mtimeMs, size: info.size, ino: info.ino };
      this.view = contents.servers;
      this.skippedLines = contents.skipped;
      this.failure = undefined;
      this.emit('change', this.view);
    } catch (cause) {
      // Forget the signature so the file is re-read as soon as it is back, even unchanged.
      this.signature = undefined;
      if (this.failure !== undefined) return;
      this.failure = new StoreError(`Cannot read heartbeat file ${this.path} (keeping the last ${this.view.length} servers read)`, {
        cause,
        path: this.path,
      });
      this.emit('error', this.failure);
    } finally {
      if (descriptor !== undefined) closeSync(descriptor);
    }
  }

  private refreshIfDue(): void {
    if (performance.now() - this.checkedAt >= this.checkInterval) this.refresh();
  }
}

function sameFile(known: FileSignature, info: Stats): boolean {
  return known.mtimeMs === info.mtimeMs && known.size === info.size && known.ino === info.ino;
}
