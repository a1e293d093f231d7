import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

// Install the package the way a user does (npm pack → npm install <tarball>) and load it
// from ESM and CommonJS, so the exports map and both builds are tested as shipped.

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let workDir = '';
let project = '';
let installed = '';

/** What each consumer prints: the export types and one real ingest + pick. */
const consumerBody = `
const exported = { HeartMonitor: typeof HeartMonitor, parseHeartbeat: typeof parseHeartbeat, pickBackend: typeof pickBackend };
const monitor = new HeartMonitor();
monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
const picked = monitor.pickBackend(['http://10.0.0.1:8080']);
const parsed = parseHeartbeat('v=1&ready=75&busy=0');
monitor.close().then(() => console.log(JSON.stringify({ exported, picked, ready: parsed.ok ? parsed.ready : null })));
`;

const expected = {
  exported: { HeartMonitor: 'function', parseHeartbeat: 'function', pickBackend: 'function' },
  picked: 'http://10.0.0.1:8080',
  ready: 75,
};

/** Whether both builds exist and are newer than every source file. */
function distIsFresh(): boolean {
  const built = ['esm', 'cjs'].map((build) => join(root, 'dist', build, 'index.js'));
  if (!built.every((file) => existsSync(file))) return false;
  const builtAt = Math.min(...built.map((file) => statSync(file).mtimeMs));
  const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' });
  return sources.every((file) => statSync(join(root, 'src', file)).mtimeMs < builtAt);
}

describe('the packed npm package', () => {
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'heartmonitor-pack-'));
    // `npm test` has just built dist/; rebuild (prepack) only when it is missing or older than src/.
    const packArgs = ['pack', '--json', '--pack-destination', workDir, ...(distIsFresh() ? ['--ignore-scripts'] : [])];
    const { stdout } = await run(npm, packArgs, { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string }[];
    assert.ok(packed !== undefined, 'npm pack reported no file');
    project = join(workDir, 'consumer');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    await run(npm, ['install', join(workDir, packed.filename), '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: project,
      maxBuffer: 16 * 1024 * 1024,
    });
    installed = join(project, 'node_modules', 'heartmonitor');
  });

  after(async () => {
    if (workDir !== '') await rm(workDir, { recursive: true, force: true });
  });

  it('works with import from an ES module', async () => {
    const file = join(project, 'esm.mjs');
    await writeFile(file, `import { HeartMonitor, parseHeartbeat, pickBackend } from 'heartmonitor';\n${consumerBody}`);
    const { stdout } = await run(process.execPath, [file], { cwd: project });
    assert.deepEqual(JSON.parse(stdout), expected);
  });

  it('works with require from CommonJS', async () => {
    const file = join(project, 'cjs.cjs');
    await writeFile(file, `const { HeartMonitor, parseHeartbeat, pickBackend } = require('heartmonitor');\n${consumerBody}`);
    const { stdout } = await run(process.execPath, [file], { cwd: project });
    assert.deepEqual(JSON.parse(stdout), expected);
  });

  it('ships type declarations for both builds and only what users need', async () => {
    for (const build of ['esm', 'cjs']) {
      assert.ok(existsSync(join(installed, 'dist', build, 'index.d.ts')), `dist/${build}/index.d.ts`);
      assert.ok(existsSync(join(installed, 'dist', build, 'monitor', 'monitor.d.ts')), `dist/${build}/monitor/monitor.d.ts`);
    }
    assert.equal(existsSync(join(installed, 'src')), false, 'sources are not shipped');
    assert.equal(existsSync(join(installed, 'test')), false, 'tests are not shipped');
    assert.equal(existsSync(join(installed, 'dist', 'esm', 'index.js.map')), false, 'source maps are left out');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.deepEqual(Object.keys(manifest.dependencies).sort(), ['eventemitter3', 'tslib']);
    const cjsType = JSON.parse(await readFile(join(installed, 'dist', 'cjs', 'package.json'), 'utf8')) as { type: string };
    assert.equal(cjsType.type, 'commonjs');
  });

  it('type-checks for TypeScript users of both module systems', async () => {
    await writeFile(
      join(project, 'check.mts'),
      `import { HeartMonitor, type ServerStatus } from 'heartmonitor';\nconst s: ServerStatus | undefined = new HeartMonitor().pickBackend();\nexport const ip: string | undefined = s?.ip;\n`,
    );
    await writeFile(
      join(project, 'check.cts'),
      `import { pickBackend, type ServerStatus } from 'heartmonitor';\nconst servers: ServerStatus[] = [];\nexport const member: string | undefined = pickBackend(servers, ['http://10.0.0.1:80']);\n`,
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    // skipLibCheck: checking all of @types/node dominates the time; the consumer's use of our types is still checked.
    const args = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];
    args.push('--typeRoots', join(root, 'node_modules', '@types'), '--types', 'node', 'check.mts', 'check.cts');
    await run(process.execPath, [tsc, ...args], { cwd: project });
  });
});
