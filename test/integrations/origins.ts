/**
 * Real HTTP origins on loopback for the integration tests: each answers with its name and
 * what it received, and can be told to answer slowly, fail, or reset the connection.
 */
import { once } from 'node:events';
import { after, afterEach, before } from 'node:test';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HeartMonitor } from '../../src/index.js';

/** What an origin saw of one request. */
export interface Seen {
  readonly origin: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** How an origin treats the next requests. */
export type Behaviour = 'ok' | 'fail' | 'reset' | 'slow';

export interface Origin {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly seen: Seen[];
  behaviour: Behaviour;
  /**
   * From now on answer with headers and a first chunk only; resolves, when the next request
   * has got that far, with the function that ends its body.
   */
  holdResponses(): Promise<() => void>;
  close(): Promise<void>;
}

/**
 * Two origins, `a` and `b`, for the tests of the enclosing `describe`: started before them,
 * closed after them, and after each test — once `cleanUp` (the test's own teardown) ran —
 * reset to answer normally with nothing seen.
 */
export function originPair(cleanUp: () => Promise<void>): readonly [Origin, Origin] {
  const pair = [createOrigin('a'), createOrigin('b')] as const;
  before(async () => {
    for (const { listen } of pair) await listen();
  });
  after(async () => {
    for (const { origin } of pair) await origin.close();
  });
  afterEach(async () => {
    await cleanUp();
    for (const { origin } of pair) {
      origin.behaviour = 'ok';
      origin.seen.length = 0;
    }
  });
  return [pair[0].origin, pair[1].origin];
}

/** An origin on 127.0.0.1; its `port` and `url` are set once `listen()` resolved. */
function createOrigin(name: string): { origin: Origin; listen: () => Promise<void> } {
  const sockets = new Set<Socket>();
  /** Hands the next held response's `finish` to the test waiting for it. */
  let onHeld: ((finish: () => void) => void) | undefined;
  const origin: Origin = {
    name,
    port: 0,
    url: '',
    seen: [],
    behaviour: 'ok',
    holdResponses: () => {
      origin.behaviour = 'slow';
      return new Promise((resolve) => (onHeld = resolve));
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen = { origin: name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      origin.seen.push(seen);
      const answer = (status: number): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(seen));
      };
      if (origin.behaviour === 'reset') req.socket.destroy();
      else if (origin.behaviour === 'fail') answer(500);
      else if (origin.behaviour === 'slow' && onHeld !== undefined) {
        // Headers and a first chunk now, the rest when the test says so (one request per holdResponses()).
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial ');
        onHeld(() => res.end('done'));
        onHeld = undefined;
      }
      else answer(200);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listen = async (): Promise<void> => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    Object.assign(origin, { port, url: `http://127.0.0.1:${port}` });
  };
  return { origin, listen };
}

/** A free loopback port with nothing listening on it (connections are refused). */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** A monitor keyed by ip:port (every origin shares 127.0.0.1), fed heartbeats by hand. */
export function loopbackMonitor(options: ConstructorParameters<typeof HeartMonitor>[0] = {}): HeartMonitor {
  const monitor = new HeartMonitor({ keyBy: 'ip:port', ...options });
  monitor.on('error', (error) => {
    throw error;
  });
  return monitor;
}

/** Announce a server on 127.0.0.1:`port` with `ready` idle workers. */
export function announce(monitor: HeartMonitor, port: number, ready = 50, busy = 0): void {
  if (!monitor.ingest(`v=1&ready=${ready}&busy=${busy}&port=${port}`, { address: '127.0.0.1' })) throw new Error(`heartbeat for port ${port} refused`);
}

/** Announce a server picked before one announced with {@link announceLast} in all but one draw in a million. */
export function announceFirst(monitor: HeartMonitor, port: number): void {
  announce(monitor, port, 1_000_000, 1);
}

/** Announce a server with the least weight that is still picked (1; busy > 0 skips the ready/4 rule). */
export function announceLast(monitor: HeartMonitor, port: number): void {
  announce(monitor, port, 1, 1);
}
