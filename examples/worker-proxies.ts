/**
 * HTTP reverse proxies in worker threads sharing one SlotStore: the main thread runs the
 * HeartMonitor (it receives the heartbeats and writes the shared slots), every worker runs
 * its own proxy and picks backends from `SlotStore.attach(buffer)` without locks, messages
 * or flushes, so each pick sees the latest heartbeat.
 *
 * Run (everything on 127.0.0.1; it stops by itself after --requests requests or
 * --duration seconds, whichever comes first):
 *   npx tsx examples/worker-proxies.ts --workers 2 --requests 600
 *
 * It starts three origin servers advertising ready=10/20/30 (busy=5) over UDP heartbeats
 * to the monitor, then sends the requests through the worker proxies and prints how they
 * were spread: about 1/6, 2/6 and 3/6, as lbmethod=heartbeat weighs them.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { formatHeartbeat, HeartMonitor, SlotStore, type SlotStoreView } from '../src/index.js';

/** What the main thread hands each worker. */
interface ProxyWorkerData {
  readonly buffer: SharedArrayBuffer;
  readonly members: string[];
}

if (isMainThread) await main();
else await runProxy(workerData as ProxyWorkerData);

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

  // maxServers >= 10 selects a SlotStore; keyBy 'ip:port' tells the origins apart, as they
  // all live on 127.0.0.1. The store's header carries these settings to every worker.
  const monitor = new HeartMonitor({ listen: '127.0.0.1:0', maxServers: 16, keyBy: 'ip:port' });
  monitor.on('error', (error) => console.error(`monitor: ${error.message}`));
  await monitor.listen();
  const store = monitor.store;
  if (!(store instanceof SlotStore)) throw new Error('expected the monitor to build a SlotStore');
  const monitorPort = monitor.address()?.port ?? 0;

  // Origins: each answers with its own address; each announces itself every second.
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

  // Proxies: one per worker thread, all reading the same shared slots.
  const workers = Array.from({ length: Number(values.workers) }, () => startWorker({ buffer: store.buffer, members }));
  const proxyPorts = await Promise.all(workers.map(async (worker) => ((await once(worker, 'message')) as [number])[0]));
  console.log(`monitor on 127.0.0.1:${monitorPort}, ${origins.length} origins, ${workers.length} worker proxies on ports ${proxyPorts.join(', ')}`);

  // Traffic: round-robin over the proxies, a few requests in flight at a time.
  const total = Number(values.requests);
  const byOrigin = new Map<string, number>();
  const byProxy = new Map<number, number>();
  let sent = 0;
  let failed = 0;
  const client = async (): Promise<void> => {
    while (sent < total && Date.now() < deadline) {
      const proxyPort = proxyPorts[sent++ % proxyPorts.length] ?? 0;
      const { status, body } = await get(proxyPort);
      if (status !== 200) failed++;
      else byOrigin.set(body, (byOrigin.get(body) ?? 0) + 1);
      byProxy.set(proxyPort, (byProxy.get(proxyPort) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, client));

  const routed = [...byOrigin.values()].reduce((a, b) => a + b, 0);
  const weightSum = advertised.reduce((sum, { ready }) => sum + ready, 0);
  console.log(`requests routed: ${routed}, failed: ${failed}`);
  members.forEach((member, i) => {
    const count = byOrigin.get(`origin ${member}`) ?? 0;
    const expected = ((advertised[i]?.ready ?? 0) / weightSum) * 100;
    console.log(`  ${member}  ready=${advertised[i]?.ready}  expected ${expected.toFixed(1)}%  got ${((count / Math.max(routed, 1)) * 100).toFixed(1)}% (${count})`);
  });
  for (const [proxyPort, count] of byProxy) console.log(`  proxy :${proxyPort} handled ${count}`);

  clearInterval(announcer);
  heartbeat.close();
  await Promise.all(workers.map((worker) => worker.terminate()));
  await Promise.all(origins.map((server) => new Promise((resolve) => server.close(resolve))));
  await monitor.close();
  console.log('done');
}

/** A proxy in a worker thread: picks with the shared view, forwards, streams the answer back. */
async function runProxy({ buffer, members }: ProxyWorkerData): Promise<void> {
  const view: SlotStoreView = SlotStore.attach(buffer);
  const server = createServer((req, res) => {
    const target = view.pickBackend(members);
    if (target === undefined) {
      res.writeHead(503).end('no backend\n');
      return;
    }
    const url = new URL(req.url ?? '/', target);
    const upstream = request(url, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end('bad gateway\n'));
    req.pipe(upstream);
  });
  parentPort?.postMessage(port(await listen(server)));
}

/** Start this file as a worker; under tsx the worker needs the TypeScript loader as well. */
function startWorker(data: ProxyWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(import.meta.url), { workerData: data });
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: data });
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
