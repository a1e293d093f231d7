/**
 * Smoke test of examples/worker-proxies.ts: it starts, routes every request through its
 * worker proxies to all three origins, and stops by itself.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { runNodeToEnd } from '../helpers/node-side.js';

it('examples/worker-proxies.ts routes requests through worker threads and exits', async () => {
  const example = join(import.meta.dirname, '..', '..', 'examples', 'worker-proxies.ts');
  const stdout = await runNodeToEnd(['--import', 'tsx/esm', example, '--workers', '2', '--requests', '200', '--duration', '60']);
  assert.match(stdout, /requests routed: 200, failed: 0/);
  const origins = [...stdout.matchAll(/ready=(\d+) .* got [\d.]+% \((\d+)\)/g)];
  assert.deepEqual(
    origins.map((m) => m[1]),
    ['10', '20', '30'],
  );
  for (const match of origins) assert.ok(Number(match[2]) > 0, `an origin got no requests:\n${stdout}`);
  assert.equal([...stdout.matchAll(/proxy :\d+ handled (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0), 200);
  assert.match(stdout, /done\n$/);
});
