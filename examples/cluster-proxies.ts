/**
 * HTTP reverse proxies in `node:cluster` workers sharing one HeartMonitor: the primary
 * receives the heartbeats and shares its table with `monitor.shareWithCluster()`; every
 * worker runs a proxy over `await ClusterView.connect()` — a snapshot, then every change
 * within milliseconds — with the monitor's whole balancing API: a lease per request
 * (in-flight correction), failures fed back (`release({ failed: true })`).
 *
 * Run (everything on 127.0.0.1; it stops by itself after --requests requests or
 * --duration seconds, whichever comes first):
 *   npx tsx examples/cluster-proxies.ts --workers 2 --requests 600
 *
 * It starts three origin servers advertising ready=10/20/30 (busy=5), drains the third
 * one halfway through (the workers stop sending it requests with the next IPC message),
 * and prints how the requests were spread.
 */
import cluster from 'node:cluster';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { ClusterView, formatHeartbeat, HeartMonitor } from '../src/index.js';

if (cluster.isPrimary) await main();
else await runProxy();

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '2' },
      requests: { type: 'string', default: '600' },
      duration: { type: 'string', default: '30' },
    },
  });
  const deadline = Date.now() + Number(values.duration) * 1000;
  const advertised = [10, 20, 30].map((ready) => ({ ready, busy: 5 }));

  // keyBy 'ip:port' tells the origins apart, as they all live on 127.0.0.1.
  const monitor = new HeartMonitor({ listen: '127.0.0.1:0', keyBy: 'ip:port' });
  monitor.on('error', (error) => console.error(`monitor: ${error.message}`));
  await monitor.listen();
  // Every worker forked now or later gets a snapshot when it connects, then the changes.
  monitor.shareWithCluster();
  const monitorPort = monitor.address()?.port ?? 0;

  const origins = await Promise.all(advertised.map(() => listen(createServer((_req, res) => res.end(`origin http://127.0.0.1:${res.socket?.localPort}`)))));
  const members = origins.map((server) => `http://127.0.0.1:${port(server)}`);
  const heartbeat = createSocket('udp4');
  const announce = (): void => {
    origins.forEach((server, i) => {
      const counts = advertised[i] ?? { ready: 0, busy: 0 };
      heartbeat.send(formatHeartbeat({ ...counts, port: port(server) }), monitorPort, '127.0.0.1');
    });
  };
  announce();
  const announcer = setInterval(announce, 1000);
  while (monitor.servers().length < origins.length && Date.now() < deadline) await sleep(20);

  // Workers inherit this process's execArgv, so the tsx loader too when run under tsx.
  const workers = Array.from({ length: Number(values.workers) }, () => cluster.fork({ HM_MEMBERS: JSON.stringify(members) }));
  const proxyPorts = await Promise.all(
    workers.map(async (worker) => {
      for (;;) {
        const [message] = (await once(worker, 'message')) as [{ proxyPort?: number }];
        if (message.proxyPort !== undefined) return message.proxyPort;
      }
    }),
  );
  console.log(`monitor on 127.0.0.1:${monitorPort}, ${origins.length} origins, ${workers.length} cluster proxies on ports ${proxyPorts.join(', ')}`);

  const total = Number(values.requests);
  const byOrigin = new Map<string, number>();
  let sent = 0;
  let failed = 0;
  let drained = false;
  const client = async (): Promise<void> => {
    while (sent < total && Date.now() < deadline) {
      if (!drained && sent >= total / 2) {
        drained = true;
        monitor.drain(`127.0.0.1:${port(origins[2] as Server)}`);
        await sleep(50); // the workers get the change with the primary's next message
        byOrigin.set('drained', byOrigin.get(`origin ${members[2]}`) ?? 0);
      }
      const proxyPort = proxyPorts[sent++ % proxyPorts.length] ?? 0;
      const { status, body } = await get(proxyPort);
      if (status !== 200) failed++;
      else byOrigin.set(body, (byOrigin.get(body) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, client));

  const routed = [...byOrigin.entries()].filter(([key]) => key !== 'drained').reduce((sum, [, count]) => sum + count, 0);
  console.log(`requests routed: ${routed}, failed: ${failed}`);
  members.forEach((member, i) => console.log(`  ${member}  ready=${advertised[i]?.ready}  got ${byOrigin.get(`origin ${member}`) ?? 0}`));
  const third = byOrigin.get(`origin ${members[2]}`) ?? 0;
  console.log(`  after the drain ${members[2]} got ${third - (byOrigin.get('drained') ?? 0)}`);

  clearInterval(announcer);
  heartbeat.close();
  await Promise.all(
    workers.map(async (worker) => {
      const exited = once(worker, 'exit');
      worker.kill();
      await exited;
    }),
  );
  await Promise.all(origins.map((server) => new Promise((resolve) => server.close(resolve))));
  await monitor.close();
  console.log('done');
}

/** A proxy in a cluster worker: a lease per request, failures fed back. */
async function runProxy(): Promise<void> {
  const members = JSON.parse(process.env.HM_MEMBERS ?? '[]') as string[];
  const view = await ClusterView.connect({ inFlightCorrection: true, failure: { retryAfter: 5000 } });
  const server = createServer((req, res) => {
    const lease = view.acquire(members);
    if (lease === undefined) {
      res.writeHead(503).end('no backend\n');
      return;
    }
    const upstream = request(new URL(req.url ?? '/', lease.member), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('end', () => lease.release());
    });
    upstream.on('error', () => {
      lease.release({ failed: true });
      res.writeHead(502).end('bad gateway\n');
    });
    req.pipe(upstream);
  });
  process.send?.({ proxyPort: port(await listen(server)) });
}

async function listen(server: Server): Promise<Server> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function port(server: Server): number {
  return (server.address() as AddressInfo).port;
}

async function get(proxyPort: number): Promise<{ status: number; body: string }> {
  const req = request({ host: '127.0.0.1', port: proxyPort, path: '/' });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode ?? 0, body };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
