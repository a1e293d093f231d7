/**
 * Which store the monitor builds from maxServers / storage / root / store (SPEC 1.5).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { FileStore, HeartMonitor, MAX_SERVERS_MESSAGE, MemoryStore, SlotStore } from '../../src/index.js';
import { tempDir } from './helpers.js';

describe('store selection', () => {
  it('defaults to 10 shared slots, as HeartbeatMaxServers does', async () => {
    const monitor = new HeartMonitor();
    assert.ok(monitor.store instanceof SlotStore);
    assert.equal(monitor.store.maxServers, 10);
    await monitor.close();
  });

  it('gives maxServers >= 10 that many slots, carrying the monitor’s selection settings', async () => {
    const monitor = new HeartMonitor({ maxServers: 64, staleAfter: 4000, expireAfter: 9000, warmupDivisor: 2, keyBy: 'ip:port', storage: 'ignored/hb.dat' });
    assert.ok(monitor.store instanceof SlotStore);
    assert.equal(monitor.store.maxServers, 64);
    const view = SlotStore.attach(monitor.store.buffer);
    assert.deepEqual(view.settings, { staleAfter: 4000, expireAfter: 9000, warmupDivisor: 2, keyBy: 'ip:port' });
    await monitor.close();
    assert.equal(existsSync(resolve('ignored')), false);
  });

  it('rejects maxServers 1..9 with Apache’s message', () => {
    for (const maxServers of [1, 5, 9]) {
      assert.throws(() => new HeartMonitor({ maxServers }), (error: unknown) => error instanceof RangeError && error.message.includes(MAX_SERVERS_MESSAGE));
    }
  });

  it('writes hb.dat at storage resolved against root when maxServers is 0', async () => {
    const { dir, remove } = tempDir();
    try {
      const monitor = new HeartMonitor({ maxServers: 0, root: dir, storage: 'run/hb.dat', expireAfter: 12_000 });
      assert.ok(monitor.store instanceof FileStore);
      assert.equal(monitor.store.path, join(dir, 'run', 'hb.dat'));
      assert.equal(monitor.store.expireAfter, 12_000);
      monitor.ingest('v=1&ready=75&busy=0', { address: '127.0.0.1' });
      await monitor.close();
      // The monitor's settings line, Apache's line, then the ms since the server entered rotation (docs/interop.md).
      assert.match(readFileSync(join(dir, 'run', 'hb.dat'), 'utf8'), /^# heartmonitor keyBy=ip staleAfter=10000 expireAfter=12000 warmupDivisor=4\n127\.0\.0\.1 &ready=75&busy=0&lastseen=0&port=80&inrotationms=\d{1,4}\n$/);
    } finally {
      remove();
    }
  });

  it('uses logs/hb.dat under root by default, the cwd without root, and an absolute storage path as it is', async () => {
    const { dir, remove } = tempDir();
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      const byDefault = new HeartMonitor({ maxServers: 0, root: join(dir, 'root') });
      assert.equal((byDefault.store as FileStore).path, join(dir, 'root', 'logs', 'hb.dat'));
      const absolute = new HeartMonitor({ maxServers: 0, root: join(dir, 'root'), storage: join(dir, 'abs', 'hb.dat') });
      assert.equal((absolute.store as FileStore).path, join(dir, 'abs', 'hb.dat'));
      const fromCwd = new HeartMonitor({ maxServers: 0 });
      assert.equal((fromCwd.store as FileStore).path, join(dir, 'logs', 'hb.dat'));
      // Nothing is written before the first flush; close() writes (an empty table here: the settings line alone).
      assert.equal(existsSync(join(dir, 'root')), false);
      await Promise.all([byDefault.close(), absolute.close(), fromCwd.close()]);
      for (const path of [join(dir, 'root', 'logs', 'hb.dat'), join(dir, 'abs', 'hb.dat'), join(dir, 'logs', 'hb.dat')]) {
        assert.equal(readFileSync(path, 'utf8'), '# heartmonitor keyBy=ip staleAfter=10000 expireAfter=30000 warmupDivisor=4\n');
      }
    } finally {
      process.chdir(cwd);
      remove();
    }
  });

  it('lets an explicit store win over maxServers and storage', async () => {
    const { dir, remove } = tempDir();
    try {
      const store = new MemoryStore({ maxServers: 3 });
      const monitor = new HeartMonitor({ store, maxServers: 0, root: dir, storage: 'hb.dat' });
      assert.equal(monitor.store, store);
      monitor.ingest('v=1&ready=1&busy=1', { address: '10.0.0.1' });
      await monitor.close();
      assert.equal(existsSync(join(dir, 'hb.dat')), false);
      assert.equal(store.size, 1);
      const slots = new SlotStore({ maxServers: 12 });
      assert.equal(new HeartMonitor({ store: slots, maxServers: 64 }).store.maxServers, 12);
    } finally {
      remove();
    }
  });

  it('still validates maxServers and storage when a store is given', () => {
    assert.throws(() => new HeartMonitor({ store: new MemoryStore(), maxServers: 3 }), RangeError);
    assert.throws(() => new HeartMonitor({ maxServers: 0, storage: '' }), { name: 'TypeError', message: /`storage`/ });
  });
});
