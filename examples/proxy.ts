/**
 * A node:http reverse proxy routing every request with heartbeat weights (Apache's
 * lbmethod=heartbeat), with a lease per attempt (released failed when the backend fails),
 * retrying on another backend when the chosen one fails.
 *
 * Run (loopback only; stops by itself after --duration seconds), with origins from
 * examples/origin.ts announcing to the same --heartbeat address:
 *   npx tsx examples/proxy.ts --heartbeat 239.0.0.1:27999 --interface 127.0.0.1 \
 *     --listen 127.0.0.1:8000 --members http://127.0.0.2:8080,http://127.0.0.3:8080 --duration 60
 *   curl http://127.0.0.1:8000/
 */
import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { HeartMonitor } from '../src/index.js';

const { values } = parseArgs({
  options: {
    heartbeat: { type: 'string', default: '239.0.0.1:27999' },
    interface: { type: 'string', default: '127.0.0.1' }, // loopback unless told otherwise
    listen: { type: 'string', default: '127.0.0.1:8000' },
    members: { type: 'string', default: 'http://127.0.0.2:8080,http://127.0.0.3:8080' },
    attempts: { type: 'string', default: '3' },
    duration: { type: 'string', default: '60' },
  },
});
const members = values.members.split(',');
const maxAttempts = Number(values.attempts);
const MAX_BODY = 1024 * 1024; // bodies are buffered so a failed attempt can be replayed elsewhere

const monitor = new HeartMonitor({ listen: values.heartbeat, interface: values.interface });
monitor.on('error', (error) => console.error(`monitor: ${error.message}`));
monitor.on('add', (server) => console.log(`backend ${server.ip}:${server.port} announced itself (ready=${server.ready})`));
monitor.on('stale', (server) => console.log(`backend ${server.ip} went silent: no longer picked`));
await monitor.listen();

const agent = new Agent({ keepAlive: true });

/** How one forward ended: `answered` (nothing to retry) and whether it counts as the backend failing. */
interface Outcome {
  readonly answered: boolean;
  readonly failed: boolean;
}

/** Forward once; `answered: false` when the backend failed before answering (safe to retry). */
function forward(member: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<Outcome> {
  return new Promise((resolve) => {
    const upstream = request(new URL(req.url ?? '/', member), { method: req.method, headers: req.headers, agent }, (answer) => {
      const failed = (answer.statusCode ?? 502) >= 500;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('end', () => resolve({ answered: true, failed }));
      answer.on('error', () => resolve({ answered: true, failed: true })); // already answering: too late to retry
    });
    upstream.on('error', (error) => {
      if (res.headersSent) {
        res.destroy(); // failed mid-answer: too late to retry, and the client must not take it as complete
        resolve({ answered: true, failed: true });
        return;
      }
      console.log(`backend ${member} failed (${(error as NodeJS.ErrnoException).code ?? error.message}), trying another`);
      resolve({ answered: false, failed: true });
    });
    upstream.end(body);
  });
}

const proxy = createServer((req, res) => {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      res.writeHead(413, { Connection: 'close' }).end('body too large\n');
      req.destroy();
    } else chunks.push(chunk);
  });
  req.on('end', () => {
    void (async () => {
      const body = Buffer.concat(chunks);
      const tried = new Set<string>();
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        // Pick among the members not tried yet, still in proportion to their weights, and
        // hold a lease while the request runs: the balancer sees it in flight, and a failed
        // release counts against the backend (failure feedback).
        const lease = monitor.acquire(members.filter((m) => !tried.has(m)));
        if (lease === undefined) break;
        tried.add(lease.member);
        const outcome = await forward(lease.member, req, body, res);
        lease.release({ failed: outcome.failed });
        if (outcome.answered) return;
      }
      if (!res.headersSent) res.writeHead(tried.size === 0 ? 503 : 502, { 'Content-Type': 'text/plain' }).end(tried.size === 0 ? 'no backend available\n' : 'every backend failed\n');
    })();
  });
});
const [host = '127.0.0.1', port = '8000'] = values.listen.split(/:(?=\d+$)/);
proxy.listen(Number(port), host);
await once(proxy, 'listening');
console.log(`proxy listening on http://${host}:${(proxy.address() as AddressInfo).port}, heartbeats on port ${monitor.address()?.port}`);

const stop = async (): Promise<void> => {
  proxy.closeAllConnections();
  proxy.close();
  agent.destroy();
  await monitor.close();
  console.log('proxy stopped');
};
const timer = setTimeout(() => void stop(), Number(values.duration) * 1000);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    clearTimeout(timer);
    void stop();
  });
}
