import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { HeartMonitor, ListenError, ListenerError, MemoryStore, NotConfiguredError, type HeartMonitorOptions, type MalformedHeartbeat } from '../../src/index.js';
import { udpSender, type UdpSender } from '../helpers/udp.js';
import { nextEvent, waitFor } from '../helpers/wait.js';

// Every socket here is on loopback; multicast is pinned to 127.0.0.1 (SPEC 2.3), and ports
// come from the OS (port 0) so parallel test runs never share one.

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function createMonitor(options: HeartMonitorOptions): HeartMonitor {
  const monitor = new HeartMonitor(options);
  cleanups.push(() => monitor.close());
  return monitor;
}

async function sender(address: string): Promise<UdpSender> {
  const created = await udpSender(address);
  cleanups.push(() => created.close());
  return created;
}

/** A MemoryStore that counts its close() calls. */
class CountingStore extends MemoryStore {
  closes = 0;
  override close(): Promise<void> {
    this.closes++;
    return super.close();
  }
}

function boundPort(monitor: HeartMonitor): number {
  const address = monitor.address();
  assert.ok(address !== undefined, 'the monitor is listening');
  assert.ok(address.port > 0);
  return address.port;
}

function table(monitor: HeartMonitor): [string, number, number][] {
  return monitor
    .servers()
    .map((s): [string, number, number] => [s.ip, s.ready, s.busy])
    .sort(([a], [b]) => a.localeCompare(b));
}

describe('HeartMonitor on real sockets', () => {
  it('receives multicast heartbeats from three origins on 127.0.0.2/3/4', async () => {
    const monitor = createMonitor({ listen: '239.0.0.1:0', interface: '127.0.0.1' });
    const listening = nextEvent(monitor, 'listening');
    await monitor.listen();
    const [info] = await listening;
    assert.equal(info.address, '239.0.0.1');
    const port = boundPort(monitor);
    const origins = await Promise.all([sender('127.0.0.2'), sender('127.0.0.3'), sender('127.0.0.4')]);
    const messages = ['v=1&ready=10&busy=1', 'v=1&ready=20&busy=0', 'v=1&ready=30&busy=5'];
    await waitFor('three servers', () => monitor.servers().length === 3, {
      onTick: () => origins.forEach((origin, i) => void origin.send(messages[i] ?? '', port, '239.0.0.1')),
    });
    assert.deepEqual(table(monitor), [
      ['127.0.0.2', 10, 1],
      ['127.0.0.3', 20, 0],
      ['127.0.0.4', 30, 5],
    ]);
    assert.ok(['127.0.0.2', '127.0.0.3', '127.0.0.4'].includes(monitor.pickBackend()?.ip ?? ''));
  });

  it('listens on a unicast address with port 0 and reports malformed datagrams', async () => {
    const monitor = createMonitor({ listen: '127.0.0.1:0' });
    await monitor.listen();
    assert.equal(monitor.listening, true);
    assert.equal(monitor.address()?.address, '127.0.0.1');
    const port = boundPort(monitor);
    const origin = await sender('127.0.0.5');
    await waitFor('the server', () => monitor.servers().length === 1, {
      onTick: () => void origin.send('v=1&ready=7&busy=2&port=8080', port, '127.0.0.1'),
    });
    assert.deepEqual(
      monitor.servers().map((s) => [s.ip, s.port, s.ready, s.busy]),
      [['127.0.0.5', 8080, 7, 2]],
    );

    const dropped: MalformedHeartbeat[] = [];
    monitor.on('malformed', (info) => dropped.push(info));
    const oversized = Buffer.from(`v=1&ready=1&busy=1&pad=${'x'.repeat(1000)}`);
    await waitFor('two malformed events', () => dropped.length >= 2, {
      intervalMs: 100,
      onTick: () => {
        if (dropped.length === 0) void origin.send('v=1&ready=oops&busy=1', port, '127.0.0.1');
        else if (dropped.length === 1) void origin.send(oversized, port, '127.0.0.1');
      },
    });
    assert.deepEqual(dropped[0]?.from, { address: '127.0.0.5', port: origin.port });
    assert.match(dropped[0]?.reason ?? '', /`ready`/);
    assert.equal(dropped[1]?.reason, `message is ${oversized.length} bytes, over the 1000-byte limit`, 'the whole datagram was read, not truncated');
    assert.deepEqual(table(monitor), [['127.0.0.5', 7, 2]], 'malformed datagrams change nothing');
  });

  it('listens on IPv6 [::1]', async (t) => {
    let origin: UdpSender;
    try {
      origin = await sender('::1');
    } catch (error) {
      t.skip(`IPv6 loopback ::1 is unavailable on this machine (${(error as Error).message})`);
      return;
    }
    const monitor = createMonitor({ listen: '[::1]:0' });
    await monitor.listen();
    const port = boundPort(monitor);
    assert.equal(monitor.address()?.family, 'IPv6');
    await waitFor('the IPv6 server', () => monitor.servers().length === 1, {
      onTick: () => void origin.send('v=1&ready=3&busy=1', port, '::1'),
    });
    assert.deepEqual(table(monitor), [['::1', 3, 1]]);
    assert.equal(monitor.pickBackend(['http://[::1]:8080']), 'http://[::1]:8080');
  });

  it('keeps processing datagrams when a listener throws', async () => {
    const monitor = createMonitor({ listen: '127.0.0.1:0' });
    const errors: Error[] = [];
    monitor.on('update', () => {
      throw new Error('bug in user code');
    });
    monitor.on('error', (error) => errors.push(error));
    await monitor.listen();
    const port = boundPort(monitor);
    const first = await sender('127.0.0.6');
    const second = await sender('127.0.0.7');
    await waitFor('the first server', () => monitor.servers().length === 1, {
      onTick: () => void first.send('v=1&ready=1&busy=1', port, '127.0.0.1'),
    });
    await waitFor('the second server after the listener threw', () => monitor.servers().length === 2, {
      onTick: () => void second.send('v=1&ready=2&busy=1', port, '127.0.0.1'),
    });
    assert.ok(errors.length >= 2);
    assert.ok(errors.every((error) => error instanceof ListenerError && error.event === 'update'));
  });
});

describe('HeartMonitor lifecycle', () => {
  it('listens, closes and listens again', async () => {
    const monitor = createMonitor({ listen: '127.0.0.1:0' });
    const events: string[] = [];
    monitor.on('listening', () => events.push('listening'));
    monitor.on('close', () => events.push('close'));
    const first = monitor.listen();
    assert.equal(monitor.listen(), first, 'a second call while opening returns the same promise');
    await first;
    const firstPort = boundPort(monitor);
    const closing = monitor.close();
    assert.equal(monitor.close(), closing, 'close() while closing returns the same promise');
    await closing;
    assert.deepEqual(events, ['listening', 'close'], 'one close event for the two concurrent close() calls');
    assert.equal(monitor.listening, false);
    assert.equal(monitor.address(), undefined);
    await monitor.close(); // closing a closed monitor is harmless

    await monitor.listen();
    const port = boundPort(monitor);
    const origin = await sender('127.0.0.8');
    await waitFor('a heartbeat after listening again', () => monitor.servers().length === 1, {
      onTick: () => void origin.send('v=1&ready=4&busy=1', port, '127.0.0.1'),
    });
    assert.ok(firstPort > 0);
    assert.equal(events.at(-1), 'listening');
  });

  it('does nothing on a second close() after the first finished, and closes again after listen()', async () => {
    const store = new CountingStore();
    const monitor = createMonitor({ listen: '127.0.0.1:0', store });
    let closeEvents = 0;
    monitor.on('close', () => closeEvents++);
    await monitor.listen();
    await monitor.close();
    assert.deepEqual([store.closes, closeEvents], [1, 1]);
    await monitor.close();
    await monitor.close();
    assert.deepEqual([store.closes, closeEvents], [1, 1], 'a closed monitor neither re-closes its store nor emits close again');

    await monitor.listen();
    await monitor.close();
    assert.deepEqual([store.closes, closeEvents], [2, 2], 'listen() then close() closes again');
    await monitor.close();
    assert.deepEqual([store.closes, closeEvents], [2, 2]);

    // A listen() started while closing leaves a monitor that close() still closes.
    await monitor.listen();
    const closing = monitor.close();
    const relisten = monitor.listen();
    await closing;
    await relisten;
    assert.equal(monitor.listening, true);
    await monitor.close();
    assert.equal(monitor.listening, false);
    assert.deepEqual([store.closes, closeEvents], [4, 4]);

    // A heartbeat accepted after a close changed the table: the next close() flushes it again.
    assert.equal(monitor.ingest('v=1&ready=3&busy=1', { address: '10.0.0.7' }), true);
    await monitor.close();
    assert.deepEqual([store.closes, closeEvents], [5, 5], 'close() after a new heartbeat closes the store again');
  });

  it('can close before it ever listened, and while listen() is pending', async () => {
    await createMonitor({}).close();
    const monitor = createMonitor({ listen: '127.0.0.1:0' });
    const listening = monitor.listen();
    await monitor.close();
    await listening;
    assert.equal(monitor.listening, false);
  });

  it('rejects with NotConfiguredError when there is no listen address', async () => {
    const monitor = createMonitor({});
    await assert.rejects(monitor.listen(), (error: unknown) => {
      assert.ok(error instanceof NotConfiguredError);
      assert.equal(error.code, 'HM_NOT_CONFIGURED');
      assert.match(error.message, /no `listen` address/);
      return true;
    });
  });

  it('rejects with ListenError on EADDRINUSE, and listens once the port is free', async () => {
    // A socket bound without SO_REUSEADDR owns the port: Linux refuses a second bind even
    // from a socket that sets SO_REUSEADDR itself (both sides must set it).
    const blocker = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve) => blocker.bind({ address: '127.0.0.1', port: 0 }, () => resolve()));
    const text = `127.0.0.1:${blocker.address().port}`;
    const monitor = createMonitor({ listen: text });
    await assert.rejects(monitor.listen(), (error: unknown) => {
      assert.ok(error instanceof ListenError);
      assert.equal(error.code, 'HM_LISTEN_FAILED');
      assert.equal(error.address, text);
      assert.match(error.message, new RegExp(`^Cannot listen on ${text}: .*EADDRINUSE`));
      assert.equal((error.cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
      return true;
    });
    assert.equal(monitor.listening, false);
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await monitor.listen();
    assert.equal(monitor.address()?.port, Number(text.split(':')[1]));
  });

  it('rejects with ListenError when the address is not local', async () => {
    const monitor = createMonitor({ listen: '203.0.113.1:0' }); // TEST-NET-3: bind fails, nothing is sent
    await assert.rejects(monitor.listen(), { name: 'ListenError', message: /^Cannot listen on 203\.0\.113\.1:0: .*EADDRNOTAVAIL/ });
  });

  it('rejects with ListenError when the multicast join fails', async () => {
    const monitor = createMonitor({ listen: '239.0.0.1:0', interface: '203.0.113.1' });
    await assert.rejects(monitor.listen(), {
      name: 'ListenError',
      message: /^Cannot join multicast group 239\.0\.0\.1 on interface 203\.0\.113\.1 for 239\.0\.0\.1:0: /,
    });
    assert.equal(monitor.listening, false);
  });

  it('does not keep the process alive with its timers', async () => {
    const source = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
    const script = [
      `import { HeartMonitor } from ${JSON.stringify(source)};`,
      `const idle = new HeartMonitor({ flushInterval: 50, staleAfter: 100, expireAfter: 200 });`,
      `idle.ingest('v=1&ready=1&busy=1', { address: '10.0.0.1' });`,
      `const used = new HeartMonitor({ listen: '127.0.0.1:0' });`,
      `await used.listen();`,
      `await used.close();`,
      `console.log('monitors created');`,
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const timeout = setTimeout(() => child.kill(), 20_000);
    const code = await exited;
    clearTimeout(timeout);
    assert.equal(code, 0, `the child should exit by itself; output:\n${output}`);
    assert.match(output, /monitors created/);
  });
});
