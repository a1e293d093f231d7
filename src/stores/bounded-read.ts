/**
 * Reading an hb.dat someone else may control: open without blocking, accept a regular file
 * only, and never read more than a bound. A FIFO would block the event loop at open, a link
 * to `/dev/zero` would read until memory runs out, and a huge file would stall every reader.
 * @module
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';

/** Default largest hb.dat read, in bytes: ~300,000 servers' lines, far above any real pool. */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;

/** O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** A file that was opened but refused (its kind or size); `stats` identifies it so an unchanged one is not read again. */
export class RefusedFileError extends Error {
  /** The refused file's stats (type, size, inode, mtime). */
  readonly stats: Stats;

  /**
   * @param reason - why, in words
   * @param stats - the file's stats
   */
  constructor(reason: string, stats: Stats) {
    super(reason);
    this.name = 'RefusedFileError';
    this.stats = stats;
  }
}

/** What a bounded read returns: the bytes and the stats of the descriptor they came from. */
export interface BoundedRead {
  readonly bytes: Buffer;
  readonly stats: Stats;
}

/**
 * Why `stats` may not be read as an hb.dat, or undefined when it may.
 * @internal
 */
export function refusalOf(stats: Stats, maxBytes: number): string | undefined {
  if (!stats.isFile()) return `not a regular file (${kindOf(stats)})`;
  if (stats.size > maxBytes) return `${stats.size} bytes, over the ${maxBytes}-byte limit (option maxFileBytes)`;
  return undefined;
}

/**
 * Read a regular file of at most `maxBytes`, synchronously.
 * @throws RefusedFileError for another kind of file or a larger one; the fs error otherwise
 */
export function readBoundedSync(path: string, maxBytes: number): BoundedRead {
  const descriptor = openSync(path, OPEN_FLAGS);
  try {
    const stats = fstatSync(descriptor);
    const refusal = refusalOf(stats, maxBytes);
    if (refusal !== undefined) throw new RefusedFileError(refusal, stats);
    // One byte over the bound tells a file that grew since fstat.
    const buffer = Buffer.allocUnsafe(Math.min(stats.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const read = readSync(descriptor, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length === buffer.length) {
        if (length > maxBytes) throw new RefusedFileError(`over the ${maxBytes}-byte limit (option maxFileBytes)`, stats);
        break;
      }
    }
    return { bytes: buffer.subarray(0, length), stats };
  } finally {
    closeSync(descriptor);
  }
}

/**
 * Read a regular file of at most `maxBytes` without blocking the event loop.
 * @throws RefusedFileError for another kind of file or a larger one; the fs error otherwise
 */
export async function readBounded(path: string, maxBytes: number): Promise<BoundedRead> {
  const handle = await open(path, OPEN_FLAGS);
  try {
    const stats = await handle.stat();
    const refusal = refusalOf(stats, maxBytes);
    if (refusal !== undefined) throw new RefusedFileError(refusal, stats);
    const buffer = Buffer.allocUnsafe(Math.min(stats.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) {
        if (length > maxBytes) throw new RefusedFileError(`over the ${maxBytes}-byte limit (option maxFileBytes)`, stats);
        break;
      }
    }
    return { bytes: buffer.subarray(0, length), stats };
  } finally {
    await handle.close();
  }
}

function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  if (stats.isDirectory()) return 'a directory';
  return 'not a file';
}
