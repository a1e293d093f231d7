// Runs the interoperability suite (test/interop/*.interop.ts) against real Apache httpd
// inside a private network namespace, so no heartbeat or request can leave the machine.
//
// Skips (exit 0, with a SKIP line) only when the suite cannot get a namespace: not root, or
// `unshare -n` unavailable. A missing httpd is a failure: CI installs apache2-bin first.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import console from 'node:console';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';

const SUITE_TIMEOUT_MS = 170_000; // the issue bounds the whole suite to 3 minutes
const HTTPD = '/usr/sbin/apache2';
const root = join(import.meta.dirname, '..');
const only = process.argv.slice(2);
const files = readdirSync(join(root, 'test/interop'))
  .filter((name) => name.endsWith('.interop.ts') && (only.length === 0 || only.some((part) => name.includes(part))))
  .sort()
  .map((name) => join('test/interop', name));

function skip(reason) {
  console.log(`SKIP interop suite: ${reason}`);
  process.exit(0);
}

if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  skip(`needs root for \`unshare -n\` and for starting httpd as www-data (uid ${process.getuid?.() ?? 'unknown'})`);
}
const probe = spawnSync('unshare', ['-n', '--', 'true'], { encoding: 'utf8' });
if (probe.error !== undefined || probe.status !== 0) {
  skip(`\`unshare -n\` is unavailable (${probe.error?.message ?? (probe.stderr.trim() || `exit ${probe.status}`)})`);
}
if (!existsSync(HTTPD)) {
  console.error(`interop suite: ${HTTPD} not found; install it with \`apt-get install -y apache2-bin\``);
  process.exit(1);
}

if (files.length === 0) {
  // node --test without files would discover test files on its own (this script included).
  console.error(`interop suite: no test/interop/*.interop.ts file matches ${only.join(', ')}`);
  process.exit(1);
}
const version = spawnSync(HTTPD, ['-v'], { encoding: 'utf8' }).stdout.trim().replaceAll('\n', '; ');
console.log(`interop suite against ${version} (${files.length} files, inside unshare -n)`);

// Loopback is down in a fresh namespace; multicast is routed over it so httpd's
// mod_heartbeat/mod_heartmonitor (which use the default interface) stay on lo.
const setup = ['ip link set lo up', 'ip link set lo multicast on', 'ip route add 224.0.0.0/4 dev lo src 127.0.0.1'].join(' && ');
const runner = [process.execPath, '--test', '--import=tsx/esm', '--test-concurrency=1', '--test-reporter=spec', ...files].map(quote).join(' ');
const child = spawn('unshare', ['-n', '--', 'bash', '-c', `set -e; ${setup}; exec ${runner}`], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, HM_IN_NETNS: '1' }, // what test/helpers/netns.ts checks
});
// SIGTERM lets each test file's exit hook stop its httpd and backends by PID.
const timer = setTimeout(() => {
  console.error(`interop suite: exceeded ${SUITE_TIMEOUT_MS / 1000} s, stopping it`);
  child.kill('SIGTERM');
}, SUITE_TIMEOUT_MS);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  clearTimeout(timer);
  process.exit(code ?? (signal === null ? 1 : 128));
});

function quote(text) {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
