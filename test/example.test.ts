import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const root = fileURLToPath(new URL('..', import.meta.url));

it('examples/live-loopback.ts prints the table and the picks, then exits 0 by itself', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx/esm', 'examples/live-loopback.ts'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Bounded: the example stops after ~6 s; a hung example fails instead of blocking the suite.
  const timeout = setTimeout(() => child.kill(), 30_000);
  const code = await exited;
  clearTimeout(timeout);
  assert.equal(code, 0, `exit code; stderr:\n${stderr}\nstdout:\n${stdout}`);
  assert.match(stdout, /heartmonitor listening on 239\.0\.0\.1:\d+ \(interface 127\.0\.0\.1\)/);
  for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) assert.match(stdout, new RegExp(`\\+ ${ip.replaceAll('.', '\\.')} sent its first heartbeat`));

  // Every printed table's shares add up to the 1,000 picks, and some picks were routed.
  const tables = stdout.split('share of 1000 picks').slice(1);
  assert.ok(tables.length >= 3, `expected at least 3 tables, got ${tables.length}:\n${stdout}`);
  let routed = 0;
  for (const table of tables) {
    const shares = [...table.matchAll(/^\s+127\.0\.0\.[234]\s.*?([\d.]+) %$/gm)].map((match) => Number(match[1]));
    assert.equal(shares.length, 3, `one share per origin in:\n${table}`);
    const total = shares.reduce((a, b) => a + b, 0);
    if (total > 0) {
      assert.ok(Math.abs(total - 100) < 0.5, `shares add up to 100 %, got ${total}`);
      routed++;
    }
  }
  assert.ok(routed >= 3, 'picks were routed to the origins');
  assert.match(stdout, /closed the monitor and the senders; bye\n$/);
});
