// Every ```ts block of README.md and docs/*.md compiles as written (each block on its own,
// against the sources), and is safe to run on a laptop: multicast pinned to an interface,
// servers bound to loopback, an `error` listener on everything that emits errors.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, '.tmp', 'snippets');

interface Snippet {
  /** `docs/guide.md:84` */
  readonly where: string;
  readonly file: string;
  readonly code: string;
}

/** The ```ts blocks of a markdown text, with the line each starts on (indented blocks too). */
export function tsBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```ts\s*$/.exec(lines[i] ?? '');
    if (open === null) continue;
    const indent = open[1]?.length ?? 0;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j] ?? ''); j++) body.push((lines[j] ?? '').slice(indent));
    blocks.push({ line: i + 1, code: body.join('\n') });
    i = j;
  }
  return blocks;
}

async function collect(): Promise<Snippet[]> {
  const docs = (await readdir(join(root, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
  const snippets: Snippet[] = [];
  for (const doc of ['README.md', ...docs.sort()]) {
    for (const { line, code } of tsBlocks(await readFile(join(root, doc), 'utf8'))) {
      snippets.push({ where: `${doc}:${line}`, file: `${doc.replace(/[/.]/g, '_')}_L${line}.ts`, code });
    }
  }
  return snippets;
}

/** What makes a snippet unsafe or incomplete to run as written, if anything. */
export function unsafeParts(code: string): string[] {
  const problems: string[] = [];
  if (/['"]2(2[4-9]|3\d)\.\d+\.\d+\.\d+:\d+['"]/.test(code) && !/\binterface:/.test(code)) problems.push('joins a multicast group without `interface`');
  if (/new (HeartMonitor|HeartbeatSender|HeartbeatFileReader)\(|createProxyServer\(/.test(code) && !/\.on\(\s*'error'/.test(code)) problems.push("creates an emitter without an 'error' listener");
  if (/\.listen\(\s*\d+\s*\)/.test(code)) problems.push('listens on every interface (pass a loopback host)');
  if (/\.listen\(\s*\{(?![^}]*host:\s*'(127\.|::1))/.test(code)) problems.push('listens without a loopback host');
  return problems;
}

describe('documentation snippets', () => {
  it('finds the snippets, indented ones included', async () => {
    const snippets = await collect();
    assert.ok(snippets.length >= 20, `only ${snippets.length} snippets found`);
    assert.deepEqual(tsBlocks('text\n  ```ts\n  const a = 1;\n  ```\n'), [{ line: 2, code: 'const a = 1;' }]);
    assert.deepEqual(unsafeParts("new HeartMonitor({ listen: '239.0.0.1:27999' })"), ['joins a multicast group without `interface`', "creates an emitter without an 'error' listener"]);
    assert.deepEqual(unsafeParts("server.listen(8000); app.listen({ port: 1 })"), ['listens on every interface (pass a loopback host)', 'listens without a loopback host']);
  });

  it('are loopback-safe and listen for errors', async () => {
    const problems = (await collect()).flatMap((snippet) => unsafeParts(snippet.code).map((problem) => `${snippet.where}: ${problem}`));
    assert.deepEqual(problems, []);
  });

  it('type-check against the sources', { timeout: 180_000 }, async () => {
    const snippets = await collect();
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    // `export {}` makes every block a module of its own (top-level await, no shared names).
    for (const snippet of snippets) await writeFile(join(outDir, snippet.file), `// ${snippet.where}\n${snippet.code}\nexport {};\n`);
    const integration = (name: string) => [`../../src/integrations/${name}/index.ts`];
    await writeFile(
      join(outDir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../tsconfig.json',
        compilerOptions: {
          noEmit: true,
          allowImportingTsExtensions: true,
          paths: {
            heartmonitor: ['../../src/index.ts'],
            'heartmonitor/redis': ['../../src/redis.ts'],
            'heartmonitor/undici': integration('undici'),
            'heartmonitor/fastify': integration('fastify'),
            'heartmonitor/http-proxy': integration('http-proxy'),
          },
        },
        include: ['*.ts'],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      await run(process.execPath, [tsc, '-p', join(outDir, 'tsconfig.json')], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const output = String((error as { stdout?: string }).stdout ?? error);
      // Name the document and line instead of the generated file.
      const located = output.replace(/^\.tmp\/snippets\/(\S+?)\.ts\((\d+),(\d+)\)/gm, (_all, file: string, line: string) => {
        const snippet = snippets.find((candidate) => candidate.file === `${file}.ts`);
        const [doc, start] = (snippet?.where ?? `${file}:0`).split(':');
        return `${doc}:${Number(start) + Number(line) - 1}`;
      });
      assert.fail(`snippets do not compile:\n${located}`);
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  });
});
