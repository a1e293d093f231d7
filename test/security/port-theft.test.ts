// Issue 12, item 2: a unicast listen must own its address. With SO_REUSEADDR any later
// socket with reuseAddr (another user's included) could bind it and take the heartbeats.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, describe, it } from 'node:test';
import { HeartMonitor, ListenError, MemoryStore } from '../../src/index.js';

function bindThief(type: 'udp4' | 'udp6', host: string, port: number): Promise<Socket | Error> {
  return new Promise((resolve) => {
    const socket = createSocket({ type, reuseAddr: true });
    socket.once('error', (error) => {
      socket.close();
      resolve(error);
    });
    socket.bind({ address: host, port, exclusive: false }, () => resolve(socket));
  });
}

describe('unicast listen is exclusive', () => {
  const monitors: HeartMonitor[] = [];
  after(async () => {
    for (const monitor of monitors) await monitor.close();
  });

  for (const [type, host] of [
    ['udp4', '127.0.0.1'],
    ['udp6', '::1'],
  ] as const) {
    it(`a reuseAddr socket cannot bind ${host} once a monitor listens there`, async () => {
      const monitor = new HeartMonitor({ listen: type === 'udp6' ? '[::1]:0' : '127.0.0.1:0', store: new MemoryStore() });
      monitors.push(monitor);
      await monitor.listen();
      const port = monitor.address()?.port ?? 0;
      const thief = await bindThief(type, host, port);
      if (!(thief instanceof Error)) thief.close();
      assert.ok(thief instanceof Error, 'the second bind must fail');
      assert.equal((thief as NodeJS.ErrnoException).code, 'EADDRINUSE');
    });
  }

  it('a monitor on a unicast address a reuseAddr socket already holds rejects with EADDRINUSE', async () => {
    const holder = await bindThief('udp4', '127.0.0.1', 0);
    assert.ok(!(holder instanceof Error));
    const port = holder.address().port;
    const monitor = new HeartMonitor({ listen: `127.0.0.1:${port}`, store: new MemoryStore() });
    monitors.push(monitor);
    await assert.rejects(monitor.listen(), (error: unknown) => error instanceof ListenError && /EADDRINUSE/.test(String((error.cause as Error).message ?? error.message)));
    holder.close();
  });

  it('two monitors of one multicast group on one port still share it (address reuse stays for groups)', async () => {
    const first = new HeartMonitor({ listen: '239.0.0.1:0', interface: '127.0.0.1', store: new MemoryStore() });
    monitors.push(first);
    await first.listen();
    const port = first.address()?.port ?? 0;
    const second = new HeartMonitor({ listen: `239.0.0.1:${port}`, interface: '127.0.0.1', store: new MemoryStore() });
    monitors.push(second);
    await second.listen();
    assert.equal(second.address()?.port, port);
  });
});
