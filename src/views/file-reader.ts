/**
 * HeartbeatFileReader: the balancer side of an hb.dat, for processes that do not run the
 * monitor themselves (mod_lbmethod_heartbeat's job, without its faults).
 * @module
 */
import { statSync, type Stats } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { StoreError } from '../errors.js';
import { parseHeartbeatFile, type SkippedHeartbeatLine } from '../stores/hb-file.js';
import { resolveTableSettings, TABLE_DEFAULTS, type TableSettings } from '../table/settings.js';
import { serverKey, type ServerStatus } from '../protocol/server-status.js';
import { DEFAULT_MAX_FILE_BYTES, readBounded, readBoundedSync, RefusedFileError, refusalOf, type BoundedRead } from '../stores/bounded-read.js';
import { expectInteger, expectObject, expectString } from '../validate.js';
import { BalancedView, type ViewSettings } from './balanced-view.js';
import type { HeartbeatView, HeartbeatViewOptions } from './view.js';

/** Default least time between two checks of the file, in ms. */
export const DEFAULT_CHECK_INTERVAL = 500;
/** Default largest file a pick re-reads in line; larger changes are read in the background. */
export const DEFAULT_SYNC_READ_BYTES = 256 * 1024;
export { DEFAULT_MAX_FILE_BYTES };

/** Options of {@link HeartbeatFileReader}. */
export interface HeartbeatFileReaderOptions extends HeartbeatViewOptions {
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
   * @default the file's settings line, else 30000
   */
  readonly expireAfter?: number;
  /**
   * Largest file read, in bytes; a larger one is refused (`error` event) and the last good
   * view stays in use.
   * @default 16777216 (16 MiB)
   */
  readonly maxFileBytes?: number;
  /**
   * Largest changed file a pick re-reads before it draws. A larger one is read in the
   * background while picks keep using the last view, so no pick waits on a long re-read
   * (the first read, with no view to serve yet, is always done at once).
   * @default 262144 (256 KiB)
   */
  readonly syncReadBytes?: number;
}

/** The events of {@link HeartbeatFileReader} beyond those of every view. */
export interface HeartbeatFileReaderEvents {
  /** The file was (re-)read; the new view of its servers. */
  change: [servers: ServerStatus[]];
  /**
   * The file could not be read (missing, unreadable) or was refused (not a regular file,
   * over `maxFileBytes`). Emitted once per outage: the last good view stays in use, and its
   * entries still go stale and expire. A refused file is not read again until it changes.
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
 * The selection settings (`keyBy`, `staleAfter`, `expireAfter`, `warmupDivisor`) are the
 * writer's: those of the settings line our FileStore writes first (`# heartmonitor …`),
 * with this reader's own options in their place where given. A file without one (Apache's)
 * is read with Apache's defaults. When a re-read brings other settings, the reader
 * rebuilds its table with them (its failure state and in-flight counts start over).
 *
 * @example
 * ```ts
 * const reader = new HeartbeatFileReader({ path: '/run/hb/hb.dat' });
 * reader.on('error', (err) => console.warn(err.message));
 * const target = reader.pickBackend(['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
 * ```
 */
export class HeartbeatFileReader extends BalancedView<HeartbeatFileReaderEvents> implements HeartbeatView {
  /** Absolute path of the file read. */
  readonly path: string;
  private readonly checkInterval: number;
  private view: ServerStatus[] = [];
  /** Keys of the servers applied from the last good read. */
  private loadedKeys = new Set<string>();
  /** The reader's own `expireAfter`, when given (views take only the other three as overrides). */
  private readonly ownExpireAfter: number | undefined;
  private skippedLines: SkippedHeartbeatLine[] = [];
  private signature: FileSignature | undefined;
  private checkedAt = -Infinity;
  private failure: StoreError | undefined;
  /** The file last refused (kind or size): not read again while it stays the same. */
  private refused: FileSignature | undefined;
  private readonly maxFileBytes: number;
  private readonly syncReadBytes: number;
  /** Whether a good read ever happened (until then a pick reads in line). */
  private loaded = false;
  /** A background read in progress. */
  private reading: Promise<void> | undefined;

  /** @param options - path, check interval and selection parameters */
  constructor(options: HeartbeatFileReaderOptions) {
    super(expectObject('options', options, 'an object with a `path`'));
    this.path = resolve(expectString('path', options.path));
    this.checkInterval = expectInteger('checkInterval', options.checkInterval ?? DEFAULT_CHECK_INTERVAL, 0);
    // Both given: checked against each other now (a file's settings never make them throw later).
    resolveTableSettings({ expireAfter: options.expireAfter, staleAfter: options.staleAfter });
    this.ownExpireAfter = options.expireAfter;
    // Until the file is read: Apache's defaults (the first read brings the writer's, if any).
    const shared = this.withOwnExpiry(TABLE_DEFAULTS);
    this.startTable(shared);
    this.maxFileBytes = expectInteger('maxFileBytes', options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, 1);
    this.syncReadBytes = expectInteger('syncReadBytes', options.syncReadBytes ?? DEFAULT_SYNC_READ_BYTES, 0);
  }

  /** The selection settings in use: the file's settings line (else Apache's defaults), with this reader's options in their place. */
  get settings(): ViewSettings {
    this.refreshIfDue();
    return this.runningSettings;
  }

  /** The data's settings with the reader's own `expireAfter` in its place. */
  private withOwnExpiry(settings: TableSettings): TableSettings {
    return this.ownExpireAfter === undefined ? settings : { ...settings, expireAfter: this.ownExpireAfter };
  }

  /** The read failure currently in effect (cleared by the next good read). */
  get lastError(): StoreError | undefined {
    return this.failure;
  }

  /** Lines of the last good read that could not be used, with reasons. */
  get skipped(): readonly SkippedHeartbeatLine[] {
    return this.skippedLines;
  }

  /** Stop the view's timer (the file is only read on use). */
  close(): Promise<void> {
    this.stopTable();
    return Promise.resolve();
  }

  /** Check the file if due, before every read of the table. @internal */
  protected override sync(): void {
    this.refreshIfDue();
  }

  /** Apply a good read to the table: every line, and the end of lines that are gone. */
  private load(servers: readonly ServerStatus[]): void {
    const keys = new Set<string>();
    for (const server of servers) {
      const key = serverKey(server.ip, server.port, this.runningSettings.keyBy);
      keys.add(key);
      this.applyRecord(key, server);
    }
    for (const key of this.loadedKeys) if (!keys.has(key)) this.removeRecord(key);
    this.loadedKeys = keys;
  }

  /**
   * Check the file now, whatever the interval, and re-read it if it changed (synchronously,
   * within `maxFileBytes`). Picks call this only through the interval, and read changed
   * files over `syncReadBytes` in the background instead.
   */
  refresh(): void {
    this.check(Infinity);
  }

  /** Resolves once a background read in progress (if any) has finished. */
  async settled(): Promise<void> {
    await this.reading;
  }

  private refreshIfDue(): void {
    if (performance.now() - this.checkedAt >= this.checkInterval) this.check(this.syncReadBytes);
  }

  /** stat the path; re-read it when it changed: in line up to `syncLimit` bytes, else in the background. */
  private check(syncLimit: number): void {
    this.checkedAt = performance.now();
    let info: Stats;
    try {
      info = statSync(this.path);
    } catch (cause) {
      this.fail(cause);
      return;
    }
    if (this.signature !== undefined && sameFile(this.signature, info)) return;
    if (this.refused !== undefined && sameFile(this.refused, info)) return;
    const refusal = refusalOf(info, this.maxFileBytes);
    if (refusal !== undefined) {
      this.fail(new RefusedFileError(refusal, info));
      return;
    }
    // The first read is in line whatever the size (there is no view to serve meanwhile);
    // only re-reads of a large file go to the background.
    if (info.size <= syncLimit || !this.loaded) {
      try {
        this.apply(readBoundedSync(this.path, this.maxFileBytes));
      } catch (cause) {
        this.fail(cause);
      }
      return;
    }
    if (this.reading !== undefined) return;
    const reading = readBounded(this.path, this.maxFileBytes).then(
      (read) => this.apply(read),
      (cause: unknown) => this.fail(cause),
    );
    this.reading = reading;
    void reading.finally(() => {
      if (this.reading === reading) this.reading = undefined;
    });
  }

  private apply({ bytes, stats }: BoundedRead): void {
    const contents = parseHeartbeatFile(bytes, { writtenAt: Math.min(Math.floor(stats.mtimeMs), this.clock.now()) });
    this.signature = signatureOf(stats);
    this.loaded = true;
    this.refused = undefined;
    this.view = contents.servers;
    this.skippedLines = contents.skipped;
    this.failure = undefined;
    this.follow(contents.settings ?? TABLE_DEFAULTS);
    this.load(this.view);
    this.emit('change', this.view);
  }

  /** The file carries other settings than the table runs with: rebuild the table with them (load() then feeds it). */
  private follow(settings: TableSettings): void {
    if (this.restartTable(this.withOwnExpiry(settings))) this.loadedKeys = new Set();
  }

  private fail(cause: unknown): void {
    // Forget the signature so the file is re-read as soon as it is back, even unchanged;
    // remember a refused one so it is not read again while it stays the same.
    this.signature = undefined;
    this.refused = cause instanceof RefusedFileError ? signatureOf(cause.stats) : undefined;
    if (this.failure !== undefined) return;
    const what = cause instanceof RefusedFileError ? `Refused heartbeat file ${this.path}: ${cause.message}` : `Cannot read heartbeat file ${this.path}`;
    this.failure = new StoreError(`${what} (keeping the last ${this.view.length} servers read)`, { cause, path: this.path });
    try {
      this.emit('error', this.failure);
    } catch {
      // A throwing listener must not break the pick that ran the check.
    }
  }
}

function signatureOf(info: Stats): FileSignature {
  return { mtimeMs: info.mtimeMs, size: info.size, ino: info.ino };
}

function sameFile(known: FileSignature, info: Stats): boolean {
  return known.mtimeMs === info.mtimeMs && known.size === info.size && known.ino === info.ino;
}
