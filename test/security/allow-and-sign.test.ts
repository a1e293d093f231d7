import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlockList } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { HeartbeatSender, HeartMonitor, signHeartbeat, type RejectedHeartbeatInfo } from '../../src/index.js';
import { FakeClock } from '../helpers/clock.js';
import { httpRequest } from '../helpers/node-side.js';
import { waitFor } from '../helpers/wait.js';

const NOW = 1_700_000_000_000;

/**
 * A monitor started a minute before NOW: a `ts` older than a monitor's start is refused
 * (captured before a restart), so tests of the skew window start the monitor earlier.
 */
function startedEarlier(options: ConstructorParameters<typeof HeartMonitor>[0] = {}): { clock: FakeClock; monitor: HeartMonitor } {
  const clock = new FakeClock(NOW - 60_000, 0);
  const monitor = new HeartMonitor({ ...options, clock });
  clock.advance(60_000);
  return { clock, monitor };
}

function collect(monitor: HeartMonitor): RejectedHeartbeatInfo[] {
  const list: RejectedHeartbeatInfo[] = [];
  monitor.on('rejected', (info) => list.push(info));
  return list;
}

describe('allow option', () => {
  it('applies heartbeats from allowed IPv4/IPv6 ranges and single IPs only', async () => {
    const monitor = new HeartMonitor({ allow: ['10.0.0.0/8', 'fd00::/8', '192.168.1.7'] });
    const rejected = collect(monitor);
    const hb = 'v=1&ready=5&busy=1';
    assert.equal(monitor.ingest(hb, { address: '10.1.2.3' }), true);
    assert.equal(monitor.ingest(hb, { address: 'fd00::5' }), true);
    assert.equal(monitor.ingest(hb, { address: '192.168.1.7' }), true);
    assert.equal(monitor.ingest(hb, { address: '::ffff:10.9.9.9' }), true, 'IPv4-mapped IPv6 is the IPv4 source');
    assert.equal(monitor.ingest(hb, { address: '192.168.1.8' }), false);
    assert.equal(monitor.ingest(hb, { address: '11.0.0.1' }), false);
    assert.equal(monitor.ingest(hb, { address: 'fe80::1' }), false);
    assert.equal(monitor.ingest(hb, { address: 'not-an-ip' }), false);
    assert.deepEqual(monitor.servers().map((s) => s.ip).sort(), ['10.1.2.3', '10.9.9.9', '192.168.1.7', 'fd00::5']);
    assert.deepEqual(rejected.map((r) => [r.from.address, r.code]), [
      ['192.168.1.8', 'not-allowed'],
      ['11.0.0.1', 'not-allowed'],
      ['fe80::1', 'not-allowed'],
    ]);
    const stats = monitor.stats();
    // A source that is not an IP literal is malformed before the allowlist is asked.
    assert.deepEqual([stats.received, stats.accepted, stats.malformed, stats.rejected], [8, 4, 1, 3]);
    await monitor.close();
  });

  it('refuses a disallowed source before parsing (a malformed message from it is rejected, not malformed)', async () => {
    const monitor = new HeartMonitor({ allow: ['10.0.0.0/8'] });
    let malformed = 0;
    monitor.on('malformed', () => malformed++);
    assert.equal(monitor.ingest('garbage', { address: '172.16.0.1' }), false);
    assert.equal(malformed, 0);
    assert.equal(monitor.stats().rejected, 1);
    await monitor.close();
  });

  it('accepts a net.BlockList whose rules name the allowed sources', async () => {
    const list = new BlockList();
    list.addRange('10.0.0.10', '10.0.0.20');
    const monitor = new HeartMonitor({ allow: list });
    assert.equal(monitor.ingest('v=1&ready=1&busy=1', { address: '10.0.0.15' }), true);
    assert.equal(monitor.ingest('v=1&ready=1&busy=1', { address: '10.0.0.21' }), false);
    await monitor.close();
  });

  it('refuses datagrams from outside the list on a real socket', async (t) => {
    const monitor = new HeartMonitor({ listen: '127.0.0.1:0', allow: ['127.0.0.2/32'] });
    t.after(() => monitor.close());
    const rejected = collect(monitor);
    await monitor.listen();
    const port = monitor.address()?.port ?? 0;
    const sender = createSocket('udp4');
    t.after(() => sender.close());
    sender.send('v=1&ready=3&busy=1', port, '127.0.0.1');
    await waitFor('the rejected event', () => rejected.length > 0);
    assert.deepEqual(monitor.servers(), []);
    assert.equal(rejected[0]?.from.address, '127.0.0.1');
  });

  it('validates the list at construction, naming the option and the entry', () => {
    for (const bad of [['10.0.0.0/33'], ['fd00::/129'], ['10.0.0/8'], ['example.com'], ['fe80::1%lo/64'], [42], '10.0.0.0/8', {}]) {
      assert.throws(() => new HeartMonitor({ allow: bad as never }), (error: Error) => error instanceof TypeError && /`allow`/.test(error.message), JSON.stringify(bad));
    }
    assert.throws(() => new HeartMonitor({ allow: [] }), RangeError);
  });
});

describe('signed heartbeats', () => {
  const secret = 'correct horse battery staple';

  it('signs exactly `<message>&ts=<ms>` with HMAC-SHA256 in hex', async () => {
    const { createHmac } = await import('node:crypto');
    const signed = signHeartbeat('v=1&ready=5&busy=1', secret, NOW);
    const expected = createHmac('sha256', secret).update(`v=1&ready=5&busy=1&ts=${NOW}`).digest('hex');
    assert.equal(signed, `v=1&ready=5&busy=1&ts=${NOW}&sig=${expected}`);
  });

  it('accepts a valid signature and refuses unsigned, tampered, foreign-key and malformed signatures', async () => {
    const { clock, monitor } = startedEarlier({ secret });
    const rejected = collect(monitor);
    const from = { address: '10.0.0.1' };
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=5&busy=1', secret, NOW), from), true);
    clock.advance(1000);
    const good = signHeartbeat('v=1&ready=6&busy=1', secret, NOW + 1000);
    assert.equal(monitor.ingest('v=1&ready=99&busy=0', from), false);
    assert.equal(monitor.ingest(good.replace('ready=6', 'ready=9'), from), false);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=6&busy=1', 'another secret', NOW + 1000), from), false);
    assert.equal(monitor.ingest(`${good.slice(0, -1)}`, from), false);
    assert.equal(monitor.ingest(`${good}&x=1`, from), false, 'sig must be last: nothing unsigned may follow it');
    assert.equal(monitor.ingest(good.replace(/sig=([0-9a-f]+)$/, (_, hex: string) => `sig=${hex.toUpperCase()}`), from), false, 'hex is lower-case');
    assert.equal(monitor.ingest(`v=1&ready=6&busy=1&sig=${'0'.repeat(64)}`, from), false);
    assert.deepEqual(rejected.map((r) => r.code), ['unsigned', 'bad-signature', 'bad-signature', 'bad-signature', 'bad-signature', 'bad-signature', 'bad-signature']);
    assert.equal(monitor.servers()[0]?.ready, 5, 'nothing refused reached the table');
    assert.equal(monitor.ingest(good, from), true);
    assert.equal(monitor.servers()[0]?.ready, 6);
    const stats = monitor.stats();
    assert.equal(stats.received, stats.accepted + stats.malformed + stats.rejected);
    await monitor.close();
  });

  it('refuses a ts beyond maxSkew in either direction, and accepts one at the edge', async () => {
    const { monitor } = startedEarlier({ secret, maxSkew: 5000 });
    const rejected = collect(monitor);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=1&busy=1', secret, NOW - 5001), { address: '10.0.0.1' }), false);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=1&busy=1', secret, NOW + 5001), { address: '10.0.0.1' }), false);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=1&busy=1', secret, NOW - 5000), { address: '10.0.0.1' }), true);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=1&busy=1', secret, NOW + 5000), { address: '10.0.0.2' }), true);
    assert.deepEqual(rejected.map((r) => r.code), ['skew', 'skew']);
    await monitor.close();
  });

  it('refuses replays: a ts not newer than the last accepted from that server', async () => {
    const { clock, monitor } = startedEarlier({ secret });
    const rejected = collect(monitor);
    const first = signHeartbeat('v=1&ready=1&busy=1', secret, NOW);
    assert.equal(monitor.ingest(first, { address: '10.0.0.1' }), true);
    assert.equal(monitor.ingest(first, { address: '10.0.0.1' }), false);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=2&busy=1', secret, NOW - 1), { address: '10.0.0.1' }), false);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=9&busy=1', secret, NOW - 5), { address: '10.0.0.2' }), true, 'the last ts is per server');
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=3&busy=1', secret, NOW + 1), { address: '10.0.0.1' }), true);
    assert.deepEqual(rejected.map((r) => r.code), ['replay', 'replay']);
    assert.equal(monitor.servers().find((s) => s.ip === '10.0.0.1')?.ready, 3);
    // After the entry expires a captured heartbeat is older than maxSkew (≤ expireAfter), so still refused.
    clock.advance(31_000);
    (monitor as unknown as { sweep(): void }).sweep();
    assert.equal(monitor.servers().length, 0);
    assert.equal(monitor.ingest(first, { address: '10.0.0.1' }), false);
    assert.equal(rejected.at(-1)?.code, 'skew');
    await monitor.close();
  });

  it('refuses a captured signed heartbeat re-sent from another source address', async () => {
    const { clock, monitor } = startedEarlier({ secret });
    const rejected = collect(monitor);
    const captured = signHeartbeat('v=1&ready=50&busy=0', secret, NOW);
    assert.equal(monitor.ingest(captured, { address: '10.0.0.1' }), true);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=1&busy=1', secret, NOW - 100), { address: '10.0.0.2' }), true);
    assert.equal(monitor.ingest(captured, { address: '10.0.0.2' }), false, 'newer than 10.0.0.2\'s last ts, but already used');
    assert.equal(monitor.ingest(captured, { address: '10.0.0.3' }), false);
    assert.deepEqual(rejected.map((r) => r.code), ['replay', 'replay']);
    assert.equal(monitor.servers().find((s) => s.ip === '10.0.0.2')?.ready, 1);
    // The memory of used signatures is pruned once the skew check covers them.
    clock.advance(2 * 10_000 + 1);
    (monitor as unknown as { sweep(): void }).sweep();
    assert.equal((monitor as unknown as { admission: { rememberedSignatures: number } }).admission.rememberedSignatures, 0);
    assert.equal(monitor.ingest(captured, { address: '10.0.0.4' }), false);
    assert.equal(rejected.at(-1)?.code, 'skew');
    await monitor.close();
  });

  it('rotates secrets: a monitor with [new, old] accepts both; the sender signs with the first', async () => {
    const clock = new FakeClock(NOW, 0);
    const monitor = new HeartMonitor({ secret: [Buffer.from('new key'), 'old key'], clock });
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=1&busy=1', 'old key', NOW), { address: '10.0.0.1' }), true);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=1&busy=1', ['new key', 'old key'], NOW + 1), { address: '10.0.0.1' }), true);
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=1&busy=1', 'retired key', NOW + 2), { address: '10.0.0.1' }), false);
    await monitor.close();
  });

  it('a monitor without a secret accepts signed heartbeats (the extra fields are ignored)', async () => {
    const monitor = new HeartMonitor();
    assert.equal(monitor.ingest(signHeartbeat('v=1&ready=7&busy=2&port=8080', secret, NOW), { address: '10.0.0.1' }), true);
    assert.deepEqual([monitor.servers()[0]?.ready, monitor.servers()[0]?.port], [7, 8080]);
    await monitor.close();
  });

  it('validates secret and maxSkew at construction', () => {
    for (const bad of ['', Buffer.alloc(0), [], [''], 42, [Buffer.from('k'), null]]) {
      assert.throws(() => new HeartMonitor({ secret: bad as never }), (error: Error) => error instanceof TypeError && /`secret`/.test(error.message), String(bad));
    }
    assert.throws(() => new HeartMonitor({ secret, maxSkew: -1 }), RangeError);
    assert.throws(() => new HeartMonitor({ secret, maxSkew: 1.5 }), TypeError);
    assert.throws(() => new HeartMonitor({ secret, maxSkew: 40_000 }), /at most `expireAfter`/);
    assert.throws(() => signHeartbeat('v=1&ready=1&busy=1', '', NOW), TypeError);
    assert.throws(() => signHeartbeat('v=1&ready=1&busy=1', secret, -1), RangeError);
  });
});

describe('HeartbeatSender with a secret, over loopback UDP', () => {
  const secret = 's3cret';
  // Closed even when an assertion fails, or open sockets keep the run alive.
  const opened: HeartMonitor[] = [];
  afterEach(() => Promise.all(opened.splice(0).map((m) => m.close())));

  async function run(monitorSecret: string | undefined, senderSecret: string | undefined): Promise<{ monitor: HeartMonitor; rejected: RejectedHeartbeatInfo[]; sent: string[] }> {
    const monitor = new HeartMonitor({ listen: '127.0.0.1:0', ...(monitorSecret === undefined ? {} : { secret: monitorSecret }) });
    opened.push(monitor);
    const rejected = collect(monitor);
    await monitor.listen();
    const sender = new HeartbeatSender({
      address: `127.0.0.1:${monitor.address()?.port ?? 0}`,
      interval: 10,
      status: () => ({ ready: 7, busy: 1 }),
      ...(senderSecret === undefined ? {} : { secret: senderSecret }),
    });
    const sent: string[] = [];
    sender.on('sent', (message) => sent.push(message));
    await sender.start();
    await waitFor('five heartbeats', () => monitor.stats().received >= 5);
    await sender.stop();
    return { monitor, rejected, sent };
  }

  it('signs every beat with a strictly increasing ts; a monitor with the secret accepts them all', async () => {
    const { monitor, rejected, sent } = await run(secret, secret);
    assert.deepEqual(rejected, []);
    assert.equal(monitor.servers()[0]?.ready, 7);
    const stamps = sent.map((m) => Number(/&ts=(\d+)&sig=[0-9a-f]{64}$/.exec(m)?.[1]));
    assert.ok(stamps.every((ts, i) => Number.isSafeInteger(ts) && (i === 0 || ts > (stamps[i - 1] ?? 0))), sent.join('\n'));
    await monitor.close();
  });

  it('a monitor without a secret accepts signed beats; a monitor with one refuses unsigned beats', async () => {
    const open = await run(undefined, secret);
    assert.equal(open.monitor.servers()[0]?.ready, 7);
    await open.monitor.close();
    const strict = await run(secret, undefined);
    assert.deepEqual(strict.monitor.servers(), []);
    assert.ok(strict.rejected.length > 0 && strict.rejected.every((r) => r.code === 'unsigned'));
    await strict.monitor.close();
  });

  it('validates the sender secret at construction', () => {
    assert.throws(() => new HeartbeatSender({ address: '127.0.0.1:9', status: () => ({ ready: 1, busy: 0 }), secret: '' }), /`secret`/);
  });
});

describe('HTTP heartbeats with allow and secret', () => {
  it('answers 403 with the reason for a refused body and stores nothing', async (t) => {
    const monitor = new HeartMonitor({ allow: ['10.0.0.0/8'] });
    const server = createServer(monitor.httpHandler());
    t.after(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const answer = await httpRequest(url, { method: 'POST', body: 'v=1&ready=5&busy=1' });
    assert.equal(answer.status, 403);
    assert.match(answer.body, /not allowed/);
    assert.deepEqual(monitor.servers(), []);
    assert.equal(monitor.stats().rejected, 1);
    await monitor.close();
  });

  it('accepts a signed body from an allowed source', async (t) => {
    const monitor = new HeartMonitor({ allow: ['127.0.0.1'], secret: 'k' });
    const server = createServer(monitor.httpHandler());
    t.after(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    assert.equal((await httpRequest(url, { method: 'POST', body: signHeartbeat('v=1&ready=5&busy=1', 'k', Date.now()) })).status, 200);
    assert.equal((await httpRequest(url, { method: 'POST', body: 'v=1&ready=5&busy=1' })).status, 403);
    assert.equal(monitor.servers()[0]?.ready, 5);
    await monitor.close();
  });
});
