import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FileStore, parseHeartbeatFile } from '../../src/index.js';
import { seededRandom } from '../helpers/random.js';
import { size } from '../helpers/stress.js';

const KILLS = size(50, 200);
const SERVERS = 300;
const FIXTURE = fileURLToPath(new URL('../fixtures/flush-loop.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/esm/index.js', import.meta.url));
const LINE = /^10\.0\.\d{1,3}\.\d{1,3} &ready=\d+&busy=1&lastseen=\d+&port=80$/;

/** Start the writer, wait for its first complete write, let it run `delayMs`, SIGKILL it by PID. */
function runAndKill(path: string, delayMs: number): Promise<string | number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE, path, String(SERVERS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      if (text.includes('flushing')) setTimeout(() => process.kill(child.pid ?? 0, 'SIGKILL'), delayMs);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL') reject(new Error(`writer ended with ${code ?? signal}: ${stderr}`));
      else resolve(signal);
    });
  });
}

function tempFiles(dir: string): Promise<string[]> {
  return readdir(dir).then((names) => names.filter((name) => name.startsWith('hb.dat.tmp.')));
}

function assertComplete(text: string, context: string): void {
  assert.ok(text.endsWith('\n'), `${context}: the last line is complete`);
  const lines = text.slice(0, -1).split('\n');
  assert.equal(lines.shift(), '# heartmonitor keyBy=ip staleAfter=10000 expireAfter=30000 warmupDivisor=4', `${context}: the settings line comes first`);
  assert.equal(lines.length, SERVERS, `${context}: every server is in the file`);
  for (const line of lines) assert.match(line, LINE, context);
  const parsed = parseHeartbeatFile(text);
  assert.equal(parsed.skipped.length, 0, context);
  assert.equal(parsed.servers.length, SERVERS, context);
}

describe(`crash safety: a FileStore writer SIGKILLed ${KILLS} times`, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hm-security-crash-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves a complete, parseable hb.dat after every kill; the next start removes leftover temp files', { timeout: 900_000 }, async () => {
    assert.ok(existsSync(BUILT), 'the crash test runs the built package: run `npm run build` first (npm test does)');
    const path = join(dir, 'hb.dat');
    const random = seededRandom(0xdead);
    for (let kill = 1; kill <= KILLS; kill++) {
      await runAndKill(path, Math.floor(random() * 60));
      assertComplete(await readFile(path, 'utf8'), `after kill ${kill}`);
      assert.equal((await stat(path)).mode & 0o777, 0o444, 'mode 0444');
    }
    const leftovers = await tempFiles(dir);
    console.log(`# crash safety: ${KILLS} SIGKILLs, hb.dat complete after each; ${leftovers.length} temp files left by crashes`);

    // A restart later on: temp files the killed writers left behind are removed by the first write.
    // (FileStore spares temp files younger than 10 s, which may belong to another live writer.)
    const old = new Date(Date.now() - 60_000);
    for (const name of leftovers) await utimes(join(dir, name), old, old);
    const restarted = new FileStore({ path });
    const now = Date.now();
    for (let i = 0; i < SERVERS; i++) restarted.put({ ip: `10.0.${i >> 8}.${i & 255}`, port: 80, ready: i, busy: 1, lastSeen: now });
    await restarted.close();
    assert.deepEqual(await tempFiles(dir), [], 'no temp file survives the restart');
    assertComplete(await readFile(path, 'utf8'), 'after the restart');
  });
});
