/**
 * `heartmonitor demo`: the whole stack on loopback in one process — a monitor, simulated
 * origin servers announcing changing load (one goes silent and comes back) and a small
 * HTTP proxy routing with `pickBackend`, driven by a bounded load loop.
 * @module
 */
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { HeartMonitor } from '../monitor/monitor.js';
import { HeartbeatSender } from '../sender/sender.js';
import { trackServerLoad } from '../sender/server-load.js';
import { MemoryStore } from '../stores/memory-store.js';
import { integerOption, parseCommandArgs, positionals, sleep, stopSignal } from './args.js';
import { canBind, multicastLoopbackWorks } from './loopback.js';
import { percent, renderTable, repaint, serverRows, type ServerRow } from './table.js';

/** `heartmonitor demo --help`. */
export const DEMO_HELP = `Usage: heartmonitor demo [options]

Run everything on loopback in this process: a heartbeat monitor, simulated origin
servers on 127.0.0.2, 127.0.0.3, … announcing changing load (one goes silent and comes
back), and an HTTP proxy that routes each request with monitor.pickBackend(). Shows the
live table and how requests spread, then exits by itself (or on Ctrl-C).

Options:
  --duration S         how long to run, in seconds (default 10)
  --origins N          simulated origin servers, 2..8 (default 4)
  -h, --help           show this help
`;

const GROUP = '239.255.73.1';
const STALE_AFTER_MS = 2500; // shorter than Apache's 10 s so the demo shows it in seconds
const HEARTBEAT_MS = 500;
const CONCURRENCY = 4;
const MAX_REQUESTS = 50_000;
const REDRAW_MS = 500;

interface Origin {
  readonly name: string;
  readonly url: string;
  readonly server: Server;
  readonly sender: HeartbeatSender;
}

/** Run `heartmonitor demo`; resolves with the exit code. */
export async function runDemo(args: readonly string[]): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(args, { duration: { type: 'string' }, origins: { type: 'string' } }, 'demo');
  if (values.help === true) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  positionals('demo', rest, 0, 0, '');
  const durationMs = (integerOption('demo', 'duration', values.duration, 1, 3600) ?? 10) * 1000;
  const originCount = integerOption('demo', 'origins', values.origins, 2, 8) ?? 4;
  const live = process.stdout.isTTY;
  const started = Date.now();
  const clock = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
  // A terminal shows the latest events under the live table; a pipe gets every event as a line.
  const recent: string[] = [];
  const say = (line: string): void => {
    if (!live) process.stdout.write(`${clock()}  ${line}\n`);
    else if (recent.push(`${clock()}  ${line}`) > 6) recent.shift();
  };

  // Each origin gets its own loopback address when the OS has them (Linux); otherwise all
  // share 127.0.0.1 and servers are told apart by their announced port.
  const ownAddresses = await canBind('127.0.0.2');
  const multicast = await multicastLoopbackWorks(GROUP);
  const monitor = new HeartMonitor({
    listen: multicast ? `${GROUP}:0` : '127.0.0.1:0',
    interface: multicast ? '127.0.0.1' : undefined,
    keyBy: ownAddresses ? 'ip' : 'ip:port',
    staleAfter: STALE_AFTER_MS,
    expireAfter: durationMs + 60_000,
    store: new MemoryStore(),
  });
  monitor.on('error', (error) => say(`monitor error: ${error.message}`));
  await monitor.listen();
  const heartbeatAddress = `${multicast ? GROUP : '127.0.0.1'}:${monitor.address()?.port}`;
  const header = `heartmonitor demo: monitor on ${heartbeatAddress}${multicast ? ' (multicast, pinned to 127.0.0.1)' : ' (unicast)'}, ${originCount} origins, stale after ${STALE_AFTER_MS / 1000} s`;
  if (!live) process.stdout.write(`${header}\n`);

  const stale = new Set<string>();
  monitor.on('add', (server) => say(`origin ${server.ip}:${server.port} joined: ready=${server.ready} busy=${server.busy}`));
  monitor.on('stale', (server) => {
    stale.add(`${server.ip}:${server.port}`);
    say(`origin ${server.ip}:${server.port} went stale: no heartbeat for ${STALE_AFTER_MS / 1000} s, no longer picked`);
  });
  monitor.on('update', (server) => {
    if (stale.delete(`${server.ip}:${server.port}`)) say(`origin ${server.ip}:${server.port} is back: ready=${server.ready} busy=${server.busy}`);
  });

  const origins: Origin[] = [];
  for (let i = 0; i < originCount; i++) origins.push(await startOrigin(i, ownAddresses ? `127.0.0.${i + 2}` : '127.0.0.1', heartbeatAddress, multicast, started));
  const members = origins.map((origin) => origin.url);
  const routed = new Map<string, number>(members.map((member) => [member, 0]));
  const counts = { routed: 0, unavailable: 0, failed: 0 };

  const upstream = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
  const proxy = createServer((req, res) => {
    const member = monitor.pickBackend(members);
    if (member === undefined) {
      counts.unavailable++;
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('no backend has weight\n');
      return;
    }
    const forward = request(`${member}${req.url ?? '/'}`, { method: req.method, headers: req.headers, agent: upstream }, (answer) => {
      routed.set(member, (routed.get(member) ?? 0) + 1);
      counts.routed++;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => {
      counts.failed++;
      if (res.headersSent) res.destroy(); // cut off mid-answer: the client must not take it as complete
      else res.writeHead(502, { 'Content-Type': 'text/plain' }).end('backend failed\n');
    });
    req.pipe(forward);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
  say(`proxy on ${proxyUrl} routing to ${members.join(', ')}`);

  const { signal, dispose } = stopSignal();
  // Stops at the end of the duration or on SIGINT/SIGTERM, whichever comes first.
  const ending = new AbortController();
  const deadline = ending.signal;
  const endTimer = setTimeout(() => ending.abort(), durationMs);
  signal.addEventListener('abort', () => ending.abort(), { once: true });
  // One origin goes silent for a while, then comes back.
  const silent = origins[originCount - 1];
  const silenceAt = Math.round(durationMs * 0.2);
  // Silent long enough to go stale, back before the end when the duration allows it.
  const returnAt = Math.min(durationMs - 1000, Math.max(Math.round(durationMs * 0.7), silenceAt + STALE_AFTER_MS + 1000));
  const silence = silent === undefined ? undefined : scheduleSilence(silent, silenceAt, returnAt, say, deadline);

  const clientAgent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (!deadline.aborted && sent < MAX_REQUESTS) {
      sent++;
      await get(proxyUrl, clientAgent).catch(() => undefined);
      await sleep(2, deadline); // leave the CPU to others; the loop is bounded anyway
    }
  };
  const workers = Promise.all(Array.from({ length: CONCURRENCY }, worker));

  const rows = (): ServerRow[] =>
    serverRows(monitor.servers(), Date.now(), STALE_AFTER_MS).map((row) => {
      const member = members.find((url) => url === `http://${row.ip}:${row.port}`);
      return { ...row, routed: counts.routed === 0 || member === undefined ? 0 : (routed.get(member) ?? 0) / counts.routed };
    });
  const summary = (): string => `${counts.routed} requests routed, ${counts.unavailable} answered 503 (no backend), ${counts.failed} failed`;
  let nextProgress = Date.now() + 2000;
  for (let first = true; !deadline.aborted; first = false) {
    if (live) {
      process.stdout.write(repaint(`${header}\nproxy ${proxyUrl}  —  ${clock().trim()} of ${durationMs / 1000}s, Ctrl-C to stop\n\n${renderTable(rows())}\n${summary()}\n\n${recent.join('\n')}\n`, first));
    } else if (Date.now() >= nextProgress) {
      nextProgress += 2000;
      say(summary());
    }
    await sleep(REDRAW_MS, deadline);
  }

  await workers;
  await silence;
  clearTimeout(endTimer);
  dispose();
  const finalRows = rows();
  await Promise.all(origins.map((origin) => origin.sender.stop()));
  clientAgent.destroy();
  upstream.destroy();
  proxy.closeAllConnections();
  proxy.close();
  for (const origin of origins) {
    origin.server.closeAllConnections();
    origin.server.close();
  }
  await monitor.close();

  process.stdout.write(`\n${renderTable(finalRows)}\n`);
  process.stdout.write(`routed ${counts.routed} requests through the proxy in ${((Date.now() - started) / 1000).toFixed(1)} s:\n`);
  for (const member of members) {
    const n = routed.get(member) ?? 0;
    process.stdout.write(`  ${member.padEnd(24)} ${String(n).padStart(6)}  ${percent(counts.routed === 0 ? 0 : n / counts.routed)}\n`);
  }
  process.stdout.write(`${counts.unavailable} answered 503 (no backend had weight), ${counts.failed} failed\n`);
  return counts.routed > 0 ? 0 : 1;
}

async function startOrigin(index: number, host: string, heartbeatAddress: string, multicast: boolean, started: number): Promise<Origin> {
  const name = `origin-${index + 1}`;
  const server = createServer((_req, res) => {
    // A little simulated work so requests overlap and busy counts move.
    setTimeout(() => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${name}\n`), 2 + ((index * 3) % 7));
  });
  server.keepAliveTimeout = 1000;
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const capacity = 20 * (index + 1);
  const load = trackServerLoad(server, { capacity });
  // Background load drifting over time (other clients of this origin), plus our own requests.
  const background = (): number => Math.round(capacity * (0.35 + 0.3 * Math.sin((Date.now() - started) / 1500 + index * 1.7)));
  const sender = new HeartbeatSender({
    address: heartbeatAddress,
    interface: multicast ? '127.0.0.1' : undefined,
    localAddress: host,
    port,
    interval: HEARTBEAT_MS,
    status: () => {
      const busy = Math.min(capacity, background() + load.inFlight);
      return { ready: capacity - busy, busy };
    },
  });
  await sender.start();
  return { name, url: `http://${host}:${port}`, server, sender };
}

async function scheduleSilence(origin: Origin, silenceAt: number, returnAt: number, say: (line: string) => void, signal: AbortSignal): Promise<void> {
  await sleep(silenceAt, signal);
  if (signal.aborted) return;
  await origin.sender.stop();
  say(`${origin.url} stops sending heartbeats (it still serves, but the monitor will stop picking it)`);
  await sleep(returnAt - silenceAt, signal);
  if (signal.aborted) return;
  await origin.sender.start();
  say(`${origin.url} sends heartbeats again`);
}

function get(url: string, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res: IncomingMessage) => {
      res.resume();
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
