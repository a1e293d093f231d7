/**
 * FileStore (SPEC 1.6): the written file, its mode, atomic replacement under a concurrent
 * reader, failures reported through the monitor, expiry and temp-file hygiene.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileStore, HeartMonitor, StoreError, type ServerStatus } from '../../src/index.js';
import { waitFor } from '../helpers/wait.js';
import { server, tempDir } from './helpers.js';

const NOW = 1_700_000_000_000;
const fixedClock = { now: () => NOW };
const tempFiles = (dir: string): string[] => readdirSync(dir).filter((name) => name.includes('.tmp.'));
/** The settings line a FileStore without a monitor writes first (Apache's defaults). */
const SETTINGS = '# heartmonitor keyBy=ip staleAfter=10000 expireAfter=30000 warmupDivisor=4\n';

describe('FileStore writes hb.dat', () => {
  it('writes its settings line, then exactly Apache’s lines, creating the parent directory', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'logs', 'nested', 'hb.dat');
      const store = new FileStore({ path, clock: fixedClock });
      store.put({ ip: '127.0.0.1', port: 80, ready: 75, busy: 0, lastSeen: NOW - 1000 });
      store.put({ ip: '::1', port: 8080, ready: 3, busy: 9, lastSeen: NOW - 4200 });
      await store.flush();
      assert.deepEqual(readFileSync(path), Buffer.from(SETTINGS + '127.0.0.1 &ready=75&busy=0&lastseen=1&port=80\n::1 &ready=3&busy=9&lastseen=4&port=8080\n'));
      assert.deepEqual(tempFiles(join(dir, 'logs', 'nested')), []);
    } finally {
      remove();
    }
  });

  it('gives the file mode 0444 whatever the umask', async () => {
    const { dir, remove } = tempDir();
    const umask = process.umask(0o077);
    try {
      const path = join(dir, 'hb.dat');
      const store = new FileStore({ path });
      store.put(server('10.0.0.1'));
      await store.flush();
      assert.equal(statSync(path).mode & 0o777, 0o444);
      // A second write replaces the read-only file (rename needs only the directory).
      store.put(server('10.0.0.2'));
      await store.flush();
      assert.equal(statSync(path).mode & 0o777, 0o444);
      assert.equal(readFileSync(path, 'utf8').split('\n').length - 1, 3);
    } finally {
      process.umask(umask);
      remove();
    }
  });

  it('leaves out servers older than expireAfter', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'hb.dat');
      const store = new FileStore({ path, clock: fixedClock, expireAfter: 30_000 });
      store.put({ ip: '10.0.0.1', port: 80, ready: 1, busy: 1, lastSeen: NOW - 29_999 });
      store.put({ ip: '10.0.0.2', port: 80, ready: 1, busy: 1, lastSeen: NOW - 30_000 });
      await store.flush();
      assert.equal(readFileSync(path, 'utf8'), SETTINGS + '10.0.0.1 &ready=1&busy=1&lastseen=29&port=80\n');
      // Still held in memory: expiry of the table is the monitor's job.
      assert.equal(store.servers().length, 2);
    } finally {
      remove();
    }
  });

  it('serialises concurrent flushes and ends with the newest table', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'hb.dat');
      const store = new FileStore({ path, clock: fixedClock });
      const flushes: Promise<void>[] = [];
      for (let ready = 0; ready < 50; ready++) {
        store.put({ ip: '10.0.0.1', port: 80, ready, busy: 1, lastSeen: NOW });
        flushes.push(store.flush());
      }
      await Promise.all(flushes);
      assert.equal(readFileSync(path, 'utf8'), SETTINGS + '10.0.0.1 &ready=49&busy=1&lastseen=0&port=80\n');
      assert.deepEqual(tempFiles(dir), []);
    } finally {
      remove();
    }
  });

  it('removes temp files a crashed writer left, but not young ones or other files', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'hb.dat');
      const old = new Date(Date.now() - 60_000);
      for (const name of ['hb.dat.tmp.aB3x_9', 'hb.dat.tmp.young1', 'hb.dat.tmp.toolong1', 'other.tmp.abcdef']) {
        writeFileSync(join(dir, name), 'x');
        if (name !== 'hb.dat.tmp.young1') utimesSync(join(dir, name), old, old);
      }
      const store = new FileStore({ path });
      await store.flush();
      assert.deepEqual(readdirSync(dir).sort(), ['hb.dat', 'hb.dat.tmp.toolong1', 'hb.dat.tmp.young1', 'other.tmp.abcdef']);
    } finally {
      remove();
    }
  });

  it('never lets a concurrent reader in another process see a partial file', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'hb.dat');
      const store = new FileStore({ path });
      const servers = 40;
      const put = (round: number): void => {
        // Counts of varying width change the file size on every round.
        for (let i = 0; i < servers; i++) store.put(server(`10.0.${i}.1`, { ready: (round * 7919 + i) % 100_000, busy: round % 13 }));
      };
      put(0);
      await store.flush();
      // The reader checks every read: right line count, every line complete.
      const reader = `
        const { readFileSync } = require('node:fs');
        const line = /^10\\.0\\.\\d+\\.1 &ready=\\d+&busy=\\d+&lastseen=\\d+&port=80$/;
        const deadline = Date.now() + 20000;
        let reads = 0, partial = 0, missing = 0, last = '';
        const versions = new Set();
        while ((reads < 5000 || versions.size < 50) && Date.now() < deadline) {
          let text;
          try { text = readFileSync(process.argv[1], 'utf8'); } catch { missing++; continue; }
          reads++;
          const lines = text.split('\\n');
          if (lines.pop() !== '' || lines.shift() !== ${JSON.stringify(SETTINGS.trim())} || lines.length !== ${servers} || !lines.every((l) => line.test(l))) partial++;
          if (text !== last) { versions.add(text.length + ':' + versions.size); last = text; }
        }
        process.stdout.write(JSON.stringify({ reads, partial, missing, versions: versions.size }));
      `;
      const child = spawn(process.execPath, ['-e', reader, path], { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      let running = true;
      void exited.then(() => (running = false));
      let rounds = 0;
      try {
        while (running && rounds < 20_000) {
          put(++rounds);
          await store.flush();
        }
      } finally {
        if (running && child.pid !== undefined) process.kill(child.pid);
      }
      assert.equal(await exited, 0);
      const result = JSON.parse(output) as { reads: number; partial: number; missing: number; versions: number };
      assert.ok(result.reads >= 1000, `only ${result.reads} reads`);
      assert.ok(result.versions >= 10, `reader saw only ${result.versions} versions in ${rounds} flushes`);
      assert.equal(result.partial, 0);
      assert.equal(result.missing, 0);
      assert.deepEqual(tempFiles(dir), []);
    } finally {
      remove();
    }
  });

  it('rejects with a StoreError and removes its temp file when the rename fails', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'hb.dat');
      mkdirSync(join(path, 'occupied'), { recursive: true }); // a non-empty directory where the file should be
      const store = new FileStore({ path });
      store.put(server('10.0.0.1'));
      await assert.rejects(store.flush(), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.equal(error.path, path);
        assert.ok(error.message.includes(path), error.message);
        assert.match(error.message, /E(ISDIR|NOTEMPTY|EXIST)/);
        return true;
      });
      assert.deepEqual(tempFiles(dir), []);
    } finally {
      remove();
    }
  });

  it('rejects bad options naming the option', () => {
    assert.throws(() => new FileStore({} as { path: string }), { name: 'TypeError', message: /`path`/ });
    assert.throws(() => new FileStore({ path: 'x', maxServers: 0 }), { name: 'RangeError', message: /`maxServers`/ });
    assert.throws(() => new FileStore({ path: 'x', mode: 0o1000 }), { name: 'RangeError', message: /`mode`/ });
  });
});

describe('HeartMonitor with file storage', () => {
  it('reports an unwritable path through `error`, keeps serving, and recovers once writable', async () => {
    const { dir, remove } = tempDir();
    const monitor = new HeartMonitor({ maxServers: 0, root: dir, storage: 'blocker/hb.dat', flushInterval: 20 });
    try {
      // As root permission bits stop nothing: a regular file where the directory should be does.
      writeFileSync(join(dir, 'blocker'), 'not a directory');
      const errors: Error[] = [];
      monitor.on('error', (error) => errors.push(error));
      assert.equal(monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.1' }), true);
      await waitFor('two flush errors', () => errors.length >= 2, { timeoutMs: 5000 });
      const [first] = errors;
      assert.ok(first instanceof StoreError);
      assert.equal(first.path, join(dir, 'blocker', 'hb.dat'));
      assert.match(first.message, /ENOTDIR|EEXIST/);
      // Still serving from memory.
      assert.equal(monitor.ingest('v=1&ready=9&busy=2', { address: '10.0.0.2' }), true);
      assert.ok(monitor.pickBackend() !== undefined);
      assert.deepEqual(monitor.pickBackend(['http://10.0.0.1:80']), 'http://10.0.0.1:80');

      rmSync(join(dir, 'blocker'));
      mkdirSync(join(dir, 'blocker'));
      const path = join(dir, 'blocker', 'hb.dat');
      await waitFor('the file to be written after recovery', () => {
        try {
          return readFileSync(path, 'utf8').split('\n').length === 4;
        } catch {
          return false;
        }
      }, { timeoutMs: 5000 });
      assert.match(readFileSync(path, 'utf8'), /^# heartmonitor keyBy=ip staleAfter=10000 expireAfter=30000 warmupDivisor=4\n10\.0\.0\.1 &ready=8&busy=2&lastseen=0&port=80&inrotationms=\d+\n10\.0\.0\.2 &ready=9&busy=2&lastseen=0&port=80&inrotationms=\d+\n$/);
      assert.deepEqual(tempFiles(join(dir, 'blocker')), []);
    } finally {
      await monitor.close();
      remove();
    }
  });

  it('drops an expired server from the file and writes on close', async () => {
    const { dir, remove } = tempDir();
    const monitor = new HeartMonitor({ maxServers: 0, storage: join(dir, 'hb.dat'), flushInterval: 10, staleAfter: 300, expireAfter: 1000 });
    try {
      const removed: ServerStatus[] = [];
      monitor.on('remove', (s) => removed.push(s));
      monitor.ingest('v=1&ready=8&busy=2', { address: '10.0.0.1' });
      const path = join(dir, 'hb.dat');
      await waitFor('the first write', () => {
        try {
          return readFileSync(path, 'utf8').includes('\n10.0.0.1 ');
        } catch {
          return false;
        }
      }, { timeoutMs: 5000 });
      // Keep 10.0.0.2 alive while 10.0.0.1 expires.
      const keepAlive = setInterval(() => monitor.ingest('v=1&ready=3&busy=1', { address: '10.0.0.2' }), 10);
      try {
        await waitFor('the remove event', () => removed.some((s) => s.ip === '10.0.0.1'), { timeoutMs: 5000 });
        await waitFor('10.0.0.1 to leave the file', () => !readFileSync(path, 'utf8').includes('10.0.0.1 '), { timeoutMs: 5000 });
      } finally {
        clearInterval(keepAlive);
      }
      // The monitor's own settings head the file.
      assert.match(readFileSync(path, 'utf8'), /^# heartmonitor keyBy=ip staleAfter=300 expireAfter=1000 warmupDivisor=4\n10\.0\.0\.2 &ready=3&busy=1&lastseen=0&port=80&inrotationms=\d+\n$/);
      monitor.ingest('v=1&ready=4&busy=4', { address: '10.0.0.3' });
      await monitor.close();
      assert.match(readFileSync(path, 'utf8'), /10\.0\.0\.3 &ready=4&busy=4&lastseen=0&port=80&inrotationms=\d+\n/);
      assert.deepEqual(tempFiles(dir), []);
    } finally {
      await monitor.close();
      remove();
    }
  });
});
