import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { describe, it } from 'node:test';
import { HeartMonitor, MemoryStore } from '../../src/index.js';
import { hostileDatagram, type HostileKind } from '../helpers/hostile.js';
import { seededRandom } from '../helpers/random.js';
import { referenceParse } from '../helpers/reference-heartbeat.js';
import { size } from '../helpers/stress.js';
import { waitFor } from '../helpers/wait.js';

const TOTAL = size(100_000, 1_000_000);
const SOURCES = 8;
/** Bytes in flight before we wait for the monitor: well under the socket's receive buffer, so the kernel drops nothing. */
const WINDOW_BYTES = 96 * 1024;

function bindSender(address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, address, () => resolve(socket));
  });
}

function send(socket: Socket, bytes: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(bytes, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
}

describe(`hostile traffic: ${TOTAL.toLocaleString('en')} datagrams to a listening monitor`, () => {
  it('stays up with bounded memory, applies every valid heartbeat and counts every datagram exactly', { timeout: 900_000 }, async (t) => {
    const monitor = new HeartMonitor({ listen: '127.0.0.1:0', store: new MemoryStore() });
    const errors: Error[] = [];
    let malformedEvents = 0;
    let updates = 0;
    monitor.on('error', (error) => errors.push(error));
    monitor.on('malformed', () => malformedEvents++);
    monitor.on('update', () => updates++);
    // Close everything even when an assertion fails, or open sockets keep the run alive.
    t.after(() => monitor.close());
    await monitor.listen();
    const port = monitor.address()?.port ?? 0;
    const senders = await Promise.all(Array.from({ length: SOURCES }, (_, i) => bindSender(`127.0.0.${i + 1}`)));
    t.after(() => senders.forEach((socket) => socket.close()));

    const random = seededRandom(0x5eed);
    const sentByKind: Record<HostileKind, number> = { valid: 0, 'near-valid': 0, random: 0, empty: 0, oversized: 0 };
    const lastValid = new Map<string, { ready: number; busy: number; port: number }>();
    let expectedValid = 0;
    let sent = 0;
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;

    while (sent < TOTAL) {
      const batch: Promise<void>[] = [];
      let bytesInFlight = 0;
      while (sent < TOTAL && bytesInFlight < WINDOW_BYTES) {
        const { kind, bytes } = hostileDatagram(random);
        const source = sent % SOURCES;
        const verdict = referenceParse(bytes);
        if (verdict.ok) {
          expectedValid++;
          lastValid.set(`127.0.0.${source + 1}`, { ready: verdict.ready, busy: verdict.busy, port: verdict.port });
        }
        sentByKind[kind]++;
        batch.push(send(senders[source] as Socket, bytes, port));
        bytesInFlight += bytes.length + 64;
        sent++;
      }
      await Promise.all(batch);
      // Wait until the monitor has seen everything sent so far: what the socket delivered is all we sent.
      await waitFor(`${sent} datagrams to arrive`, () => monitor.stats().received === sent, { timeoutMs: 5000, intervalMs: 0, progress: () => monitor.stats().received });
      if (sent % 50_000 < 100) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }

    const stats = monitor.stats();
    assert.equal(stats.received, TOTAL, 'the socket delivered every datagram');
    assert.equal(stats.received, stats.accepted + stats.malformed + stats.rejected);
    assert.equal(stats.accepted, expectedValid, 'every valid heartbeat was applied');
    assert.equal(stats.malformed, TOTAL - expectedValid);
    assert.equal(stats.rejected, 0);
    assert.equal(malformedEvents, stats.malformed, 'one malformed event per dropped datagram');
    assert.equal(updates, stats.accepted, 'one update per accepted heartbeat');
    assert.deepEqual(errors, []);
    assert.ok(Object.values(sentByKind).every((n) => n > 0), `every kind was sent: ${JSON.stringify(sentByKind)}`);
    // Per source, the table holds the last valid heartbeat it sent (loopback keeps order per socket).
    assert.equal(stats.servers, lastValid.size);
    for (const server of monitor.servers()) assert.deepEqual({ ready: server.ready, busy: server.busy, port: server.port }, lastValid.get(server.ip));
    // A million datagrams leave nothing behind: memory stays within a fixed margin of where it started.
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    assert.ok(rssPeak - rssBefore < 256 * 1024 * 1024, `RSS grew by ${Math.round((rssPeak - rssBefore) / 1048576)} MB`);
    console.log(`# hostile traffic: ${JSON.stringify({ ...sentByKind, received: stats.received, accepted: stats.accepted, malformed: stats.malformed, rssGrowthMB: Math.round((rssPeak - rssBefore) / 1048576) })}`);

  });
});
