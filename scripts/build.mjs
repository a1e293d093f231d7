// Builds the ESM and CommonJS outputs (with .d.ts for each) into dist/.
import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';

const tsc = (project) => execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { stdio: 'inherit' });

rmSync('dist', { recursive: true, force: true });
tsc('tsconfig.build.json');
tsc('tsconfig.cjs.json');
// The CJS tree needs its own package type so Node does not treat its .js files as ESM.
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');
if (existsSync('dist/esm/cli.js')) chmodSync('dist/esm/cli.js', 0o755);
