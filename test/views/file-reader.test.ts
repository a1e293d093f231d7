/**
 * HeartbeatFileReader: re-reads only on change, ages by the file's mtime, survives a
 * vanished file (reporting it once), still expires entries, and picks like the pure
 * function.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, renameSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { FileStore, HeartbeatFileReader, HeartMonitor, pickBackend, StoreError, type ServerStatus } from '../../src/index.js';
import { seededRandom } from '../helpers/random.js';
import { server, tempDir } from '../stores/helpers.js';

function withDir(run: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const { dir, remove } = tempDir();
    try {
      await run(dir);
    } finally {
      remove();
    }
  };
}

describe('HeartbeatFileReader', () => {
  it(
    'reads the file once and again only when it changed',
    withDir(async (dir) => {
      const path = join(dir, 'hb.dat');
      const store = new FileStore({ path });
      store.put(server('10.0.0.1', { ready: 5 }));
      await store.flush();
      const reader = FileStore.open(path, { checkInterval: 0 });
      assert.ok(reader instanceof HeartbeatFileReader);
      const changes: ServerStatus[][] = [];
      reader.on('change', (servers) => changes.push(servers));
      assert.equal(reader.servers()[0]?.ready, 5);
      reader.servers();
      reader.pickBackend();
      assert.equal(changes.length, 1);
      store.put(server('10.0.0.1', { ready: 6 }));
      await store.flush();
      assert.equal(reader.servers()[0]?.ready, 6);
      assert.equal(changes.length, 2);
    }),
  );

  it(
    'checks the file at most every checkInterval ms; refresh() checks at once',
    withDir((dir) => {
      const path = join(dir, 'hb.dat');
      writeFileSync(path, '10.0.0.1 &ready=5&busy=1&lastseen=0&port=80\n');
      const reader = new HeartbeatFileReader({ path, checkInterval: 3_600_000 });
      assert.equal(reader.servers()[0]?.ready, 5);
      writeFileSync(join(dir, 'next'), '10.0.0.1 &ready=7&busy=1&lastseen=0&port=80\n');
      renameSync(join(dir, 'next'), path);
      assert.equal(reader.servers()[0]?.ready, 5);
      reader.refresh();
      assert.equal(reader.servers()[0]?.ready, 7);
    }),
  );

  it(
    'keeps its last good view when the file vanishes, reports that once per outage, and recovers',
    withDir((dir) => {
      const path = join(dir, 'hb.dat');
      writeFileSync(path, '10.0.0.1 &ready=5&busy=1&lastseen=0&port=80\n');
      const reader = new HeartbeatFileReader({ path, checkInterval: 0 });
      const errors: StoreError[] = [];
      reader.on('error', (error) => errors.push(error));
      assert.equal(reader.servers().length, 1);
      unlinkSync(path);
      for (let i = 0; i < 5; i++) {
        assert.equal(reader.servers().length, 1);
        assert.equal(reader.pickBackend(['http://10.0.0.1:80']), 'http://10.0.0.1:80');
      }
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof StoreError);
      assert.equal(errors[0].path, path);
      assert.match(errors[0].message, /ENOENT/);
      assert.equal(reader.lastError, errors[0]);

      writeFileSync(path, '10.0.0.2 &ready=5&busy=1&lastseen=0&port=80\n');
      assert.deepEqual(
        reader.servers().map((s) => s.ip),
        ['10.0.0.2'],
      );
      assert.equal(reader.lastError, undefined);
      unlinkSync(path);
      reader.servers();
      reader.servers();
      assert.equal(errors.length, 2);
    }),
  );

  it(
    'still expires entries of a view it can no longer refresh',
    withDir((dir) => {
      const path = join(dir, 'hb.dat');
      writeFileSync(path, '10.0.0.1 &ready=5&busy=1&lastseen=0&port=80\n');
      let now = Date.now();
      const reader = new HeartbeatFileReader({ path, checkInterval: 0, clock: { now: () => now } });
      reader.on('error', () => undefined);
      assert.equal(reader.servers().length, 1);
      unlinkSync(path);
      now += 10_000;
      assert.equal(reader.servers().length, 1);
      assert.equal(reader.pickBackend(), undefined, 'stale after 10 s');
      now += 20_000;
      assert.deepEqual(reader.servers(), [], 'expired after 30 s');
    }),
  );

  it(
    'ages a frozen file by its mtime instead of trusting it forever',
    withDir((dir) => {
      const path = join(dir, 'hb.dat');
      writeFileSync(path, '10.0.0.1 &ready=5&busy=1&lastseen=0&port=80\n10.0.0.2 &ready=5&busy=1&lastseen=0&port=80\n');
      const old = new Date(Date.now() - 15_000);
      utimesSync(path, old, old);
      const reader = new HeartbeatFileReader({ path, checkInterval: 0 });
      assert.equal(reader.servers().length, 2);
      assert.equal(reader.pickBackend(), undefined);
      assert.equal(reader.pickBackend(['10.0.0.1:80', '10.0.0.2:80']), undefined);
    }),
  );

  it(
    'picks exactly as the pure pickBackend does on the same servers and random sequence',
    withDir((dir) => {
      const path = join(dir, 'hb.dat');
      copyFileSync(join(import.meta.dirname, '..', 'fixtures', 'apache-hb.dat'), path);
      // 6.5 s of file age turns Apache's lastseen=4 into 10.5 s: stale, while lines seen 0-3 s
      // before the write stay fresh.
      const now = Date.now();
      utimesSync(path, new Date(now - 6500), new Date(now - 6500));
      const clock = { now: () => now };
      const reader = new HeartbeatFileReader({ path, random: seededRandom(7), clock });
      const snapshot = reader.servers();
      const members = snapshot.map((s) => `http://${s.ip}:8080`);
      const expectRandom = seededRandom(7);
      const counts = new Map<string, number>();
      for (let i = 0; i < 2000; i++) {
        const got = reader.pickBackend(members);
        assert.equal(got, pickBackend(snapshot, members, { random: expectRandom, now }));
        if (got !== undefined) counts.set(got, (counts.get(got) ?? 0) + 1);
      }
      // Stale servers are never picked, the others are.
      const stale = snapshot.filter((s) => now - s.lastSeen >= 10_000).map((s) => `http://${s.ip}:8080`);
      assert.ok(stale.length > 0 && stale.length <= members.length - 2, `stale: ${stale.join(' ')}`);
      for (const member of members) assert.equal(counts.has(member), !stale.includes(member), member);
    }),
  );

  it(
    'shows another process the table a monitor wrote',
    withDir(async (dir) => {
      const path = join(dir, 'hb.dat');
      const monitor = new HeartMonitor({ maxServers: 0, storage: path });
      monitor.ingest('v=1&ready=8&busy=2&port=8080', { address: '10.0.0.1' });
      monitor.ingest('v=1&ready=40&busy=0', { address: '2001:db8::5' });
      await monitor.close();
      const library = new URL('../../src/index.ts', import.meta.url).href;
      const script = `
        const { HeartbeatFileReader } = await import(${JSON.stringify(library)});
        const reader = new HeartbeatFileReader({ path: process.argv[1] });
        console.log(JSON.stringify({ servers: reader.servers(), pick: reader.pickBackend(['http://10.0.0.1:8080']) ?? null }));
      `;
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script, path], { timeout: 30_000 });
      const seen = JSON.parse(stdout) as { servers: ServerStatus[]; pick: string | null };
      const strip = (list: ServerStatus[]): unknown[] => list.map(({ ip, port, ready, busy }) => ({ ip, port, ready, busy })).sort((a, b) => a.ip.localeCompare(b.ip));
      assert.deepEqual(strip(seen.servers), strip(monitor.servers()));
      for (const server of seen.servers) {
        const original = monitor.servers().find((s) => s.ip === server.ip);
        // lastseen is whole seconds before the write (the mtime), so the reader's lastSeen
        // lies within 1 s of the monitor's (plus mtime granularity).
        assert.ok(original !== undefined && Math.abs(server.lastSeen - original.lastSeen) < 1050, `${server.lastSeen} vs ${original?.lastSeen}`);
      }
      assert.equal(seen.pick, 'http://10.0.0.1:8080');
    }),
  );

  it('rejects bad options naming the option', () => {
    assert.throws(() => new HeartbeatFileReader({ path: '' }), { name: 'TypeError', message: /`path`/ });
    assert.throws(() => new HeartbeatFileReader({ path: 'x', checkInterval: -1 }), { name: 'RangeError', message: /`checkInterval`/ });
    assert.throws(() => new HeartbeatFileReader({ path: 'x', keyBy: 'port' as 'ip' }), { name: 'TypeError', message: /`keyBy`/ });
  });
});
