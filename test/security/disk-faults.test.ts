import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileStore, HeartMonitor, StoreError } from '../../src/index.js';
import { IN_NETNS, netnsUnavailable, runInNamespace } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const FLUSH_MS = 40;

/** Resolve with the next `error` the monitor emits (rejecting after `ms`). */
function nextError(monitor: HeartMonitor, ms = 5000): Promise<Error> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no error event within ${ms} ms`)), ms);
    monitor.once('error', (error) => {
      clearTimeout(timer);
      resolve(error);
    });
  });
}

/**
 * A monitor writing hb.dat at `path` every FLUSH_MS: the fault set up by `breakIt` is
 * reported through `error` with the path and one of `expectedCodes`, serving continues, and once
 * `repair` runs the file is written again with every server.
 */
async function faultAndRecover(path: string, expectedCodes: readonly string[], breakIt: () => Promise<void>, repair: () => Promise<void>): Promise<void> {
  await breakIt();
  const store = new FileStore({ path });
  const monitor = new HeartMonitor({ store, flushInterval: FLUSH_MS });
  try {
    const failure = nextError(monitor);
    for (let i = 1; i <= 3; i++) assert.ok(monitor.ingest(`v=1&ready=${i * 10}&busy=1`, { address: `10.0.0.${i}` }));
    const error = await failure;
    assert.ok(error instanceof StoreError, `a StoreError, got ${String(error)}`);
    assert.equal(error.code, 'HM_STORE_ERROR');
    assert.equal(error.path, store.path);
    assert.ok(error.message.includes(store.path), error.message);
    assert.ok(expectedCodes.includes((error.cause as NodeJS.ErrnoException).code ?? ''), error.message);
    // Serving continues while the disk is broken.
    assert.ok(monitor.ingest('v=1&ready=40&busy=1', { address: '10.0.0.4' }));
    assert.ok(monitor.pickBackend() !== undefined);
    assert.equal(monitor.servers().length, 4);

    await repair();
    await waitFor('hb.dat to be written after the repair', async () => (await readFile(path, 'utf8').catch(() => '')).split('\n').length === 6, { timeoutMs: 5000 });
    const text = await readFile(path, 'utf8');
    // The settings line, then the four servers.
    assert.ok(text.startsWith('# heartmonitor '), text);
    assert.match(text, /^10\.0\.0\.1 &ready=10&busy=1&lastseen=\d+&port=80&inrotationms=\d+$/m);
    assert.match(text, /^10\.0\.0\.4 &ready=40&busy=1&lastseen=\d+&port=80&inrotationms=\d+$/m);
  } finally {
    await monitor.close();
  }
}

if (!IN_NETNS) {
  describe('disk faults (any user)', () => {
    let dir = '';
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'hm-security-disk-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('a parent that is a regular file: error with path and cause, serving continues, recovery once it is a directory', async () => {
      const parent = join(dir, 'not-a-dir');
      await faultAndRecover(
        join(parent, 'hb.dat'),
        ['ENOTDIR', 'EEXIST'],
        () => writeFile(parent, 'a file where the directory should be'),
        async () => {
          await rm(parent);
          await mkdir(parent);
        },
      );
      assert.deepEqual((await readdir(parent)).filter((n) => n.includes('.tmp.')), [], 'no temp file left');
    });
  });

  describe('disk faults on a small tmpfs (root, private mount namespace)', () => {
    const why = netnsUnavailable();
    it('full and read-only filesystems', { skip: why, timeout: 120_000 }, async () => {
      const { code, output } = await runInNamespace(import.meta.url, ['-m', '-n']);
      assert.equal(code, 0, output);
    });
  });
} else {
  describe('inside a private mount namespace', () => {
    let mountPoint = '';
    before(async () => {
      mountPoint = await mkdtemp(join(tmpdir(), 'hm-security-tmpfs-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint]);
    });
    after(async () => {
      execFileSync('umount', [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    });

    it('a full filesystem: ENOSPC reported with the path, serving continues, recovery once space is freed', async () => {
      const filler = join(mountPoint, 'filler');
      await faultAndRecover(
        join(mountPoint, 'full', 'hb.dat'),
        ['ENOSPC'],
        async () => {
          await mkdir(join(mountPoint, 'full'));
          // Fill the filesystem to the last block.
          await writeFile(filler, Buffer.alloc(1024 * 1024)).catch((error: NodeJS.ErrnoException) => assert.equal(error.code, 'ENOSPC'));
        },
        () => rm(filler),
      );
      assert.deepEqual((await readdir(join(mountPoint, 'full'))).filter((n) => n.includes('.tmp.')), [], 'no temp file left');
    });

    it('a read-only filesystem: EROFS reported with the path, serving continues, recovery once remounted rw', async () => {
      await faultAndRecover(
        join(mountPoint, 'hb.dat'),
        ['EROFS'],
        () => Promise.resolve(void execFileSync('mount', ['-o', 'remount,ro', mountPoint])),
        () => Promise.resolve(void execFileSync('mount', ['-o', 'remount,rw', mountPoint])),
      );
    });
  });
}
