// `heartmonitor listen --redis` and `status --redis` / `--redis-cluster`, run as child processes (the built bin).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { HeartMonitor } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { startNode } from '../helpers/node-side.js';
import { RedisServer, startCluster } from '../helpers/redis-server.js';
import { uniquePrefix } from './support.js';

const CLI = resolve('dist/esm/cli.js');
const run = promisify(execFile);

/** What a failed run left: its exit code (null when the bound below killed it) and stderr. */
interface Failed {
  code: number | null;
  killed?: boolean;
  stderr: string;
}

/** Run the CLI, bounded: a command that hangs is killed after 15 s and shows as `killed`. */
async function runCli(args: readonly string[]): Promise<{ code: number | null; killed?: boolean; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as Failed & { stdout: string };
    return { code: failed.code, killed: failed.killed, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** `status` until `pattern` shows (the monitor writes within its batch interval). */
async function statusUntil(args: readonly string[], pattern: RegExp): Promise<string> {
  let stdout = '';
  for (let attempt = 0; attempt < 40 && !pattern.test(stdout); attempt++) {
    ({ stdout } = await runCli(['status', ...args]));
    if (!pattern.test(stdout)) await new Promise((done) => setTimeout(done, 50));
  }
  return stdout;
}

describe('heartmonitor CLI with --redis', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis.stop();
  });

  it('listen --redis shares what it hears; status --redis shows it with the reporting monitor', async () => {
    const prefix = uniquePrefix('cli');
    const listen = startNode([CLI, 'listen', '127.0.0.1:0', '--redis', redis.url, '--redis-prefix', prefix]);
    try {
      const [, port] = await listen.waitForOutput(/bound port (\d+), sharing the table through Redis/);
      await run(process.execPath, [CLI, 'send', `127.0.0.1:${port}`, '--ready', '7', '--busy', '1', '--port', '8080', '--source', '127.0.0.2', '--count', '2', '--interval', '50']);
      await listen.waitForOutput(/add\s+127\.0\.0\.2 port=8080/);
      const status = await statusUntil(['--redis', redis.url, '--redis-prefix', prefix], /127\.0\.0\.2/);
      assert.match(status, /IP\s+PORT\s+READY\s+BUSY\s+WEIGHT\s+LAST SEEN\s+SHARE\s+STATE\s+MONITOR/);
      assert.match(status, /127\.0\.0\.2\s+8080\s+7\s+1\s+7\s+\d+s ago\s+100\.0%\s+active\s+\S+:\d+/);
      const json = await run(process.execPath, [CLI, 'status', '--redis', redis.url, '--redis-prefix', prefix, '--json']);
      const parsed = JSON.parse(json.stdout) as { servers: { ip: string; monitor: string; state: string }[] };
      assert.equal(parsed.servers[0]?.ip, '127.0.0.2');
      assert.equal(parsed.servers[0]?.state, 'active');
      assert.match(parsed.servers[0]?.monitor ?? '', /:\d+$/);
    } finally {
      assert.equal(await listen.stop(), 0, listen.stderr());
    }
  });

  it('listen --redis --json names the Redis table, not an hb.dat it does not write', async () => {
    const prefix = uniquePrefix('json');
    const listen = startNode([CLI, 'listen', '127.0.0.1:0', '--redis', redis.url, '--redis-prefix', prefix, '--json']);
    try {
      await listen.waitForOutput(/"event":"listening"/);
      const line = listen.stdout().split('\n').find((text) => text.includes('"listening"')) ?? '';
      const event = JSON.parse(line) as { storage: unknown; redis: string; table: string };
      assert.equal(event.storage, null);
      assert.equal(event.redis, redis.url);
      assert.equal(event.table, `{${prefix}}:servers`);
    } finally {
      assert.equal(await listen.stop(), 0, listen.stderr());
    }
  });

  it('status --redis gives drained and disabled servers weight 0, share 0 and their STATE', async () => {
    const prefix = uniquePrefix('admin');
    const client = createClient({ url: redis.url });
    client.on('error', () => undefined);
    await client.connect();
    const monitor = new HeartMonitor({ store: new RedisStore({ client, prefix, monitorId: 'cli-test' }) });
    try {
      for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) monitor.ingest('v=1&ready=8&busy=1', { address: ip });
      monitor.drain('10.0.0.1');
      monitor.disable('10.0.0.2');
      await monitor.store.flush();
      const text = (await runCli(['status', '--redis', redis.url, '--redis-prefix', prefix])).stdout;
      assert.match(text, /IP\s+PORT\s+READY\s+BUSY\s+WEIGHT\s+LAST SEEN\s+SHARE\s+STATE\s+MONITOR/);
      assert.match(text, /10\.0\.0\.1\s+80\s+8\s+1\s+0\s+\d+s ago\s+0\.0%\s+draining\s+cli-test/);
      assert.match(text, /10\.0\.0\.2\s+80\s+8\s+1\s+0\s+\d+s ago\s+0\.0%\s+disabled\s+cli-test/);
      assert.match(text, /10\.0\.0\.3\s+80\s+8\s+1\s+8\s+\d+s ago\s+100\.0%\s+active\s+cli-test/);
      const json = JSON.parse((await runCli(['status', '--redis', redis.url, '--redis-prefix', prefix, '--json'])).stdout) as { servers: { ip: string; weight: number; share: number; state: string }[] };
      assert.deepEqual(
        json.servers.map(({ ip, weight, share, state }) => ({ ip, weight, share, state })),
        [
          { ip: '10.0.0.1', weight: 0, share: 0, state: 'draining' },
          { ip: '10.0.0.2', weight: 0, share: 0, state: 'disabled' },
          { ip: '10.0.0.3', weight: 8, share: 1, state: 'active' },
        ],
      );
    } finally {
      await monitor.close();
      client.destroy();
    }
  });

  it('listen --redis ends at once, with a message, on every startup error while Redis answers', async () => {
    const taken = createSocket('udp4');
    await new Promise<void>((done) => taken.bind(0, '127.0.0.1', done));
    try {
      const cases: [string[], number, RegExp][] = [
        [['listen', `127.0.0.1:${taken.address().port}`, '--redis', redis.url], 1, /Cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/],
        [['listen', '239.255.0.1:27999', '--interface', '1.2.3.4', '--redis', redis.url], 2, /--interface "1\.2\.3\.4" is not an IPv4 address of this machine/],
        [['listen', '127.0.0.1:0', '--redis', redis.url, '--redis-prefix', '{bad}'], 2, /--redis-prefix must be 1-100 characters/],
        [['listen', '127.0.0.1:0', '--redis', redis.url, '--redis-cluster', redis.url], 2, /not both/],
        [['listen', '127.0.0.1:0', '--redis-cluster', 'http://x'], 2, /--redis-cluster must be a redis:\/\/ or rediss:\/\/ URL/],
      ];
      for (const [args, code, message] of cases) {
        const result = await runCli(args);
        assert.notEqual(result.killed, true, `${args.join(' ')} did not end within 15 s`);
        assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, message);
      }
    } finally {
      taken.close();
    }
  });

  it('status --redis and --redis-cluster fail with one line when Redis does not answer, and reject bad URLs', async () => {
    const down = await runCli(['status', '--redis', 'redis://127.0.0.1:1']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^heartmonitor: cannot read the table from redis:\/\/127\.0\.0\.1:1/);
    const clusterDown = await runCli(['status', '--redis-cluster', 'redis://127.0.0.1:1,redis://127.0.0.1:2']);
    assert.notEqual(clusterDown.killed, true);
    assert.equal(clusterDown.code, 1, clusterDown.stderr);
    assert.match(clusterDown.stderr, /^heartmonitor: cannot read the table from cluster redis:\/\/127\.0\.0\.1:1,redis:\/\/127\.0\.0\.1:2: /);
    const bad = await runCli(['status', '--redis', 'http://x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--redis must be a redis:\/\/ or rediss:\/\/ URL/);
  });
});

describe('heartmonitor CLI with --redis-cluster (3 masters on loopback)', () => {
  let nodes: RedisServer[] = [];
  before(async () => {
    nodes = await startCluster();
  });
  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  });

  it('listen and status --redis-cluster share a table; --redis naming a cluster node says to use --redis-cluster', async () => {
    const urls = nodes.map((node) => node.url);
    const roots = urls.slice(0, 2).join(',');
    const prefix = uniquePrefix('cluster');
    const listen = startNode([CLI, 'listen', '127.0.0.1:0', '--redis-cluster', roots, '--redis-prefix', prefix]);
    try {
      const [, port] = await listen.waitForOutput(/bound port (\d+), sharing the table through Redis/);
      await run(process.execPath, [CLI, 'send', `127.0.0.1:${port}`, '--ready', '4', '--busy', '1', '--port', '8080', '--source', '127.0.0.3', '--count', '2', '--interval', '50']);
      await listen.waitForOutput(/add\s+127\.0\.0\.3 port=8080/);
      // Any node will do as a root for status, here the third one.
      const status = await statusUntil(['--redis-cluster', urls[2] ?? '', '--redis-prefix', prefix], /127\.0\.0\.3/);
      assert.match(status, /127\.0\.0\.3\s+8080\s+4\s+1\s+4\s+\d+s ago\s+100\.0%\s+active\s+\S+:\d+/);
      assert.doesNotMatch(listen.stderr(), /MOVED|unreachable/);
    } finally {
      assert.equal(await listen.stop(), 0, listen.stderr());
    }
    const status = await runCli(['status', '--redis', urls[0] ?? '', '--redis-prefix', prefix]);
    assert.equal(status.code, 1);
    assert.match(status.stderr, /is a Redis Cluster node \(cluster_enabled:1\): use --redis-cluster/);
    const wrong = await runCli(['listen', '127.0.0.1:0', '--redis', urls[0] ?? '', '--redis-prefix', prefix]);
    assert.notEqual(wrong.killed, true, 'listen --redis <cluster node> did not end within 15 s');
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /heartmonitor: listen: redis:\/\/127\.0\.0\.1:\d+ is a Redis Cluster node \(cluster_enabled:1\): use --redis-cluster/);
  });
});
