/**
 * Interop case 1 — real sender → our monitor: httpd's mod_heartbeat announces itself to a
 * multicast group and HeartMonitor sees it, with the byte format, the worker counts and
 * the one-second rhythm of SPEC 1.1.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HeartMonitor, MemoryStore, type ServerStatus } from '../../src/index.js';
import { FIXED_WORKERS, Httpd } from './httpd.js';
import { assertPrivateNetwork } from '../helpers/netns.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../helpers/wait.js';

const GROUP = '239.0.0.1';
const HEARTBEAT_PORT = 27101;
const HTTP_PORT = 18101;
const WIRE_FORMAT = /^v=1&ready=(\d+)&busy=(\d+)$/;

interface Seen {
  readonly at: number;
  readonly server: ServerStatus;
}

describe('interop 1: httpd mod_heartbeat → HeartMonitor', () => {
  let httpd: Httpd | undefined;
  let monitor: HeartMonitor | undefined;
  let raw: Socket | undefined;
  const updates: Seen[] = [];
  const datagrams: string[] = [];
  let startedAt = 0;

  before(async () => {
    assertPrivateNetwork();
    monitor = new HeartMonitor({ listen: `${GROUP}:${HEARTBEAT_PORT}`, interface: '127.0.0.1', store: new MemoryStore() });
    monitor.on('update', (server) => updates.push({ at: Date.now(), server }));
    await monitor.listen();
    // A second, plain member of the group keeps the exact bytes httpd sent.
    raw = createSocket({ type: 'udp4', reuseAddr: true });
    const socket = raw;
    await new Promise<void>((resolve) => socket.bind(HEARTBEAT_PORT, () => resolve()));
    socket.addMembership(GROUP, '127.0.0.1');
    socket.on('message', (message) => datagrams.push(message.toString('latin1')));

    startedAt = Date.now();
    httpd = await Httpd.start({
      name: 'sender',
      port: HTTP_PORT,
      modules: ['status', 'heartbeat'],
      config: `HeartbeatAddress ${GROUP}:${HEARTBEAT_PORT}`,
    });
  });

  after(async () => {
    await httpd?.stop();
    await monitor?.close();
    raw?.close();
  });

  it('is seen within 3 s of starting httpd, as 127.0.0.1 port 80', async () => {
    const first = await waitFor('the first heartbeat from httpd', () => updates[0], { timeoutMs: 3000 - (Date.now() - startedAt) });
    const latency = first.at - startedAt;
    console.log(`  first heartbeat ${latency} ms after \`apache2 -k start\`: ${JSON.stringify(first.server)}`);
    assert.equal(first.server.ip, '127.0.0.1');
    assert.equal(first.server.port, 80, 'mod_heartbeat sends no port: the default is 80');
    assert.ok(latency <= 3000, `first heartbeat after ${latency} ms`);
  });

  it('sends exactly `v=1&ready=<u>&busy=<u>` and ready + busy equals the 20 fixed workers', async () => {
    await waitFor('three heartbeats', () => updates.length >= 3 && datagrams.length >= 3, { timeoutMs: 5000 });
    for (const text of datagrams) assert.match(text, WIRE_FORMAT, `datagram from httpd: ${JSON.stringify(text)}`);
    // Children may still be starting for the very first beat; once up, the count is fixed.
    const settled = updates.slice(1);
    for (const { server } of settled) {
      assert.equal(server.ready + server.busy, FIXED_WORKERS, `ready=${server.ready} busy=${server.busy}, expected a sum of ${FIXED_WORKERS}`);
    }
    const last = datagrams.at(-1) ?? '';
    const [, ready, busy] = WIRE_FORMAT.exec(last) ?? [];
    const latest = updates.at(-1)?.server;
    assert.deepEqual({ ready: latest?.ready, busy: latest?.busy }, { ready: Number(ready), busy: Number(busy) }, 'the monitor reports what the datagram says');
  });

  it('counts requests in progress as busy', async () => {
    // Connections that never finish their request headers each hold one worker thread.
    const held: TcpSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const socket = connect({ host: '127.0.0.1', port: HTTP_PORT });
        socket.on('error', () => undefined);
        socket.write('GET / HTTP/1.1\r\nHost: interop\r\n');
        held.push(socket);
      }
      const loaded = await waitFor('a heartbeat with busy >= 3', () => updates.find(({ at, server }) => at > Date.now() - 1500 && server.busy >= 3), { timeoutMs: 5000 });
      console.log(`  with 3 unfinished requests: ready=${loaded.server.ready} busy=${loaded.server.busy}`);
      assert.equal(loaded.server.ready + loaded.server.busy, FIXED_WORKERS);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });

  it('keeps updating about once a second', async () => {
    const from = updates.length;
    await sleep(4500);
    const recent = updates.slice(from);
    const gaps = recent.slice(1).map((seen, i) => seen.at - (recent[i]?.at ?? seen.at));
    console.log(`  ${recent.length} heartbeats in 4.5 s, gaps ${gaps.join(', ')} ms`);
    assert.ok(recent.length >= 3 && recent.length <= 6, `${recent.length} heartbeats in 4.5 s`);
    for (const gap of gaps) assert.ok(gap >= 500 && gap <= 1800, `gap of ${gap} ms between heartbeats`);
    assert.equal(monitor?.servers().length, 1, 'one server: httpd');
  });
});
