/**
 * examples/cluster-proxies.ts under tsx, and both multi-core examples (worker threads and
 * cluster) compiled to JavaScript with tsc and run with plain node: they route every
 * request and stop by themselves.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runNodeToEnd } from '../helpers/node-side.js';

const root = join(import.meta.dirname, '..', '..');
// Inside the repository, so the compiled files resolve tslib and eventemitter3 from node_modules.
const outDir = join(root, `.tmp-examples-${process.pid}`);
after(() => rmSync(outDir, { recursive: true, force: true }));

const run = (args: readonly string[]): Promise<string> => runNodeToEnd(args, { cwd: root });

function checkCluster(stdout: string): void {
  assert.match(stdout, /requests routed: 200, failed: 0/);
  assert.match(stdout, /after the drain \S+ got 0\n/);
  assert.match(stdout, /done\n$/);
}

describe('multi-core proxy examples', () => {
  it('cluster-proxies.ts under tsx: cluster workers route every request and stop sending to a drained origin', async () => {
    checkCluster(await run(['--import', 'tsx/esm', 'examples/cluster-proxies.ts', '--workers', '2', '--requests', '200']));
  });

  it('both examples work compiled with tsc and run with plain node', async () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = ['--ignoreConfig', '--outDir', outDir, '--rootDir', root, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--strict', '--skipLibCheck', '--importHelpers', '--types', 'node'];
    execFileSync(process.execPath, [tsc, ...flags, 'examples/worker-proxies.ts', 'examples/cluster-proxies.ts'], { cwd: root, stdio: 'pipe' });
    checkCluster(await run([join(outDir, 'examples', 'cluster-proxies.js'), '--workers', '2', '--requests', '200']));
    const workers = await run([join(outDir, 'examples', 'worker-proxies.js'), '--workers', '2', '--requests', '200']);
    assert.match(workers, /requests routed: 200, failed: 0/);
  });
});
