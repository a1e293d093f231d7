import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { describe, it } from 'node:test';
import { DEFAULT_MEMORY_MAX_SERVERS, HeartMonitor, MemoryStore, StoreFullError } from '../../src/index.js';
import { IN_NETNS, netnsUnavailable, runInNamespace, setUpLoopback } from '../helpers/netns.js';
import { size } from '../helpers/stress.js';
import { waitFor } from '../helpers/wait.js';

const FLOOD = size(15_000, 100_000);
const LEGIT = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
const CHUNK = 250;
const REPORT_INTERVAL = 1000;

/** The i-th spoofed source: 127.1.0.0 upwards, never one of the legitimate servers. */
function floodAddress(i: number): string {
  const n = 0x010000 + i;
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function bound(address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, address, () => resolve(socket));
  });
}

function send(socket: Socket, text: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(text, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
}

const closeQuietly = (socket: { close(): void }): void => {
  try {
    socket.close();
  } catch {
    /* already closed */
  }
};

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

if (!IN_NETNS) {
  describe(`spoof flood: ${FLOOD.toLocaleString('en')} distinct source addresses`, () => {
    const why = netnsUnavailable();
    it('holds in a private network namespace', { skip: why, timeout: 900_000 }, async () => {
      const { code, output } = await runInNamespace(import.meta.url);
      const summary = output.split('\n').filter((line) => line.includes('# spoof flood:'));
      for (const line of summary) console.log(`# ${line.replace(/^[#\\\s]+/, '')}`);
      assert.equal(code, 0, output);
    });
  });
} else {
  describe('inside the namespace', () => {
    it('keeps the table within its bound, keeps serving known servers and reports the overflow throttled', { timeout: 900_000 }, async (t) => {
      setUpLoopback();
      const monitor = new HeartMonitor({ listen: '127.0.0.1:0', store: new MemoryStore(), reportInterval: REPORT_INTERVAL });
      const fullErrors: StoreFullError[] = [];
      const otherErrors: Error[] = [];
      let live = 0;
      let peak = 0;
      let rejectedAtFirstReport: number | undefined;
      monitor.on('error', (error) => {
        if (!(error instanceof StoreFullError)) otherErrors.push(error);
        else if (fullErrors.push(error) === 1) rejectedAtFirstReport = monitor.stats().rejected;
      });
      monitor.on('add', () => (peak = Math.max(peak, ++live)));
      monitor.on('remove', () => live--);
      // Close everything even when an assertion fails, or open sockets keep the run alive.
      t.after(() => monitor.close());
      await monitor.listen();
      const port = monitor.address()?.port ?? 0;

      const legit = await Promise.all(LEGIT.map(bound));
      t.after(() => legit.forEach(closeQuietly));
      let beat = 0;
      const heartbeatLegit = async (): Promise<void> => {
        beat++;
        await Promise.all(legit.map((socket, i) => send(socket, `v=1&ready=${beat * 10 + i}&busy=1`, port)));
      };
      await heartbeatLegit();
      await waitFor('the legitimate servers', () => monitor.stats().accepted === LEGIT.length, { timeoutMs: 5000 });

      const rssBefore = process.memoryUsage().rss;
      const started = Date.now();
      let sent = monitor.stats().received;
      for (let i = 0; i < FLOOD; i += CHUNK) {
        const sockets = await Promise.all(Array.from({ length: Math.min(CHUNK, FLOOD - i) }, (_, j) => bound(floodAddress(i + j))));
        await Promise.all(sockets.map((socket) => send(socket, 'v=1&ready=1000&busy=0', port)));
        sent += sockets.length;
        await Promise.all(sockets.map(closed));
        // The legitimate servers keep beating through the flood.
        await heartbeatLegit();
        sent += LEGIT.length;
        await waitFor(`${sent} datagrams`, () => monitor.stats().received === sent, { timeoutMs: 10_000 });
        assert.ok(live <= DEFAULT_MEMORY_MAX_SERVERS, `table grew to ${live}`);
      }
      const floodMs = Date.now() - started;
      const rssGrowth = process.memoryUsage().rss - rssBefore;

      const stats = monitor.stats();
      assert.equal(stats.received, sent);
      assert.equal(stats.received, stats.accepted + stats.malformed + stats.rejected);
      assert.ok(peak <= DEFAULT_MEMORY_MAX_SERVERS, `peak table size ${peak}`);
      assert.equal(stats.servers, DEFAULT_MEMORY_MAX_SERVERS, 'the table filled up to its bound and no further');
      assert.ok(stats.rejected >= FLOOD - DEFAULT_MEMORY_MAX_SERVERS, `${stats.rejected} rejected`);
      // Known servers are still served, with their latest report.
      for (const [i, ip] of LEGIT.entries()) {
        const server = monitor.servers().find((s) => s.ip === ip);
        assert.equal(server?.ready, beat * 10 + i, `${ip} has its latest heartbeat`);
      }
      const members = LEGIT.map((ip) => `http://${ip}:8080`);
      for (let k = 0; k < 50; k++) assert.ok(members.includes(monitor.pickBackend(members) ?? ''), 'a known server is picked');

      // Reported at once for the first dropped server, then throttled with counts.
      assert.equal(rejectedAtFirstReport, 1, 'the first drop was reported at once');
      assert.equal(fullErrors[0]?.dropped, 1);
      assert.equal(fullErrors[0]?.code, 'HM_STORE_FULL');
      assert.ok(fullErrors.length <= Math.ceil(floodMs / REPORT_INTERVAL) + 2, `${fullErrors.length} reports in ${floodMs} ms`);
      await waitFor('the last throttled report', () => fullErrors.reduce((sum, e) => sum + e.dropped, 0) === stats.rejected, { timeoutMs: REPORT_INTERVAL * 3 });
      assert.deepEqual(otherErrors, []);
      assert.ok(rssGrowth < 256 * 1024 * 1024, `RSS grew ${Math.round(rssGrowth / 1048576)} MB`);
      console.log(
        `# spoof flood: ${FLOOD} sources in ${floodMs} ms, table peak ${peak} (bound ${DEFAULT_MEMORY_MAX_SERVERS}), rejected ${stats.rejected}, ` +
          `${fullErrors.length} store-full reports, legit servers served, RSS +${Math.round(rssGrowth / 1048576)} MB`,
      );
    });
  });
}
