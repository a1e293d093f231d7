import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { HeartbeatSender, HeartMonitor, SenderError, trackServerLoad, type ServerStatus } from '../../src/index.js';
import { waitFor } from '../helpers/wait.js';

const GROUP = '239.255.42.17';

/** A raw UDP receiver on loopback, to see the exact bytes a sender puts on the wire. */
async function rawReceiver(): Promise<{ socket: Socket; port: number; messages: { text: string; from: string }[] }> {
  const socket = createSocket('udp4');
  const messages: { text: string; from: string }[] = [];
  socket.on('message', (message, from) => messages.push({ text: message.toString('latin1'), from: from.address }));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { socket, port: socket.address().port, messages };
}

describe('HeartbeatSender', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('sends bytes identical to mod_heartbeat, with &port= only when given', async () => {
    const receiver = await rawReceiver();
    cleanups.push(() => new Promise((resolve) => receiver.socket.close(() => resolve())));
    const plain = new HeartbeatSender({ address: `127.0.0.1:${receiver.port}`, status: () => ({ ready: 75, busy: 0 }) });
    const sent: [string, unknown][] = [];
    plain.on('sent', (message, status) => sent.push([message, status]));
    const withPort = new HeartbeatSender({ address: `127.0.0.1:${receiver.port}`, port: 8080, status: () => ({ ready: 3, busy: 2 }) });
    assert.equal(await plain.sendOnce(), 'v=1&ready=75&busy=0');
    assert.equal(await withPort.sendOnce(), 'v=1&ready=3&busy=2&port=8080');
    assert.deepEqual(sent, [['v=1&ready=75&busy=0', { ready: 75, busy: 0 }]]);
    await waitFor('two datagrams', () => receiver.messages.length === 2);
    assert.deepEqual(receiver.messages.map((m) => m.text).sort(), ['v=1&ready=3&busy=2&port=8080', 'v=1&ready=75&busy=0']);
    await plain.stop();
    await withPort.stop();
  });

  it('is received by a monitor on a multicast group pinned to loopback, from its bound source IP', async () => {
    const monitor = new HeartMonitor({ listen: `${GROUP}:0`, interface: '127.0.0.1' });
    cleanups.push(() => monitor.close());
    await monitor.listen();
    const port = monitor.address()?.port;
    let ready = 7;
    const sender = new HeartbeatSender({
      address: `${GROUP}:${port}`,
      interface: '127.0.0.1',
      localAddress: '127.0.0.2',
      port: 8081,
      interval: 20,
      status: () => ({ ready, busy: 1 }),
    });
    cleanups.push(() => sender.stop());
    const updates: ServerStatus[] = [];
    monitor.on('update', (server) => updates.push(server));
    await sender.start();
    await waitFor('first heartbeat', () => updates.length > 0);
    assert.deepEqual(
      { ip: updates[0]?.ip, port: updates[0]?.port, ready: updates[0]?.ready, busy: updates[0]?.busy },
      { ip: '127.0.0.2', port: 8081, ready: 7, busy: 1 },
    );
    ready = 9;
    await waitFor('a later beat with the new status', () => updates.some((u) => u.ready === 9));
    await sender.stop();
  });

  it('fans out to several unicast monitors', async () => {
    const first = new HeartMonitor({ listen: '127.0.0.1:0' });
    const second = new HeartMonitor({ listen: '127.0.0.1:0' });
    cleanups.push(() => first.close(), () => second.close());
    await Promise.all([first.listen(), second.listen()]);
    const sender = new HeartbeatSender({
      address: [`127.0.0.1:${first.address()?.port}`, `127.0.0.1:${second.address()?.port}`],
      localAddress: '127.0.0.3',
      status: () => ({ ready: 4, busy: 2 }),
    });
    await sender.sendOnce();
    await waitFor('both monitors to see the server', () => first.servers().length === 1 && second.servers().length === 1);
    for (const monitor of [first, second]) {
      const [server] = monitor.servers();
      assert.deepEqual([server?.ip, server?.ready, server?.busy, server?.port], ['127.0.0.3', 4, 2, 80]);
    }
    await sender.stop();
  });

  it('sends to IPv6 loopback', async (t) => {
    const monitor = new HeartMonitor({ listen: '[::1]:0' });
    try {
      await monitor.listen();
    } catch (error) {
      t.skip(`IPv6 loopback unavailable here: ${(error as Error).message}`);
      await monitor.close();
      return;
    }
    cleanups.push(() => monitor.close());
    const sender = new HeartbeatSender({ address: `[::1]:${monitor.address()?.port}`, status: () => ({ ready: 1, busy: 1 }) });
    await sender.sendOnce();
    await waitFor('an IPv6 heartbeat', () => monitor.servers().length === 1);
    assert.equal(monitor.servers()[0]?.ip, '::1');
    await sender.stop();
  });

  it('skips a beat with an error event when status() throws, rejects or returns bad counts, and keeps beating', async () => {
    const receiver = await rawReceiver();
    cleanups.push(() => new Promise((resolve) => receiver.socket.close(() => resolve())));
    const answers: (() => unknown)[] = [
      () => {
        throw new Error('boom');
      },
      () => Promise.reject(new Error('async boom')),
      () => ({ ready: -1, busy: 0 }),
      () => ({ ready: 1.5, busy: 0 }),
      () => ({ ready: 2 ** 31, busy: 0 }),
      () => undefined,
      () => Promise.resolve({ ready: 5, busy: 6 }),
    ];
    let call = 0;
    const sender = new HeartbeatSender({
      address: `127.0.0.1:${receiver.port}`,
      interval: 10,
      status: () => (answers[Math.min(call++, answers.length - 1)] as () => { ready: number; busy: number })(),
    });
    const errors: SenderError[] = [];
    sender.on('error', (error) => errors.push(error));
    await sender.start();
    await waitFor('the first good beat', () => receiver.messages.length > 0);
    await sender.stop();
    assert.equal(errors.length, 6);
    assert.ok(errors.every((error) => error instanceof SenderError && error.code === 'HM_STATUS_FAILED'));
    assert.match(errors[0]?.message ?? '', /boom/);
    assert.match(errors[2]?.message ?? '', /integers in 0\.\.2147483647/);
    assert.equal(receiver.messages[0]?.text, 'v=1&ready=5&busy=6');
  });

  it('start() and stop() are idempotent and stop() ends the beats', async () => {
    const receiver = await rawReceiver();
    cleanups.push(() => new Promise((resolve) => receiver.socket.close(() => resolve())));
    const sender = new HeartbeatSender({ address: `127.0.0.1:${receiver.port}`, interval: 10, status: () => ({ ready: 1, busy: 0 }) });
    await Promise.all([sender.start(), sender.start()]);
    assert.equal(sender.running, true);
    await waitFor('three beats', () => receiver.messages.length >= 3);
    await sender.stop();
    await sender.stop();
    assert.equal(sender.running, false);
    const count = receiver.messages.length;
    // A datagram already in flight may still land; after that, nothing more arrives.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const settled = receiver.messages.length;
    assert.ok(settled <= count + 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(receiver.messages.length, settled);
    await sender.start();
    await waitFor('beats after a restart', () => receiver.messages.length > settled);
    await sender.stop();
  });


  it('reports a failed send as an error event, but not a beat cut short by stop()', async () => {
    // Port 0 is not a valid destination: the send itself fails.
    const failing = new HeartbeatSender({ address: '127.0.0.1:0', status: () => ({ ready: 1, busy: 0 }) });
    const errors: SenderError[] = [];
    failing.on('error', (error) => errors.push(error));
    assert.equal(await failing.sendOnce(), undefined);
    assert.equal(errors[0]?.code, 'HM_SEND_FAILED');
    assert.match(errors[0]?.message ?? '', /Cannot send heartbeat to 127\.0\.0\.1:0/);
    await failing.stop();

    let release: (value: { ready: number; busy: number }) => void = () => undefined;
    const slow = new HeartbeatSender({ address: '127.0.0.1:9', status: () => new Promise((resolve) => (release = resolve)) });
    const slowErrors: SenderError[] = [];
    slow.on('error', (error) => slowErrors.push(error));
    const beat = slow.sendOnce();
    await slow.stop();
    release({ ready: 1, busy: 0 });
    assert.equal(await beat, undefined); // nothing sent after stop()
    await slow.stop();
    assert.deepEqual(slowErrors, []);
  });

  it('rejects bad options naming the option', () => {
    const status = () => ({ ready: 1, busy: 0 });
    assert.throws(() => new HeartbeatSender({ address: '239.0.0.1', status }), /No port provided/);
    assert.throws(() => new HeartbeatSender({ address: [], status }), /non-empty array/);
    assert.throws(() => new HeartbeatSender({ address: '127.0.0.1:1', status: 5 as never }), /Expected `status` to be a function/);
    assert.throws(() => new HeartbeatSender({ address: '127.0.0.1:1', status, interval: 0 }), RangeError);
    assert.throws(() => new HeartbeatSender({ address: '127.0.0.1:1', status, port: 70000 }), /Expected `port`/);
    assert.throws(() => new HeartbeatSender({ address: '127.0.0.1:1', status, ttl: 256 }), /Expected `ttl`/);
    assert.throws(() => new HeartbeatSender({ address: '127.0.0.1:1', status, localAddress: 'example.com' }), /`localAddress` to be an IP/);
    assert.throws(() => new HeartbeatSender({ address: '127.0.0.1:1', status, localAddress: '::1' }), /IPv6 but `address`/);
  });
});

describe('trackServerLoad', () => {
  it('counts requests in flight on a real server', async () => {
    const held: ServerResponse[] = [];
    const server = createServer((_req, res) => held.push(res));
    const load = trackServerLoad(server, { capacity: 5 });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      assert.deepEqual(load.status(), { ready: 5, busy: 0 });
      const N = 3;
      const responses = Array.from({ length: N }, () => {
        const req = request({ host: '127.0.0.1', port, agent: false });
        req.end();
        return once(req, 'response');
      });
      await waitFor(`${N} requests held open`, () => held.length === N);
      assert.equal(load.inFlight, N);
      assert.deepEqual(load.status(), { ready: 5 - N, busy: N });

      // Over capacity: ready never goes negative.
      const extra = Array.from({ length: 4 }, () => {
        const req = request({ host: '127.0.0.1', port, agent: false });
        req.on('error', () => undefined); // destroyed below on purpose
        req.end();
        return req;
      });
      await waitFor('seven requests held open', () => held.length === N + 4);
      assert.deepEqual(load.status(), { ready: 0, busy: 7 });

      // An aborted request leaves the count too.
      extra[0]?.destroy();
      await waitFor('the aborted request to leave the count', () => load.inFlight === 6);

      for (const res of held) if (!res.destroyed) res.end('done');
      await Promise.all(responses);
      for (const req of extra.slice(1)) req.destroy();
      await waitFor('every request to finish', () => load.inFlight === 0);
      assert.deepEqual(load.status(), { ready: 5, busy: 0 });
      load.close();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('validates capacity', () => {
    const server = createServer();
    assert.throws(() => trackServerLoad(server, { capacity: -1 }), RangeError);
    assert.throws(() => trackServerLoad(server, {} as never), /Expected `capacity`/);
  });
});
