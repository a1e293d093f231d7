/**
 * Client-side balancing with fetch: a service calling a pool of origins picks the target
 * of each request itself from the heartbeat table, no proxy in between.
 *
 * Run (loopback only; exits after --requests requests or --duration seconds), with origins
 * from examples/origin.ts announcing to the same --heartbeat address:
 *   npx tsx examples/fetch-balancer.ts --heartbeat 239.0.0.1:27999 --interface 127.0.0.1 \
 *     --members http://127.0.0.2:8080,http://127.0.0.3:8080 --requests 200
 */
import { parseArgs } from 'node:util';
import { HeartMonitor } from '../src/index.js';

const { values } = parseArgs({
  options: {
    heartbeat: { type: 'string', default: '239.0.0.1:27999' },
    interface: { type: 'string', default: '127.0.0.1' }, // loopback unless told otherwise
    members: { type: 'string', default: 'http://127.0.0.2:8080,http://127.0.0.3:8080' },
    requests: { type: 'string', default: '200' },
    duration: { type: 'string', default: '30' },
  },
});
const members = values.members.split(',');
const deadline = Date.now() + Number(values.duration) * 1000;

const monitor = new HeartMonitor({ listen: values.heartbeat, interface: values.interface });
monitor.on('error', (error) => console.error(`monitor: ${error.message}`));
await monitor.listen();
console.log(`balancer waiting for heartbeats on port ${monitor.address()?.port}`);

/** GET `path` from a backend chosen by heartbeat weight; another one when it fails. */
async function balancedFetch(path: string): Promise<{ member: string; response: Response }> {
  const tried = new Set<string>();
  for (;;) {
    const member = monitor.pickBackend(members.filter((m) => !tried.has(m)));
    if (member === undefined) throw new Error(`no backend available (tried ${[...tried].join(', ') || 'none'})`);
    tried.add(member);
    try {
      return { member, response: await fetch(new URL(path, member), { signal: AbortSignal.timeout(5000) }) };
    } catch {
      // Connection refused or timed out: the next iteration picks another member.
    }
  }
}

// Wait until some backend has announced itself.
while (monitor.pickBackend(members) === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));

const counts = new Map<string, number>();
let failed = 0;
for (let i = 0; i < Number(values.requests) && Date.now() < deadline; i++) {
  try {
    const { member, response } = await balancedFetch(`/item/${i}`);
    await response.arrayBuffer();
    counts.set(member, (counts.get(member) ?? 0) + 1);
  } catch (error) {
    failed++;
    if (failed === 1) console.error((error as Error).message);
  }
}
const total = [...counts.values()].reduce((a, b) => a + b, 0);
for (const member of members) {
  const n = counts.get(member) ?? 0;
  console.log(`${member} ${n} (${total === 0 ? 0 : ((100 * n) / total).toFixed(1)}%)`);
}
console.log(`done: ${total} requests answered, ${failed} failed`);
await monitor.close();
