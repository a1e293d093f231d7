// TLS comes from the client (SPEC 3.2): a monitor and a view given node-redis clients that
// speak TLS (here with client certificates, as managed Redis services often require) share
// the table, and the view's own subscriber, made with duplicate(), keeps the TLS settings.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { HeartMonitor } from '../../src/index.js';
import { RedisStore, type RedisView } from '../../src/redis.js';
import { makeTlsFiles, RedisServer, type RedisTlsFiles } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { uniquePrefix } from './support.js';

let dir = '';
let files: RedisTlsFiles;
let redis: RedisServer;
const cleanups: (() => unknown)[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hm-tls-'));
  files = await makeTlsFiles(dir, true);
  redis = await RedisServer.start({ tls: files, password: 'tls-secret' });
});
after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A connected client that trusts the test CA and presents the client certificate. */
async function tlsClient(): Promise<ReturnType<typeof createClient>> {
  const client = createClient({
    url: `rediss://:tls-secret@127.0.0.1:${redis.port}`,
    socket: { tls: true, ca: readFileSync(files.ca), cert: readFileSync(files.clientCert), key: readFileSync(files.clientKey), reconnectStrategy: () => 100 },
  });
  client.on('error', () => undefined);
  await client.connect();
  cleanups.push(() => client.destroy());
  return client;
}

describe('Redis over TLS', () => {
  it('the port speaks only TLS: a plain PING gets no answer', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(redis.port, '127.0.0.1', () => socket.write('PING\r\n'));
      let text = '';
      socket.on('data', (data) => (text += data.toString('latin1')));
      socket.on('error', () => resolve(text));
      socket.on('close', () => resolve(text));
      setTimeout(() => {
        socket.destroy();
        resolve(text);
      }, 500).unref();
    });
    assert.doesNotMatch(answer, /PONG/);
  });

  it('a monitor writes and a view follows through TLS clients; the view subscribes over TLS too', async () => {
    const prefix = uniquePrefix('tls');
    const monitor = new HeartMonitor({ store: new RedisStore({ client: await tlsClient(), prefix }) });
    cleanups.push(() => monitor.close());
    monitor.ingest('v=1&ready=3&busy=1', { address: '10.0.0.1' });
    await monitor.store.flush();
    const view: RedisView = await RedisStore.attach({ client: await tlsClient(), prefix });
    cleanups.push(() => view.close());
    assert.deepEqual(view.servers().map((server) => [server.ip, server.ready]), [['10.0.0.1', 3]]);
    // Changes arrive on the view's own subscriber (duplicate() of the TLS client).
    monitor.ingest('v=1&ready=7&busy=1', { address: '10.0.0.1' });
    monitor.drain('10.0.0.1');
    await waitFor('the change and the drain through the TLS subscriber', () => view.servers()[0]?.ready === 7 && view.servers()[0]?.state === 'draining', { timeoutMs: 3000 });
    assert.equal(view.metrics().source_connected, 1);
    assert.equal(view.pickBackend(), undefined, 'drained everywhere');
  });

  it('a client that does not present the certificate never gets a session (the server refuses it)', async () => {
    const client = createClient({ url: `rediss://:tls-secret@127.0.0.1:${redis.port}`, socket: { tls: true, ca: readFileSync(files.ca), reconnectStrategy: false, connectTimeout: 2000 } });
    client.on('error', () => undefined);
    cleanups.push(() => {
      if (client.isOpen) client.destroy();
    });
    await assert.rejects(client.connect().then(() => client.ping()));
  });
});
