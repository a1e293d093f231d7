/**
 * A live heartmonitor on loopback: one monitor, three simulated origin servers, weighted picks.
 *
 * Run it from a clone of the repository:
 *
 *     npm ci && npm run example          # picks a free UDP port
 *     npx tsx examples/live-loopback.ts 27999   # or choose the port
 *
 * The monitor joins the multicast group 239.0.0.1 on the loopback interface (127.0.0.1).
 * Three origins play mod_heartbeat from their own addresses, 127.0.0.2, .3 and .4, sending
 * `v=1&ready=…&busy=…` once a second with changing counts. Every second the example prints
 * the live table and how 1,000 `pickBackend(members)` calls were spread, then it closes
 * everything and exits by itself after about 6 seconds. Nothing leaves the machine: the
 * senders are pinned to the loopback interface with setMulticastInterface('127.0.0.1').
 *
 * In your own code, import from 'heartmonitor' instead of '../src/index.js'.
 */
import { createSocket, type Socket } from 'node:dgram';
import { HeartMonitor, formatHeartbeat, heartbeatWeight, type ServerStatus } from '../src/index.js';

const GROUP = '239.0.0.1';
const RUN_SECONDS = 6;
const PICKS = 1000;

/** One simulated origin: its address and the counts it reports at second `t`. */
interface Origin {
  readonly ip: string;
  readonly role: string;
  status(t: number): { ready: number; busy: number };
}

const origins: Origin[] = [
  { ip: '127.0.0.2', role: 'steady', status: () => ({ ready: 30, busy: 10 }) },
  // busy = 0 means "just started": lbmethod=heartbeat gives it only ready / 4 until it works.
  { ip: '127.0.0.3', role: 'warming up', status: (t) => (t < 3 ? { ready: 40, busy: 0 } : { ready: 40, busy: 4 }) },
  { ip: '127.0.0.4', role: 'getting busy', status: (t) => ({ ready: Math.max(0, 40 - 8 * t), busy: Math.min(44, 4 + 8 * t) }) },
];

/** The balancer members a proxy would route to: one URL per origin. */
const members = origins.map((origin) => `http://${origin.ip}:8080`);

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 0);
  const monitor = new HeartMonitor({ listen: `${GROUP}:${port}`, interface: '127.0.0.1' });
  monitor.on('add', (server) => console.log(`+ ${server.ip} sent its first heartbeat`));
  monitor.on('stale', (server) => console.log(`- ${server.ip} went silent: no longer picked`));
  monitor.on('malformed', (info) => console.log(`! dropped a datagram from ${info.from.address}: ${info.reason}`));
  monitor.on('error', (error) => console.error(`! ${error.message}`));
  await monitor.listen();
  const groupPort = monitor.address()?.port ?? port;
  console.log(`heartmonitor listening on ${GROUP}:${groupPort} (interface 127.0.0.1); origins on ${origins.map((o) => o.ip).join(', ')}`);

  const senders = await Promise.all(origins.map((origin) => bindSender(origin.ip)));
  let beats = 0;
  const beat = (): void => {
    origins.forEach((origin, i) => senders[i]?.send(formatHeartbeat(origin.status(beats)), groupPort, GROUP));
    beats++;
  };
  beat();
  const beating = setInterval(beat, 1000); // mod_heartbeat's interval

  let second = 0;
  const report = setInterval(() => {
    second++;
    printTable(second, monitor.servers(), countPicks(monitor));
    if (second >= RUN_SECONDS) void stop();
  }, 1000);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(beating);
    clearInterval(report);
    await Promise.all(senders.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    await monitor.close();
    console.log('closed the monitor and the senders; bye');
  };
  process.once('SIGINT', () => void stop());
}

function bindSender(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port: 0 }, () => {
      socket.off('error', reject);
      socket.setMulticastInterface('127.0.0.1'); // keep the multicast traffic on loopback
      resolve(socket);
    });
  });
}

function countPicks(monitor: HeartMonitor): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < PICKS; i++) {
    const member = monitor.pickBackend(members) ?? 'none (503)';
    counts.set(member, (counts.get(member) ?? 0) + 1);
  }
  return counts;
}

function printTable(second: number, servers: ServerStatus[], picks: Map<string, number>): void {
  console.log(`\nt=${second}s   server      role           ready  busy  weight  share of ${PICKS} picks`);
  for (const origin of origins) {
    const server = servers.find((s) => s.ip === origin.ip);
    const count = picks.get(`http://${origin.ip}:8080`) ?? 0;
    const cells =
      server === undefined
        ? ['-', '-', '-']
        : [String(server.ready), String(server.busy), String(heartbeatWeight(server))];
    const share = `${((100 * count) / PICKS).toFixed(1)} %`;
    console.log(`       ${origin.ip.padEnd(11)} ${origin.role.padEnd(13)} ${cells[0]?.padStart(6)} ${cells[1]?.padStart(5)} ${cells[2]?.padStart(7)}  ${share.padStart(8)}`);
  }
  const unrouted = picks.get('none (503)');
  if (unrouted !== undefined) console.log(`       no backend for ${unrouted} picks (Apache would answer 503)`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
