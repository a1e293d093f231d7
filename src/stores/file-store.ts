/**
 * FileStore: the table in memory, written as Apache's hb.dat (SPEC 1.6) so that
 * mod_lbmethod_heartbeat, our {@link HeartbeatFileReader} or any other process can read it.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Clock } from '../clock.js';
import { StoreError } from '../errors.js';
import { formatHeartbeatFile, formatSettingsLine } from './hb-file.js';
import { isIpLiteral } from '../protocol/address.js';
import { heardWithin } from '../picking/freshness.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { checkSameSettings, checkTableOverrides, TABLE_DEFAULTS, type TableSettings } from '../table/settings.js';
import { expectClock, expectInteger, expectObject, expectString } from '../validate.js';
import { MemoryStore } from './memory-store.js';
import { HeartbeatFileReader, type HeartbeatFileReaderOptions } from '../views/file-reader.js';
import type { HeartbeatStore, StoreSettings } from './store.js';

/** Apache's file mode for hb.dat: read-only for everyone. */
export const DEFAULT_FILE_MODE = 0o444;
/** A temp file older than this at start-up was left by a crashed writer. */
const STALE_TEMP_AGE_MS = 10_000;
/** `<name>.tmp.XXXXXX`, the shape apr_file_mktemp gives and we give. */
const TEMP_SUFFIX = /^\.tmp\.[A-Za-z0-9_-]{6}$/;

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** The hb.dat path (`HeartbeatStorage`); a relative path resolves against the cwd now. */
  readonly path: string;
  /**
   * Most servers held at once; heartbeats of further new servers are refused.
   * @default 10000
   */
  readonly maxServers?: number;
  /**
   * Servers whose last heartbeat is this many ms old are left out of the file. A
   * HeartMonitor given the store sets it (and the other table settings) to its own; one
   * given here that differs from the monitor's makes the monitor's constructor throw.
   * @default 30000
   */
  readonly expireAfter?: number;
  /**
   * File mode of the written file (set on the open temp file, so the umask does not narrow it).
   * @default 0o444
   */
  readonly mode?: number;
  /**
   * Wall clock for `lastseen` (inject a fake one in tests).
   * @default Date.now
   */
  readonly clock?: Pick<Clock, 'now'>;
}

/**
 * Keeps servers in memory and writes them as hb.dat on every `flush()` (the monitor calls
 * it every `flushInterval`) and on `close()`. Each write goes to `<path>.tmp.XXXXXX` in the
 * same directory, gets mode 0444 and is renamed over `<path>`, so a reader sees the old
 * file or the new one, never a partial one. Writes never overlap: a flush requested
 * during a write runs after it, with the newest table. A failed write rejects with a
 * {@link StoreError} naming the path and cause and leaves no temp file behind; the next
 * flush retries.
 *
 * The file starts with a settings line, `# heartmonitor keyBy=… staleAfter=… expireAfter=…
 * warmupDivisor=…` (see {@link formatSettingsLine}): the settings of the monitor that owns
 * the store (Apache's defaults, with this store's `expireAfter`, until a monitor adopts
 * it), so our readers balance as the monitor does. Apache skips it as a comment.
 *
 * @example
 * ```ts
 * const monitor = new HeartMonitor({ listen: '239.0.0.1:27999', store: new FileStore({ path: '/run/hb/hb.dat' }) });
 * ```
 */
export class FileStore implements HeartbeatStore {
  /** Absolute path of the hb.dat file. */
  readonly path: string;
  /** Capacity in servers. */
  readonly maxServers: number;
  /** The table settings written into the file's settings line (the monitor's, once a monitor adopted the store). */
  private current: TableSettings;
  /** The settings given to the constructor or adopted from a monitor: a monitor must agree with these. */
  private fixed: Partial<TableSettings>;
  private readonly mode: number;
  private readonly clock: Pick<Clock, 'now'>;
  /** The bounded table itself; this class adds only the file. */
  private readonly table: MemoryStore;
  private writing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private cleaned = false;

  /** @param options - path and limits; invalid values throw TypeError/RangeError */
  constructor(options: FileStoreOptions) {
    expectObject('options', options, 'an object with a `path`');
    this.path = resolve(expectString('path', options.path));
    this.table = new MemoryStore({ maxServers: options.maxServers });
    this.maxServers = this.table.maxServers;
    this.fixed = checkTableOverrides({ expireAfter: options.expireAfter });
    this.current = { ...TABLE_DEFAULTS, expireAfter: this.fixed.expireAfter ?? TABLE_DEFAULTS.expireAfter, staleAfter: Math.min(TABLE_DEFAULTS.staleAfter, this.fixed.expireAfter ?? Infinity) };
    this.mode = expectInteger('mode', options.mode ?? DEFAULT_FILE_MODE, 0, 0o777);
    this.clock = options.clock === undefined ? { now: Date.now } : expectClock('clock', options.clock, 'optional');
  }

  /**
   * A reader of an hb.dat for another process (or this one): `servers()` and
   * `pickBackend(members?)`, re-reading the file only when it changed.
   *
   * @param path - the hb.dat to read
   * @param options - check interval, selection parameters, error callback
   */
  static open(path: string, options: Omit<HeartbeatFileReaderOptions, 'path'> = {}): HeartbeatFileReader {
    return new HeartbeatFileReader({ ...options, path });
  }

  /** Servers older than this many ms are not written. */
  get expireAfter(): number {
    return this.current.expireAfter;
  }

  /** The table settings the file's settings line carries. */
  get settings(): TableSettings {
    return this.current;
  }

  /**
   * Take the monitor's table settings (`HeartMonitor` calls it at construction): they go
   * into the settings line of every write from now on, and `expireAfter` decides which
   * servers are written. The file shares no failures, so `failures` is not taken.
   * @throws RangeError when `expireAfter` was given to this store, or adopted from another
   * monitor, with a different value (naming both)
   */
  adoptSettings(settings: StoreSettings): void {
    checkSameSettings('FileStore', this.fixed, settings);
    const { staleAfter, expireAfter, warmupDivisor, keyBy } = settings;
    this.current = { staleAfter, expireAfter, warmupDivisor, keyBy };
    this.fixed = this.current;
  }

  /** Number of servers held in memory. */
  get size(): number {
    return this.table.size;
  }

  /** {@inheritDoc HeartbeatStore.put} */
  put(server: ServerStatus, key?: string): boolean {
    // Defence in depth: a server that is not an IP literal would become a forged hb.dat line.
    if (!isIpLiteral(server.ip)) throw new TypeError(`FileStore refuses a server whose ip is not an IP literal: ${JSON.stringify(String(server.ip)).slice(0, 80)}`);
    return this.table.put(server, key);
  }

  /** {@inheritDoc HeartbeatStore.delete} */
  delete(key: string): boolean {
    return this.table.delete(key);
  }

  /** {@inheritDoc HeartbeatStore.servers} */
  servers(): ServerStatus[] {
    return this.table.servers();
  }

  /**
   * Write the table to the file now (or right after the write in progress).
   * @throws StoreError naming the path and the cause (ENOTDIR, EACCES, ENOSPC…)
   */
  flush(): Promise<void> {
    // Callers arriving while a write is queued share it: it snapshots the table when it starts.
    if (this.queued !== undefined) return this.queued;
    const previous = this.writing;
    const next = (async (): Promise<void> => {
      await previous?.catch(() => undefined);
      this.queued = undefined;
      await this.write();
    })();
    this.queued = next;
    this.writing = next;
    void next.then(
      () => this.settle(next),
      () => this.settle(next),
    );
    return next;
  }

  /** Write a final time and wait for it; the store may be used again afterwards. */
  close(): Promise<void> {
    return this.flush();
  }

  /**
   * Check, without touching the file, that it can be written: its directory exists or can
   * be made, and a temp file can be created there (and is removed at once). The CLI calls
   * it at start-up so a bad `--storage` fails at once instead of at the first flush.
   * @throws StoreError naming the path and the cause
   */
  async checkWritable(): Promise<void> {
    const probe = `${this.path}.tmp.${randomBytes(6).toString('base64url').slice(0, 6)}`;
    try {
      await makeDirectory(dirname(this.path));
      const handle = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, this.mode);
      await handle.close();
      await unlink(probe);
    } catch (cause) {
      await rm(probe, { force: true }).catch(() => undefined);
      throw new StoreError(`Cannot write heartbeat file ${this.path}`, { cause, path: this.path });
    }
  }

  private settle(done: Promise<void>): void {
    if (this.writing === done) this.writing = undefined;
  }

  private async write(): Promise<void> {
    const now = this.clock.now();
    const live = this.table.servers().filter((server) => heardWithin(server.lastSeen, now, this.expireAfter) && isIpLiteral(server.ip));
    const temp = `${this.path}.tmp.${randomBytes(6).toString('base64url').slice(0, 6)}`;
    try {
      await makeDirectory(dirname(this.path));
      if (!this.cleaned) {
        await this.removeStaleTempFiles();
        this.cleaned = true;
      }
      // Create the temp file exclusively and never through a link; set its mode on the
      // handle: a chmod by path would follow a link swapped in meanwhile (a world-writable
      // directory) and change the mode of whatever it points to.
      const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, this.mode);
      try {
        // Chunk by chunk, each formatted only when written, so the event loop runs in between.
        for (const chunk of fileChunks(live, now, this.current)) await handle.writeFile(chunk);
        await handle.chmod(this.mode);
      } finally {
        await handle.close();
      }
      await rename(temp, this.path);
    } catch (cause) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw new StoreError(`Cannot write heartbeat file ${this.path}`, { cause, path: this.path });
    }
  }

  /**
   * Temp files of a writer that crashed between create and rename would pile up otherwise.
   * Best effort: a directory we may write into but not list must not stop the writes.
   */
  private async removeStaleTempFiles(): Promise<void> {
    const directory = dirname(this.path);
    const name = basename(this.path);
    const now = Date.now();
    for (const entry of await readdir(directory).catch((): string[] => [])) {
      if (!entry.startsWith(name) || !TEMP_SUFFIX.test(entry.slice(name.length))) continue;
      const file = join(directory, entry);
      // A young temp file may belong to another live writer; only old ones are debris.
      const info = await lstat(file).catch(() => undefined);
      if (info !== undefined && now - info.mtimeMs >= STALE_TEMP_AGE_MS) await rm(file, { force: true }).catch(() => undefined);
    }
  }
}

/** Deepest directory chain made for a path: a bound, so no file system can make it spin. */
const MAX_DIRECTORY_DEPTH = 64;

/**
 * `mkdir -p` with a bound (a link to a directory counts as one). Node's `mkdir(…, { recursive: true })` retries forever where
 * mkdir keeps failing with ENOENT although the parent exists (under /proc, for example).
 */
async function makeDirectory(directory: string, depth = 0): Promise<void> {
  try {
    await mkdir(directory);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await stat(directory).catch(() => undefined))?.isDirectory() === true) return;
      throw Object.assign(new Error(`ENOTDIR: not a directory, ${directory}`), { code: 'ENOTDIR', path: directory });
    }
    const parent = dirname(directory);
    if (code !== 'ENOENT' || parent === directory || depth >= MAX_DIRECTORY_DEPTH) throw error;
  }
  await makeDirectory(dirname(directory), depth + 1);
  // Once more only: a second ENOENT means this file system will not make it.
  await mkdir(directory).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST' || (await stat(directory).catch(() => undefined))?.isDirectory() !== true) throw error;
  });
}

/** Lines per chunk of a write: formatting 100,000 lines at once blocked the event loop for 100s of ms. */
const CHUNK_LINES = 1000;

/** The file's text in chunks, each formatted only when it is written: the settings line first. */
function* fileChunks(servers: readonly ServerStatus[], now: number, settings: TableSettings): Generator<string> {
  yield formatSettingsLine(settings);
  for (let i = 0; i < servers.length; i += CHUNK_LINES) yield formatHeartbeatFile(servers.slice(i, i + CHUNK_LINES), now);
}
