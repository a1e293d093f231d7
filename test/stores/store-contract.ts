/**
 * The behaviour every HeartbeatStore must have, as a suite run against each store
 * (in the manner of MQTT.js's abstract_store): pass a factory and a name.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeartbeatStore } from '../../src/index.js';
import { server } from './helpers.js';

/** Creates a store with room for `maxServers` servers; `cleanup` runs after each test. */
export interface StoreFactory {
  create(maxServers: number): HeartbeatStore;
  cleanup?(): void;
}

const byIp = (a: { ip: string }, b: { ip: string }): number => a.ip.localeCompare(b.ip);

/** Register the contract tests for one store. */
export function storeContract(name: string, factory: StoreFactory): void {
  describe(`${name} honours the HeartbeatStore contract`, () => {
    const make = (maxServers = 16): HeartbeatStore => factory.create(maxServers);
    const done = (): void => factory.cleanup?.();

    it('returns what was put, keyed by IP by default', () => {
      const store = make();
      const a = server('10.0.0.1', { ready: 7, busy: 2, port: 8080 });
      const b = server('::1', { ready: 3, busy: 0 });
      assert.equal(store.put(a), true);
      assert.equal(store.put(b), true);
      assert.deepEqual(store.servers().sort(byIp), [a, b].sort(byIp));
      done();
    });

    it('replaces a server put again under the same key', () => {
      const store = make();
      store.put(server('10.0.0.1', { ready: 1 }));
      const newer = server('10.0.0.1', { ready: 9, port: 81 });
      assert.equal(store.put(newer), true);
      assert.deepEqual(store.servers(), [newer]);
      done();
    });

    it('keeps servers under distinct keys apart (ip:port keying)', () => {
      const store = make();
      const a = server('10.0.0.1', { port: 8080 });
      const b = server('10.0.0.1', { port: 8081 });
      store.put(a, '10.0.0.1:8080');
      store.put(b, '10.0.0.1:8081');
      assert.equal(store.servers().length, 2);
      assert.equal(store.delete('10.0.0.1:8080'), true);
      assert.deepEqual(store.servers(), [b]);
      done();
    });

    it('deletes by key and reports whether the server was there', () => {
      const store = make();
      store.put(server('10.0.0.1'));
      store.put(server('10.0.0.2'));
      assert.equal(store.delete('10.0.0.1'), true);
      assert.equal(store.delete('10.0.0.1'), false);
      assert.deepEqual(
        store.servers().map((s) => s.ip),
        ['10.0.0.2'],
      );
      done();
    });

    it('refuses new servers when full but still updates held ones', () => {
      const store = make(10);
      for (let i = 1; i <= 10; i++) assert.equal(store.put(server(`10.0.0.${i}`)), true);
      assert.equal(store.put(server('10.0.1.1')), false);
      assert.equal(store.put(server('10.0.0.3', { ready: 99 })), true);
      const held = store.servers();
      assert.equal(held.length, 10);
      assert.equal(held.find((s) => s.ip === '10.0.0.3')?.ready, 99);
      assert.equal(held.some((s) => s.ip === '10.0.1.1'), false);
      assert.equal(store.maxServers, 10);
      done();
    });

    it('has room again after a delete', () => {
      const store = make(10);
      for (let i = 1; i <= 10; i++) store.put(server(`10.0.0.${i}`));
      store.delete('10.0.0.5');
      assert.equal(store.put(server('10.0.1.1')), true);
      assert.equal(store.servers().length, 10);
      done();
    });

    it('flushes and closes, and can be used after close', async () => {
      const store = make();
      store.put(server('10.0.0.1'));
      await store.flush();
      await store.close();
      assert.equal(store.put(server('10.0.0.2')), true);
      assert.equal(store.servers().length, 2);
      await store.close();
      done();
    });
  });
}
