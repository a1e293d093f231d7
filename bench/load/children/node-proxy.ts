/**
 * Child process of the load bench: a node:http reverse proxy in front of the origins,
 * with its own HeartMonitor receiving the origins' heartbeats on a loopback port.
 * `apache-rule`: `monitor.pickBackend(members)` (Apache's lbmethod=heartbeat), failures fed
 * back with `markFailed` as mod_proxy marks a worker in error. `recommended`:
 * `monitor.acquire(members)` and `lease.release({ failed })` with {@link recommendedOptions}.
 * A request whose connection to an origin is refused (it never reached it) is retried on
 * another pick, at most twice. 503 when nothing can be picked, 502 on other origin errors.
 *
 * Usage: node-proxy.ts '<json: { port, heartbeatListen, members: [{host,port}], mode, proxies }>'
 * Prints `{"port":N}` once both the monitor and the proxy listen; runs until stopped.
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeartMonitor, MemoryStore } from '../../../src/index.js';
import { recommendedOptions } from '../recommended.js';

interface Member {
  readonly host: string;
  readonly port: number;
}
interface Config {
  readonly port: number;
  readonly heartbeatListen: string;
  readonly members: readonly Member[];
  readonly mode: 'apache-rule' | 'recommended';
  /** Proxies side by side over the same origins (this one included). */
  readonly proxies: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
if (!config.heartbeatListen.startsWith('127.')) throw new RangeError(`heartbeatListen must be on loopback, got ${config.heartbeatListen}`);
const members = Object.freeze(config.members.map((m) => Object.freeze({ host: m.host, port: m.port })));
// A refused origin comes back after 1 s, like httpd's BalancerMember retry=1 and haproxy's `inter 1s`.
const failure = { retryAfter: 1000, maxRetryAfter: 1000 };
const monitor = new HeartMonitor({
  listen: config.heartbeatListen,
  store: new MemoryStore(),
  failure,
  ...(config.mode === 'recommended' ? recommendedOptions(config.proxies) : {}),
});
monitor.on('error', () => undefined);
await monitor.listen();
const agent = new Agent({ keepAlive: true, keepAliveMsecs: 30_000 });
const MAX_ATTEMPTS = 3;

/** One pick: where to send, and how to report the outcome. */
interface Route {
  readonly member: Member;
  done(failed: boolean): void;
}

function route(): Route | undefined {
  if (config.mode === 'recommended') {
    const lease = monitor.acquire(members);
    return lease === undefined ? undefined : { member: lease.member, done: (failed) => lease.release({ failed }) };
  }
  const member = monitor.pickBackend(members);
  return member === undefined ? undefined : { member, done: (failed) => void (failed && monitor.markFailed(member.host)) };
}

function forward(req: IncomingMessage, res: ServerResponse, attempt: number): void {
  const picked = route();
  if (picked === undefined) {
    res.writeHead(503, { 'content-length': 0 }).end();
    return;
  }
  let finished = false;
  const finish = (failed: boolean): void => {
    if (finished) return;
    finished = true;
    picked.done(failed);
  };
  const upstream = request({ host: picked.member.host, port: picked.member.port, path: req.url, method: req.method, headers: req.headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
    answer.on('end', () => finish((answer.statusCode ?? 502) >= 500));
    answer.on('error', () => finish(true));
  });
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    finish(true);
    // Refused: the request never reached the origin, so another one may take it.
    if (error.code === 'ECONNREFUSED' && attempt + 1 < MAX_ATTEMPTS) forward(req, res, attempt + 1);
    else if (!res.headersSent) res.writeHead(502, { 'content-length': 0 }).end();
    else res.destroy();
  });
  upstream.end();
}

const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  req.resume();
  forward(req, res, 0);
});
await new Promise<void>((resolve) => server.listen(config.port, '127.0.0.1', resolve));
process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);

const shutdown = (): void => {
  server.close();
  agent.destroy();
  void monitor.close().finally(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('close', shutdown);
process.stdin.resume();
