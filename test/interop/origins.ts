/**
 * Origin servers for the interop suite, played by loopback addresses inside the private
 * network namespace: raw heartbeat senders (so any bytes, malformed ones included, can be
 * sent from a chosen source IP) and tiny HTTP backends that answer with their own address.
 */
import { createSocket, type Socket } from 'node:dgram';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The loopback address that plays origin server number `n` (1 → 127.0.0.2 …). */
export function originAddress(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new RangeError(`origin number out of range: ${n}`);
  return `127.0.0.${n + 1}`;
}

/** A UDP socket bound to one origin address, sending heartbeats to a group or address. */
export class HeartbeatOrigin {
  private constructor(
    /** The source IP every datagram carries. */
    readonly address: string,
    private readonly socket: Socket,
    private readonly target: { readonly host: string; readonly port: number },
  ) {}

  /** Bind a socket to `address` (any port) that sends to `target`. */
  static async open(address: string, target: { host: string; port: number }): Promise<HeartbeatOrigin> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // Pinned to loopback (SPEC 2.3), even though the namespace has no other interface.
    socket.setMulticastInterface('127.0.0.1');
    return new HeartbeatOrigin(address, socket, target);
  }

  /** Send one datagram (text as latin1 bytes, or raw bytes). */
  send(message: string | Uint8Array): Promise<void> {
    const bytes = typeof message === 'string' ? Buffer.from(message, 'latin1') : message;
    return new Promise((resolve, reject) => {
      this.socket.send(bytes, this.target.port, this.target.host, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Close the socket. */
  close(): void {
    this.socket.close();
  }
}

/** An HTTP origin that answers every request with its own address. */
export interface Backend {
  readonly address: string;
  readonly port: number;
  /** Requests served. */
  served: number;
  close(): Promise<void>;
}

/** Start a backend on `address:port` that answers `200 <address>`. */
export async function startBackend(address: string, port: number): Promise<Backend> {
  const server: Server = createServer((req, res) => {
    backend.served++;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(address);
  });
  // httpd's mod_proxy keeps backend connections pooled across the tests' idle gaps (~6 s);
  // Node's default 5 s keep-alive timeout closed them just as httpd reused one, and the
  // request got a 502 (a CI run saw 5 of 300). Backends keep idle connections longer than
  // any gap here; close() ends them.
  server.keepAliveTimeout = 120_000;
  const backend: Backend = {
    address,
    port,
    served: 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  if (bound.address !== address) throw new Error(`backend bound ${bound.address}, expected ${address}`);
  return backend;
}

/** Result of one HTTP request. */
export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request with a bounded time; resolves with status, headers and body. */
export function httpRequest(
  url: string,
  options: { method?: string; body?: string; agent?: Agent; localAddress?: string; timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
        localAddress: options.localAddress,
        timeout: options.timeoutMs ?? 5000,
        headers: options.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Send `count` GET requests to `url`, `concurrency` at a time over keep-alive
 * connections, and count the response bodies.
 */
export async function countResponses(url: string, count: number, concurrency = 8): Promise<Map<string, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const counts = new Map<string, number>();
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (issued < count) {
      issued++;
      const { status, body } = await httpRequest(url, { agent });
      const key = status === 200 ? body : `HTTP ${status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return counts;
}
