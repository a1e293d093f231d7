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

/** The version of a package installed in this repository. */
async function installedVersion(name: string): Promise<string> {
  return (JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Loads `entry` (ESM or CJS) in a child and returns the npm packages that it loaded. */
async function packagesLoadedBy(cwd: string, entry: string, kind: 'esm' | 'cjs'): Promise<string[]> {
  const log = join(cwd, `loaded-${kind}.txt`);
  await writeFile(log, '');
  if (kind === 'cjs') {
    const script = `require(${JSON.stringify(entry)}); require('node:fs').writeFileSync(${JSON.stringify(log)}, Object.keys(require.cache).join('\\n'));`;
    await run(process.execPath, ['-e', script], { cwd });
  } else {
    // A resolve hook (off-thread) appends every module URL it resolves.
    await writeFile(join(cwd, 'log-hooks.mjs'), `import { appendFileSync } from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  const result = await next(specifier, context);\n  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');\n  return result;\n}\n`);
    await writeFile(join(cwd, 'log-register.mjs'), `import { register } from 'node:module';\nregister('./log-hooks.mjs', import.meta.url);\n`);
    await run(process.execPath, ['--import', './log-register.mjs', '--input-type=module', '-e', `await import(${JSON.stringify(entry)});`], { cwd });
  }
  const names = new Set<string>();
  for (const line of (await readFile(log, 'utf8')).split('\n')) {
    const match = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(line);
    if (match?.[1] !== undefined) names.add(match[1].replace('\\', '/'));
  }
  return [...names].sort();
}

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
    // The optional peers at the versions this repository tests with, so npm finds them in
    // its cache (offline here; CI reaches the registry).
    const peers = await Promise.all(['undici', 'fastify', '@fastify/reply-from', 'http-proxy'].map(async (name) => `${name}@${await installedVersion(name)}`));
    await run(npm, ['install', join(workDir, packed.filename), ...peers, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
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

  it('exports heartmonitor/redis to ESM and CommonJS without loading it from the core entry', async () => {
    const esm = join(project, 'redis.mjs');
    await writeFile(esm, `import { RedisStore, tableKeys } from 'heartmonitor/redis';\nconsole.log(typeof RedisStore.attach, tableKeys('p').servers);\n`);
    assert.equal((await run(process.execPath, [esm], { cwd: project })).stdout.trim(), 'function {p}:servers');
    const cjs = join(project, 'redis.cjs');
    await writeFile(cjs, `const { RedisStore } = require('heartmonitor/redis');\nconsole.log(typeof RedisStore);\n`);
    assert.equal((await run(process.execPath, [cjs], { cwd: project })).stdout.trim(), 'function');
    const core = join(project, 'core.cjs');
    await writeFile(core, `require('heartmonitor');\nconsole.log(Object.keys(require.cache).filter((f) => /redis/i.test(f)).length);\n`);
    assert.equal((await run(process.execPath, [core], { cwd: project })).stdout.trim(), '0');
    for (const build of ['esm', 'cjs']) assert.ok(existsSync(join(installed, 'dist', build, 'redis.d.ts')), `dist/${build}/redis.d.ts`);
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
      [
        `import { HeartMonitor, type ServerStatus } from 'heartmonitor';`,
        `import { createDispatcher, type HeartbeatDispatcher } from 'heartmonitor/undici';`,
        `import heartmonitorProxy, { type HeartmonitorProxyOptions } from 'heartmonitor/fastify';`,
        `import { createProxyHandler } from 'heartmonitor/http-proxy';`,
        `const monitor = new HeartMonitor();`,
        `const s: ServerStatus | undefined = monitor.pickBackend();`,
        `export const ip: string | undefined = s?.ip;`,
        `export const dispatcher: HeartbeatDispatcher = createDispatcher(monitor, ['http://127.0.0.1:8080']);`,
        `export const options: HeartmonitorProxyOptions = { view: monitor, members: undefined, prefix: '/api' };`,
        `export const plugin = heartmonitorProxy;`,
        `export const handler = createProxyHandler;`,
        '',
      ].join('\n'),
    );
    await writeFile(
      join(project, 'check.cts'),
      `import { pickBackend, type ServerStatus } from 'heartmonitor';\nconst servers: ServerStatus[] = [];\nexport const member: string | undefined = pickBackend(servers, ['http://10.0.0.1:80']);\n`,
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    // skipLibCheck: checking all of @types/node dominates the time; the consumer's use of our types is still checked.
    await writeFile(
      join(project, 'redis.mts'),
      `import { RedisStore, type RedisView, type RedisViewClient } from 'heartmonitor/redis';\nexport const open = (client: RedisViewClient): Promise<RedisView> => RedisStore.attach({ client, prefix: 'p' });\n`,
    );
    const args = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];
    args.push('--typeRoots', join(root, 'node_modules', '@types'), '--types', 'node', 'check.mts', 'check.cts', 'redis.mts');
    await run(process.execPath, [tsc, ...args], { cwd: project });
  });

  it('ships LICENSE, README and CHANGELOG, and README links that work on the npm page', async () => {
    for (const file of ['LICENSE', 'README.md', 'CHANGELOG.md']) assert.ok(existsSync(join(installed, file)), file);
    assert.match(await readFile(join(installed, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    const readme = await readFile(join(installed, 'README.md'), 'utf8');
    const relative = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((match) => match[1] ?? '').filter((link) => !/^(https?:|#)/.test(link));
    assert.deepEqual(relative, [], 'relative links break on the npm page');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    for (const field of ['repository', 'homepage', 'bugs']) assert.ok(manifest[field] !== undefined, field);
  });

  it('runs the CLI through npx', async () => {
    const { stdout } = await run(npm, ['exec', '--offline', '--', 'heartmonitor', '--help'], { cwd: project });
    assert.match(stdout, /Usage: heartmonitor <command>/);
    assert.match(stdout, /listen/);
  });

  it('loads only eventemitter3 and tslib for the core import, from ESM and CommonJS', async () => {
    assert.deepEqual(await packagesLoadedBy(project, 'heartmonitor', 'esm'), ['eventemitter3', 'heartmonitor']);
    const cjs = await packagesLoadedBy(project, 'heartmonitor', 'cjs');
    assert.deepEqual(cjs.filter((name) => name !== 'tslib'), ['eventemitter3', 'heartmonitor']);
    // The optional peers are installed in this project, and still not loaded.
    assert.ok(existsSync(join(project, 'node_modules', 'undici')));
  });

  for (const kind of ['esm', 'cjs'] as const) {
    it(`serves the undici, fastify and http-proxy subpaths to ${kind === 'esm' ? 'import' : 'require'}`, async () => {
      const load = (name: string) => (kind === 'esm' ? `await import(${JSON.stringify(name)})` : `require(${JSON.stringify(name)})`);
      const body = `
const http = ${load('node:http')};
const { HeartMonitor } = ${load('heartmonitor')};
const { createDispatcher, NoMemberError } = ${load('heartmonitor/undici')};
const fastifyPlugin = ${load('heartmonitor/fastify')};
const { createProxyHandler } = ${load('heartmonitor/http-proxy')};
const { request } = ${load('undici')};
const server = http.createServer((req, res) => res.end('origin saw ' + req.url));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
const monitor = new HeartMonitor({ keyBy: 'ip:port' });
monitor.ingest('v=1&ready=10&busy=1&port=' + port, { address: '127.0.0.1' });
const dispatcher = createDispatcher(monitor, ['http://127.0.0.1:' + port]);
const response = await request('http://upstream/x?y=1', { dispatcher });
const text = await response.body.text();
await dispatcher.close();
await monitor.close();
server.close();
const plugin = fastifyPlugin.default ?? fastifyPlugin;
console.log(JSON.stringify({ text, plugin: typeof plugin, named: typeof fastifyPlugin.heartmonitorProxy, handler: typeof createProxyHandler, error: typeof NoMemberError }));
`;
      const file = join(project, kind === 'esm' ? 'subpaths.mjs' : 'subpaths.cjs');
      await writeFile(file, kind === 'esm' ? body : `(async () => {${body}})();`);
      const { stdout } = await run(process.execPath, [file], { cwd: project });
      assert.deepEqual(JSON.parse(stdout), { text: 'origin saw /x?y=1', plugin: 'function', named: 'function', handler: 'function', error: 'function' });
    });
  }
});
