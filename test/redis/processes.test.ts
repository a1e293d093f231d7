import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { RedisServer } from '../helpers/redis-server.js';
import { Clients, uniquePrefix } from './support.js';

const children: ChildProcess[] = [];
const clients = new Clients();
let redis: RedisServer | undefined;

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  clients.closeAll();
  await redis?.stop();
});

/** A TypeScript child process; `lines` yields its stdout lines. */
function start(file: string, args: string[]): { child: ChildProcess; next: (accept: (line: string) => boolean, timeoutMs?: number) => Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx/esm', fileURLToPath(new URL(file, import.meta.url)), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const seen: string[] = [];
  const waiters: { accept: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    seen.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.accept(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const next = (accept: (line: string) => boolean, timeoutMs = 10_000): Promise<string> => {
    const already = seen.findLast(accept);
    if (already !== undefined && seen.at(-1) === already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching line from ${file} within ${timeoutMs} ms; last: ${seen.at(-1)}`)), timeoutMs);
      waiters.push({ accept, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  };
  return { child, next };
}

function kill9(child: ChildProcess): void {
  if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
}

describe('monitors and views in separate processes', () => {
  it('two monitors fill one table; a monitor killed -9 leaves, its servers expire everywhere, then the last one too', async () => {
    redis = await RedisServer.start();
    const prefix = uniquePrefix('proc');
    const expireAfter = '1500';
    const a = start('./monitor-process.ts', [redis.url, prefix, 'monitor-a', expireAfter, '10.0.0.1,10.0.0.2']);
    const b = start('./monitor-process.ts', [redis.url, prefix, 'monitor-b', expireAfter, '10.0.0.3']);
    await Promise.all([a.next((line) => line === 'ready'), b.next((line) => line === 'ready')]);
    const views = [start('./view-process.ts', [redis.url, prefix, expireAfter]), start('./view-process.ts', [redis.url, prefix, expireAfter])];
    const full = JSON.stringify(['10.0.0.1@monitor-a', '10.0.0.2@monitor-a', '10.0.0.3@monitor-b']);
    await Promise.all(views.map((view) => view.next((line) => line === full)));
    const killedAt = Date.now();
    kill9(a.child);
    const onlyB = JSON.stringify(['10.0.0.3@monitor-b']);
    await Promise.all(views.map((view) => view.next((line) => line === onlyB, 5000)));
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs >= 1000, `servers left after ${tookMs} ms, not before their expiry`);
    kill9(b.child);
    await Promise.all(views.map((view) => view.next((line) => line === '[]', 5000)));
    // Redis forgets the table by itself too (TTL), with no monitor left to trim it.
    const check = await clients.connect(redis.url);
    const deadline = Date.now() + 5000;
    while ((await check.exists(`{${prefix}}:servers`)) === 1) {
      assert.ok(Date.now() < deadline, 'the table keys expired');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const view of views) kill9(view.child);
  });
});
