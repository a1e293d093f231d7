// Every CLI command run as a child process, the way an operator runs it (the built bin).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startNode } from '../helpers/node-side.js';
import { waitFor } from '../helpers/wait.js';

const CLI = resolve('dist/esm/cli.js');

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(args: readonly string[], timeout = 20_000): Promise<Result> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { timeout });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function readFileOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function assertOneLineError(result: Result, pattern: RegExp): void {
  assert.notEqual(result.code, 0);
  assert.equal(result.stderr.trimEnd().split('\n').length, 1, `one line expected, got:\n${result.stderr}`);
  assert.match(result.stderr, pattern);
}

describe('heartmonitor CLI', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'heartmonitor-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the package bin: an executable file with a node shebang', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { bin?: Record<string, string> };
    assert.equal(pkg.bin?.heartmonitor, 'dist/esm/cli.js');
    assert.ok(((await stat(CLI)).mode & 0o111) !== 0, 'executable');
    assert.match(await readFile(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
    const { stdout } = await promisify(execFile)(CLI, ['--help']);
    assert.match(stdout, /Usage: heartmonitor <command>/);
  });

  it('prints help for every command', async () => {
    for (const command of ['listen', 'status', 'send', 'demo']) {
      const result = await run([command, '--help']);
      assert.equal(result.code, 0, command);
      assert.match(result.stdout, new RegExp(`Usage: heartmonitor ${command}`));
    }
    const version = await run(['--version']);
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    assert.equal(version.stdout, `${pkg.version}\n`);
    const bare = await run([]);
    assert.equal(bare.code, 2);
    assert.match(bare.stdout, /Commands:/);
  });

  it('refuses bad arguments with a non-zero exit and one line', async () => {
    assertOneLineError(await run(['frobnicate']), /unknown command "frobnicate"/);
    assertOneLineError(await run(['listen']), /listen: missing the address/);
    assertOneLineError(await run(['listen', '239.0.0.1']), /No port provided in multicast address/);
    assertOneLineError(await run(['listen', '127.0.0.1:0', '--max-servers', '5']), /HeartbeatMaxServers: Should be 0 for file storage/);
    assertOneLineError(await run(['listen', '127.0.0.1:0', '--bogus']), /listen: Unknown option '--bogus'/);
    assertOneLineError(await run(['listen', '127.0.0.1:0', '--flush-interval', '0']), /listen: --flush-interval must be an integer in 1\.\.2147483647, got "0"/);
    assertOneLineError(await run(['listen', '127.0.0.1:0', '--flush-interval', '1s']), /listen: --flush-interval must be an integer in 1\.\.2147483647, got "1s"/);
    assertOneLineError(await run(['listen', '127.0.0.1:0', '--flush-interval', '2147483648']), /--flush-interval must be an integer in 1\.\.2147483647/);
    assertOneLineError(await run(['send', '127.0.0.1:9']), /--ready and --busy are required/);
    assertOneLineError(await run(['send', '127.0.0.1:9', '--ready', 'x', '--busy', '1']), /--ready must be an integer/);
    assertOneLineError(await run(['send', '127.0.0.1:9', '--ready', '1', '--busy', '1', '--port', '0']), /--port must be an integer in 1\.\.65535/);
    assertOneLineError(await run(['status', 'a', 'b']), /unexpected argument "b"/);
    assertOneLineError(await run(['status', join(dir, 'missing.dat')]), /cannot read .*missing\.dat: ENOENT/);
    assertOneLineError(await run(['demo', '--duration', '0']), /--duration must be an integer in 1\.\.3600/);
  });

  it('listen receives what send sends, writes a valid hb.dat, and status prints it', async () => {
    const storage = join(dir, 'logs', 'hb.dat');
    const listen = startNode([CLI, 'listen', '127.0.0.1:0', '--storage', storage]);
    try {
      const [, port] = await listen.waitForOutput(/bound port (\d+)/);
      const sent = await run(['send', `127.0.0.1:${port}`, '--ready', '5', '--busy', '1', '--port', '8080', '--source', '127.0.0.2', '--count', '3', '--interval', '50']);
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal(sent.stdout.match(/^sent v=1&ready=5&busy=1&port=8080 to /gm)?.length, 3);
      await listen.waitForOutput(/add\s+127\.0\.0\.2 port=8080 ready=5 busy=1 weight=5/);
    } finally {
      assert.equal(await listen.stop(), 0, listen.stderr());
    }
    assert.match(listen.stdout(), /stopped: 3 heartbeats received, 3 accepted, 0 malformed/);
    // The final flush on SIGTERM wrote Apache's format.
    const text = await readFile(storage, 'utf8');
    assert.match(text, /^# heartmonitor keyBy=ip staleAfter=10000 expireAfter=30000 warmupDivisor=4\n127\.0\.0\.2 &ready=5&busy=1&lastseen=\d+&port=8080&inrotationms=\d+\n$/);
    assert.equal((await stat(storage)).mode & 0o777, 0o444);

    const status = await run(['status', storage]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /IP\s+PORT\s+READY\s+BUSY\s+WEIGHT\s+LAST SEEN\s+SHARE/);
    assert.match(status.stdout, /^SHARE = weight \/ sum of weights: the part of picks each server should get now$/m);
    assert.match(status.stdout, /127\.0\.0\.2\s+8080\s+5\s+1\s+5\s+\d+s ago\s+100\.0%/);
    const json = await run(['status', storage, '--json']);
    const parsed = JSON.parse(json.stdout) as { servers: { ip: string; weight: number }[] };
    assert.deepEqual(parsed.servers.map((s) => [s.ip, s.weight]), [['127.0.0.2', 5]]);
  });

  it('listen --flush-interval writes hb.dat on that period while running', async () => {
    const storage = join(dir, 'flush', 'hb.dat');
    const listen = startNode([CLI, 'listen', '127.0.0.1:0', '--storage', storage, '--flush-interval', '100']);
    try {
      const [, port] = await listen.waitForOutput(/bound port (\d+)/);
      const sent = await run(['send', `127.0.0.1:${port}`, '--ready', '7', '--busy', '2', '--source', '127.0.0.2', '--count', '1']);
      assert.equal(sent.code, 0, sent.stderr);
      // The default period (5 s) would not have written it yet; no SIGTERM flush happened.
      let text = '';
      await waitFor('hb.dat written by the periodic flush', () => {
        text = readFileOrEmpty(storage);
        return text.includes('127.0.0.2 &ready=7&busy=2');
      }, { timeoutMs: 3000 });
      assert.match(text, /^# heartmonitor keyBy=ip staleAfter=10000 expireAfter=30000 warmupDivisor=4\n127\.0\.0\.2 &ready=7&busy=2&lastseen=\d+&port=80&inrotationms=\d+\n$/);
    } finally {
      assert.equal(await listen.stop(), 0, listen.stderr());
    }
  });

  it('listen exits 1 with one line when the address is taken', async () => {
    // A socket without SO_REUSEADDR keeps the port to itself.
    const holder = createSocket({ type: 'udp4', reuseAddr: false });
    holder.bind(0, '127.0.0.1');
    await new Promise((done) => holder.once('listening', done));
    try {
      const result = await run(['listen', `127.0.0.1:${holder.address().port}`, '--storage', join(dir, 'taken.dat')]);
      assert.equal(result.code, 1);
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /^heartmonitor: Cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      holder.close();
    }
  });

  it('status shows the weights lbmethod=heartbeat uses, for an Apache hb.dat', async () => {
    const path = join(dir, 'apache-hb.dat');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, '# written by mod_heartmonitor\n10.0.0.1 &ready=40&busy=0&lastseen=1&port=80\n10.0.0.2 &ready=30&busy=5&lastseen=9&port=80\n10.0.0.3 &ready=99&busy=1&lastseen=10&port=80\n');
    const status = await run(['status', path]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /10\.0\.0\.1\s+80\s+40\s+0\s+10\s/); // busy=0 → ready/4
    assert.match(status.stdout, /10\.0\.0\.2\s+80\s+30\s+5\s+30\s/);
    assert.match(status.stdout, /10\.0\.0\.3\s+80\s+99\s+1\s+0\s/); // lastseen 10 → not used
    assert.match(status.stdout, /25\.0%[\s\S]*75\.0%/);
  });

  it('status prints nothing from the file that acts on a terminal: escape sequences (C0 and C1), bidi controls in skipped lines are escaped', async () => {
    const path = join(dir, 'hostile-hb.dat');
    const { writeFile } = await import('node:fs/promises');
    const hostile = ['\u001b]0;PWNED\u0007\u001b[2J', '\u009b31m', '\u202e'];
    const lines = [
      `# heartmonitor ${hostile[0]}=1 ${hostile[0]}=2`,
      `# heartmonitor keyBy=ip staleAfter=10000 expireAfter=30000 warmupDivisor=4 ${hostile[1]}${hostile[2]}=1 ${hostile[1]}${hostile[2]}=2`,
      `${hostile.join('')} &ready=1&busy=0&lastseen=0&port=80`,
      '10.0.0.1 &ready=1&busy=0&lastseen=0&port=80',
    ];
    await writeFile(path, Buffer.from(`${lines.join('\n')}\n`, 'latin1'));
    const status = await run(['status', path]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /skipped line 1: .*given twice/);
    assert.match(status.stdout, /10\.0\.0\.1/);
    // eslint-disable-next-line no-control-regex -- what must not reach the terminal
    assert.doesNotMatch(status.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/, JSON.stringify(status.stdout));
  });

  it('listen --json on a multicast group pinned to loopback; malformed floods are logged once', async () => {
    const listen = startNode([CLI, 'listen', '239.255.42.19:0', '--interface', '127.0.0.1', '--max-servers', '10', '--json']);
    try {
      const [line] = await listen.waitForOutput(/^\{"time".*"event":"listening".*\}$/m);
      const { port } = JSON.parse(line) as { port: number };
      const sent = await run(['send', `239.255.42.19:${port}`, '--interface', '127.0.0.1', '--source', '127.0.0.3', '--ready', '2', '--busy', '2', '--count', '1']);
      assert.equal(sent.code, 0, sent.stderr);
      await listen.waitForOutput(/"event":"add","ip":"127\.0\.0\.3"/);
      const socket = createSocket('udp4');
      socket.bind(0, '127.0.0.1');
      await new Promise((done) => socket.once('listening', done));
      socket.setMulticastInterface('127.0.0.1');
      for (let i = 0; i < 50; i++) socket.send('v=1&ready=oops&busy=0', port, '239.255.42.19');
      await waitFor('a malformed log line', () => listen.stderr().includes('malformed heartbeat'));
      socket.close();
      await new Promise((done) => setTimeout(done, 200));
    } finally {
      assert.equal(await listen.stop('SIGINT'), 0, listen.stderr()); // Ctrl-C exits cleanly too
    }
    const lines = listen.stdout().trim().split('\n').map((text) => JSON.parse(text) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => l.event), ['listening', 'add', 'stopped']);
    assert.equal(lines[2]?.malformed, 50);
    assert.equal(listen.stderr().match(/malformed heartbeat from 127\.0\.0\.1: `ready` must be a decimal integer/g)?.length, 1);
  });

  it('listen --secret-file accepts heartbeats signed by send --secret-file and rejects unsigned ones', async () => {
    // The listener's file ends in whitespace and a newline, the sender's does not: both are trimmed.
    const listenSecret = join(dir, 'listen.secret');
    const sendSecret = join(dir, 'send.secret');
    await writeFile(listenSecret, 'correct horse battery staple \n');
    await writeFile(sendSecret, 'correct horse battery staple');
    const listen = startNode([CLI, 'listen', '127.0.0.1:0', '--max-servers', '10', '--secret-file', listenSecret]);
    try {
      const [, port] = await listen.waitForOutput(/bound port (\d+)/);
      const signed = await run(['send', `127.0.0.1:${port}`, '--ready', '6', '--busy', '1', '--source', '127.0.0.2', '--count', '2', '--interval', '50', '--secret-file', sendSecret]);
      assert.equal(signed.code, 0, signed.stderr);
      assert.equal(signed.stdout.match(/^sent v=1&ready=6&busy=1&ts=\d+&sig=[0-9a-f]{64} to /gm)?.length, 2, signed.stdout);
      assert.doesNotMatch(signed.stdout, /correct horse/);
      await listen.waitForOutput(/add\s+127\.0\.0\.2 port=80 ready=6 busy=1 weight=6/);
      const unsigned = await run(['send', `127.0.0.1:${port}`, '--ready', '9', '--busy', '1', '--source', '127.0.0.4', '--count', '1']);
      assert.equal(unsigned.code, 0, unsigned.stderr);
      await waitFor('a rejected log line', () => listen.stderr().includes('rejected heartbeat from 127.0.0.4'));
    } finally {
      assert.equal(await listen.stop(), 0, listen.stderr());
    }
    assert.match(listen.stdout(), /stopped: 3 heartbeats received, 2 accepted, 0 malformed, 1 rejected/);
    assert.doesNotMatch(listen.stdout(), /127\.0\.0\.4/, 'the unsigned sender never entered the table');
  });

  it('listen --allow accepts only the given ranges (repeatable)', async () => {
    const listen = startNode([CLI, 'listen', '127.0.0.1:0', '--max-servers', '10', '--allow', '10.0.0.0/8', '--allow', '127.0.0.2/32']);
    try {
      const [, port] = await listen.waitForOutput(/bound port (\d+)/);
      const outside = await run(['send', `127.0.0.1:${port}`, '--ready', '3', '--busy', '1', '--source', '127.0.0.3', '--count', '1']);
      assert.equal(outside.code, 0, outside.stderr);
      await waitFor('a rejected log line', () => listen.stderr().includes('rejected heartbeat from 127.0.0.3'));
      const inside = await run(['send', `127.0.0.1:${port}`, '--ready', '4', '--busy', '1', '--source', '127.0.0.2', '--count', '1']);
      assert.equal(inside.code, 0, inside.stderr);
      await listen.waitForOutput(/add\s+127\.0\.0\.2 port=80 ready=4 busy=1 weight=4/);
    } finally {
      assert.equal(await listen.stop(), 0, listen.stderr());
    }
    assert.match(listen.stdout(), /stopped: 2 heartbeats received, 1 accepted, 0 malformed, 1 rejected/);
    assert.doesNotMatch(listen.stdout(), /127\.0\.0\.3/, 'the excluded sender never entered the table');
  });

  it('refuses a missing or empty --secret-file and a bad --allow with one line', async () => {
    const empty = join(dir, 'empty.secret');
    await writeFile(empty, ' \n');
    assertOneLineError(await run(['listen', '127.0.0.1:0', '--secret-file', join(dir, 'missing.secret')]), /listen: cannot read --secret-file .*missing\.secret: ENOENT/);
    assertOneLineError(await run(['listen', '127.0.0.1:0', '--secret-file', empty]), /listen: --secret-file .*empty\.secret is empty/);
    assertOneLineError(await run(['send', '127.0.0.1:9', '--ready', '1', '--busy', '1', '--secret-file', empty]), /send: --secret-file .*empty\.secret is empty/);
    assertOneLineError(await run(['listen', '127.0.0.1:0', '--allow', 'not-a-range']), /listen: .*allow/);
  });

  it('checks --storage and --interface at start-up, with the exit codes of docs/operations.md', async () => {
    // A storage path mkdir cannot make (it used to spin in mkdir and ignore SIGTERM): exit 1 at once.
    const started = Date.now();
    const proc = await run(['listen', '127.0.0.1:0', '--storage', '/proc/heartmonitor-no-such/hb.dat'], 10_000);
    assert.equal(proc.code, 1, proc.stderr);
    assertOneLineError(proc, /--storage: Cannot write heartbeat file \/proc\/heartmonitor-no-such\/hb\.dat/);
    assert.ok(Date.now() - started < 8000);
    await writeFile(join(dir, 'plain'), 'x');
    const notDir = await run(['listen', '127.0.0.1:0', '--storage', join(dir, 'plain', 'hb.dat')]);
    assert.equal(notDir.code, 1);
    assertOneLineError(notDir, /ENOTDIR/);
    // --interface: an address of this machine, for a multicast group only (a bad command line: 2).
    for (const [args, pattern] of [
      [['239.0.0.1:0', '--interface', 'nope'], /--interface "nope" is not an IPv4 address of this machine/],
      [['239.0.0.1:0', '--interface', '10.255.255.254'], /is not an IPv4 address of this machine/],
      [['127.0.0.1:0', '--interface', '127.0.0.1'], /--interface applies to a multicast address only/],
    ] as const) {
      const result = await run(['listen', ...args]);
      assert.equal(result.code, 2, result.stderr);
      assertOneLineError(result, pattern);
    }
  });

  it('words errors for unicast addresses and negative numbers clearly (exit 2)', async () => {
    for (const [args, pattern] of [
      [['listen', '127.0.0.1'], /No port provided in address \(/],
      [['listen', '127.0.0.1:99999'], /Unable to parse address \(bad port\)/],
      [['listen', '239.0.0.1'], /No port provided in multicast address/],
      [['listen', '127.0.0.1:0', '--max-servers', '-5'], /--max-servers must be an integer >= 0, got "-5" \(negative numbers are not allowed\)/],
      [['send', '127.0.0.1:9', '--ready', '-3', '--busy', '1'], /--ready must be an integer in 0\.\.\d+, got "-3" \(negative/],
      [['send', '127.0.0.1:9', '--ready', '1', '--busy', '1', '--count', '-1'], /--count must be an integer >= 1, got "-1"/],
    ] as const) {
      const result = await run(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assertOneLineError(result, pattern);
    }
  });

  it('demo runs everything on loopback, routes requests and exits by itself', async () => {
    const demo = await run(['demo', '--duration', '6', '--origins', '3'], 30_000);
    assert.equal(demo.code, 0, demo.stderr);
    const routed = /routed (\d+) requests through the proxy/.exec(demo.stdout);
    assert.ok(routed !== null && Number(routed[1]) > 0, demo.stdout);
    assert.equal(demo.stdout.match(/^ {2}http:\/\/127\.0\.0\.\d+:\d+\s+\d+\s+[\d.]+%$/gm)?.length, 3, demo.stdout);
    assert.match(demo.stdout, /^SHARE = .*; ROUTED = the part of this run's requests it actually got$/m);
    assert.match(demo.stdout, /went stale/);
    assert.match(demo.stdout, /is back/);
  });
});
