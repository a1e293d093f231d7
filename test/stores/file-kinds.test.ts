// Issue 12, item 3: HeartbeatFileReader (and readHeartbeatFile) on paths that are not a
// regular file, or are huge: never block at open, never read without bound, remember a
// refused file, and never make a pick wait on a long re-read.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync, renameSync, utimesSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { HeartbeatFileReader, readHeartbeatFile, StoreError } from '../../src/index.js';

type Kind = 'fifo' | 'link-to-dev-zero' | 'char-device' | 'directory' | 'socket' | 'oversize-sparse' | 'missing' | 'dangling-link';
const KINDS: readonly Kind[] = ['fifo', 'link-to-dev-zero', 'char-device', 'directory', 'socket', 'oversize-sparse', 'missing', 'dangling-link'];
const GOOD = '127.0.0.2 &ready=8&busy=1&lastseen=0&port=80\n';
/** A cap small enough that the oversize case stays cheap, however the file is made. */
const CAP = 64 * 1024;

describe('HeartbeatFileReader on hostile file kinds', () => {
  let dir = '';
  const sockets: Server[] = [];
  let serial = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hm-kinds-'));
  });
  after(async () => {
    for (const server of sockets) await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Put a file of `kind` at a fresh path. */
  async function make(kind: Kind): Promise<string> {
    const path = join(dir, `hb-${serial++}.dat`);
    switch (kind) {
      case 'fifo':
        execFileSync('mkfifo', [path]);
        break;
      case 'link-to-dev-zero':
        symlinkSync('/dev/zero', path);
        break;
      case 'char-device':
        symlinkSync('/dev/null', path);
        break;
      case 'directory':
        mkdirSync(path);
        break;
      case 'socket': {
        const server = createServer();
        sockets.push(server);
        await new Promise<void>((resolve) => server.listen(path, resolve));
        break;
      }
      case 'oversize-sparse':
        writeFileSync(path, GOOD);
        truncateSync(path, 600 * 1024 * 1024); // 600 MB, sparse: costs nothing unless read
        break;
      case 'missing':
        break;
      case 'dangling-link':
        symlinkSync(join(dir, 'nowhere'), path);
        break;
    }
    return path;
  }

  it('property: any hostile kind is refused at once, reported once, and the last good view is kept', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...KINDS), fc.integer({ min: 1, max: 50 }), async (kind, picks) => {
        const path = await make(kind);
        const good = `${path}.good`;
        writeFileSync(good, GOOD);
        // Start from a good file, then the path turns hostile (renamed over it, as an attacker could).
        const hostile = `${path}.hostile`;
        if (kind !== 'missing') renameSync(path, hostile);
        renameSync(good, path);
        const reader = new HeartbeatFileReader({ path, checkInterval: 0, maxFileBytes: CAP });
        const errors: StoreError[] = [];
        reader.on('error', (error) => errors.push(error));
        assert.equal(reader.pickBackend()?.ip, '127.0.0.2');
        rmSync(path);
        if (kind !== 'missing') renameSync(hostile, path);
        const started = Date.now();
        for (let i = 0; i < picks; i++) assert.equal(reader.pickBackend()?.ip, '127.0.0.2', `${kind}: last good view`);
        assert.ok(Date.now() - started < 2000, `${kind}: ${picks} picks took ${Date.now() - started} ms`);
        assert.equal(errors.length, 1, `${kind}: reported once`);
        assert.ok(errors[0] instanceof StoreError);
        // Back to a good file: read again.
        rmSync(path, { recursive: true, force: true });
        writeFileSync(path, GOOD.replace('ready=8', 'ready=9'));
        assert.equal(reader.servers()[0]?.ready, 9, `${kind}: recovered`);
        assert.equal(reader.lastError, undefined);
      }),
      { numRuns: 24 },
    );
  });

  it('does not read a refused file again while it is unchanged', () => {
    const path = join(dir, 'grows.dat');
    writeFileSync(path, GOOD.repeat(2000)); // ~90 KB, over the cap
    const reader = new HeartbeatFileReader({ path, checkInterval: 0, maxFileBytes: CAP });
    const errors: StoreError[] = [];
    reader.on('error', (error) => errors.push(error));
    for (let i = 0; i < 100; i++) assert.equal(reader.pickBackend(), undefined);
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /over the 65536-byte limit/);
    assert.notEqual((reader as unknown as { refused: unknown }).refused, undefined, 'the refused file is remembered');
    // Changed (and now small): read at once.
    writeFileSync(path, GOOD);
    utimesSync(path, new Date(), new Date(Date.now() + 1000));
    assert.equal(reader.pickBackend()?.ip, '127.0.0.2');
  });

  it('reads a changed file over syncReadBytes in the background; picks keep the last view meanwhile', async () => {
    const path = join(dir, 'large.dat');
    writeFileSync(path, GOOD);
    const reader = new HeartbeatFileReader({ path, checkInterval: 0, syncReadBytes: 1000 });
    assert.equal(reader.pickBackend()?.ip, '127.0.0.2');
    const lines = Array.from({ length: 500 }, (_, i) => `10.1.${i >> 8}.${i & 255} &ready=5&busy=1&lastseen=0&port=80\n`).join('');
    writeFileSync(`${path}.new`, lines);
    renameSync(`${path}.new`, path);
    assert.equal(reader.pickBackend()?.ip, '127.0.0.2', 'the pick did not wait for the re-read');
    await reader.settled();
    assert.equal(reader.servers().length, 500);
    assert.notEqual(reader.pickBackend()?.ip, '127.0.0.2');
  });

  it('reads a large file at once the first time (no view to serve yet)', () => {
    const path = join(dir, 'large-first.dat');
    writeFileSync(path, Array.from({ length: 500 }, (_, i) => `10.2.${i >> 8}.${i & 255} &ready=5&busy=1&lastseen=0&port=80\n`).join(''));
    const reader = new HeartbeatFileReader({ path, checkInterval: 0, syncReadBytes: 1000 });
    assert.equal(reader.servers().length, 500);
    assert.notEqual(reader.pickBackend(), undefined);
  });

  it('readHeartbeatFile refuses the same kinds with a StoreError instead of hanging', async () => {
    for (const kind of KINDS) {
      const path = await make(kind);
      await assert.rejects(readHeartbeatFile(path, { maxFileBytes: CAP }), StoreError, kind);
    }
  });
});
