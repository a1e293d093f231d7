/**
 * Child process of the load bench: the origins of {@link ORIGINS}, each a node:http server
 * on its own loopback address with a FIFO queue in front of a fixed number of workers and
 * an exponential service time, each announcing itself with the project's HeartbeatSender
 * (unicast to the given loopback ports, from its own address).
 *
 * Usage: origins.ts '<json: { heartbeatTo: string[] }>'
 * Prints `{"origins":[{name,host,port,workers}]}` once listening, then answers one JSON
 * line per command read from stdin (see {@link Command}). Runs until stdin closes or it is
 * stopped.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { HeartbeatSender } from '../../../src/index.js';
import { MEAN_SERVICE_MS, ORIGINS, type OriginSpec } from '../plan.js';
import { heartbeatCounts, type OriginCounters } from '../origin-model.js';

/** Commands on stdin, one JSON object a line. */
type Command =
  | { readonly cmd: 'reset' }
  | { readonly cmd: 'stats' }
  | { readonly cmd: 'slow'; readonly origin: string; readonly factor: number }
  | { readonly cmd: 'dies'; readonly origin: string }
  | { readonly cmd: 'revive'; readonly origin: string };

const config = JSON.parse(process.argv[2] ?? '{}') as { heartbeatTo?: string[] };
const heartbeatTo = config.heartbeatTo ?? [];
for (const to of heartbeatTo) {
  if (!/^127\.\d+\.\d+\.\d+:\d+$/.test(to)) throw new RangeError(`heartbeat destination must be on loopback, got ${to}`);
}

/** One origin: queue, workers, counters, its server and its heartbeat. */
class Origin {
  active = 0;
  factor = 1;
  readonly queue: { res: ServerResponse; queuedAt: number }[] = [];
  counters: OriginCounters;
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private sender: HeartbeatSender | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly spec: OriginSpec) {
    this.counters = this.freshCounters();
  }

  freshCounters(): OriginCounters {
    return { served: 0, busyMs: 0, since: performance.now(), lastChange: performance.now() };
  }

  /** Account the busy time of the workers up to now (called before every change of `active`). */
  settle(): void {
    const now = performance.now();
    this.counters.busyMs += this.active * (now - this.counters.lastChange);
    this.counters.lastChange = now;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    if (req.url === '/health') {
      res.writeHead(200, { 'content-length': 2 }).end('ok');
      return;
    }
    if (this.active < this.spec.workers) this.serve(res);
    else this.queue.push({ res, queuedAt: performance.now() });
  }

  serve(res: ServerResponse): void {
    this.settle();
    this.active++;
    const serviceMs = -Math.log(1 - Math.random()) * MEAN_SERVICE_MS * this.factor;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.settle();
      this.active--;
      this.counters.served++;
      if (!res.destroyed) res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2, 'x-origin': this.spec.name }).end('ok');
      const next = this.queue.shift();
      if (next !== undefined) this.serve(next.res);
    }, serviceMs);
    this.timers.add(timer);
  }

  async start(port: number): Promise<void> {
    if (this.server !== undefined) return; // already up: reviving twice is harmless
    const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.spec.host, () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    if (heartbeatTo.length > 0) {
      const sender = new HeartbeatSender({
        address: heartbeatTo,
        localAddress: this.spec.host,
        port: this.port,
        status: () => heartbeatCounts(this.spec.workers, this.active),
      });
      sender.on('error', () => undefined); // nobody listening on a port yet: nothing to do
      sender.start();
      this.sender = sender;
    }
  }

  /** Connection refused from now on: listener and connections closed, work in hand dropped, heartbeats stop. */
  async die(): Promise<void> {
    this.sender?.stop();
    this.sender = undefined;
    const server = this.server;
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.settle();
    this.active = 0;
    this.queue.length = 0;
    for (const socket of this.sockets) socket.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  stop(): void {
    void this.die();
  }
}

const origins = ORIGINS.map((spec) => new Origin(spec));
for (const origin of origins) await origin.start(0);
process.stdout.write(`${JSON.stringify({ origins: origins.map((o) => ({ name: o.spec.name, host: o.spec.host, port: o.port, workers: o.spec.workers })) })}\n`);

function find(name: string): Origin {
  const origin = origins.find((o) => o.spec.name === name);
  if (origin === undefined) throw new RangeError(`unknown origin ${name}`);
  return origin;
}

async function run(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'reset':
      for (const origin of origins) {
        origin.factor = 1;
        origin.settle();
        origin.counters = origin.freshCounters();
      }
      return { ok: true };
    case 'stats':
      return {
        origins: origins.map((origin) => {
          origin.settle();
          return { name: origin.spec.name, workers: origin.spec.workers, served: origin.counters.served, busyMs: origin.counters.busyMs, elapsedMs: performance.now() - origin.counters.since };
        }),
      };
    case 'slow':
      find(command.origin).factor = command.factor;
      return { ok: true };
    case 'dies':
      await find(command.origin).die();
      return { ok: true };
    case 'revive': {
      const origin = find(command.origin);
      await origin.start(origin.port);
      return { ok: true };
    }
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  run(JSON.parse(line) as Command).then(
    (answer) => process.stdout.write(`${JSON.stringify(answer)}\n`),
    (error: unknown) => process.stdout.write(`${JSON.stringify({ error: String(error) })}\n`),
  );
});
const shutdown = (): void => {
  for (const origin of origins) origin.stop();
  process.exit(0);
};
lines.on('close', shutdown);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
