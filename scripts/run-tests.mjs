// Runs test/**/*.test.ts (or the files given as arguments) with node:test through tsx.
// Node 20 — our minimum — does not expand globs after --test, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

const given = process.argv.slice(2);
const files =
  given.length > 0
    ? given
    : readdirSync('test', { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.test.ts'))
        .map((file) => join('test', file))
        .sort();
const result = spawnSync(process.execPath, ['--test', '--import=tsx/esm', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
