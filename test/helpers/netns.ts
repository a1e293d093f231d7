/**
 * The one network-namespace guard of the tests: run a test file again inside a private
 * network namespace (`unshare -n`), where every 127.x.y.z address is local and nothing can
 * leave the machine (SPEC 2.3), and refuse to send from anywhere else. The interop suite's
 * runner (scripts/test-interop.mjs) makes the namespace the same way and sets the same
 * variable.
 */
import { execFileSync, spawn } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';

/** Set in a process started inside a private network namespace (by this module or the interop runner). */
export const IN_NETNS = process.env['HM_IN_NETNS'] === '1';

/**
 * Throw unless this process sits in a private network namespace whose only interface is
 * `lo`: call it before a test binds 127.x addresses, joins groups or changes routes.
 */
export function assertPrivateNetwork(): void {
  const names = Object.keys(networkInterfaces());
  if (!IN_NETNS || names.some((name) => name !== 'lo')) {
    throw new Error(
      'This test binds 127.x addresses and sends multicast: it runs only inside a private network namespace ' +
        `(\`unshare -n\`: runInNamespace(), or \`npm run test:interop\` for the interop suite); interfaces here: ${names.join(', ')}`,
    );
  }
}

/** Why the namespace cannot be created here, or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace (unshare -n)';
  try {
    execFileSync('unshare', ['-n', 'true'], { stdio: 'ignore' });
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'unshare -n or ip(8) is not available';
  }
  return undefined;
}

/** Inside the namespace (checked first): bring lo up with multicast routed to it. */
export function setUpLoopback(): void {
  assertPrivateNetwork();
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  execFileSync('ip', ['link', 'set', 'lo', 'multicast', 'on']);
  execFileSync('ip', ['route', 'add', '224.0.0.0/4', 'dev', 'lo', 'src', '127.0.0.1']);
}

/**
 * Run `moduleUrl` as a test file under `unshare -n` (extra `unshare` flags allowed, e.g.
 * `-m` for a private mount namespace); resolves with its exit code and output.
 */
export function runInNamespace(moduleUrl: string, unshareFlags: readonly string[] = ['-n'], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const file = fileURLToPath(moduleUrl);
  return new Promise((resolve, reject) => {
    // Without NODE_TEST_CONTEXT the child reports (and exits) as a test run of its own.
    const inherited = { ...process.env };
    delete inherited['NODE_TEST_CONTEXT'];
    const child = spawn('unshare', [...unshareFlags, '--', process.execPath, '--import=tsx/esm', '--test', '--test-reporter=tap', file], {
      env: { ...inherited, ...env, HM_IN_NETNS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}
