// `heartmonitor listen --redis` and `status --redis`, run as child processes (the built bin).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startNode } from '../helpers/node-side.js';
import { RedisServer } from '../helpers/redis-server.js';
import { uniquePrefix } from './support.js';

const CLI = resolve('dist/esm/cli.js');
const run = promisify(execFile);

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
      let status = { stdout: '' };
      for (let attempt = 0; attempt < 40 && !/127\.0\.0\.2/.test(status.stdout); attempt++) {
        status = await run(process.execPath, [CLI, 'status', '--redis', redis.url, '--redis-prefix', prefix]);
        if (!/127\.0\.0\.2/.test(status.stdout)) await new Promise((done) => setTimeout(done, 50));
      }
      assert.match(status.stdout, /IP\s+PORT\s+READY\s+BUSY\s+WEIGHT\s+LAST SEEN\s+SHARE\s+MONITOR/);
      assert.match(status.stdout, /127\.0\.0\.2\s+8080\s+7\s+1\s+7\s+\d+s ago\s+100\.0%\s+\S+:\d+/);
      const json = await run(process.execPath, [CLI, 'status', '--redis', redis.url, '--redis-prefix', prefix, '--json']);
      const parsed = JSON.parse(json.stdout) as { servers: { ip: string; monitor: string }[] };
      assert.equal(parsed.servers[0]?.ip, '127.0.0.2');
      assert.match(parsed.servers[0]?.monitor ?? '', /:\d+$/);
    } finally {
      assert.equal(await listen.stop(), 0, listen.stderr());
    }
  });

  it('status --redis fails with one line when Redis does not answer, and rejects bad URLs', async () => {
    const down = await run(process.execPath, [CLI, 'status', '--redis', 'redis://127.0.0.1:1'], { timeout: 15_000 }).catch((error: { code: number; stderr: string }) => error);
    assert.ok('code' in down && down.code === 1);
    assert.match(down.stderr, /^heartmonitor: cannot read the table from redis:\/\/127\.0\.0\.1:1/);
    const bad = await run(process.execPath, [CLI, 'status', '--redis', 'http://x']).catch((error: { code: number; stderr: string }) => error);
    assert.ok('code' in bad && bad.code === 2);
    assert.match(bad.stderr, /--redis must be a redis:\/\/ or rediss:\/\/ URL/);
  });
});
