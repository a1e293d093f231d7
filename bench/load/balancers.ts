/**
 * Starting the balancers of the load bench: `count` instances side by side, each on its own
 * loopback port, all in front of the same origins; and stopping them by PID.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haproxyConfig, httpdConfig, type MemberAddress } from './configs.js';
import type { Target } from './generator.js';
import { startNodeChild } from './node-child.js';
import type { BalancerName } from './plan.js';
import { startTracked, type Tracked } from './processes.js';

/** Running instances of one balancer. */
export interface RunningBalancer {
  readonly targets: readonly Target[];
  stop(): Promise<void>;
}

/** Where the node proxies and the CLI receive heartbeats, and the hb.dat the CLI writes. */
export interface HeartbeatWiring {
  /** One UDP port per node proxy instance (index = instance). */
  readonly proxyPorts: readonly number[];
  /** The hb.dat `heartmonitor listen` keeps up to date. */
  readonly hbDat: string;
}

/** A free TCP port on 127.0.0.1 (closed again at once). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Resolve once 127.0.0.1:port accepts a connection, or reject after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing accepting on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Wait `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A temporary directory www-data can use (httpd's children run as www-data). */
export function worldDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o777);
  return dir;
}

async function startHaproxy(balance: 'leastconn' | 'roundrobin', members: readonly MemberAddress[], dir: string, index: number): Promise<{ tracked: Tracked; port: number }> {
  const port = await freePort();
  const config = join(dir, `haproxy-${index}.cfg`);
  writeFileSync(config, haproxyConfig({ port, balance, members }));
  const tracked = startTracked('/usr/sbin/haproxy', ['-db', '-f', config]);
  await waitForPort(port, 10_000);
  return { tracked, port };
}

async function startHttpd(lbmethod: 'heartbeat' | 'bybusyness', members: readonly MemberAddress[], dir: string, index: number, hbDat: string): Promise<{ tracked: Tracked; port: number }> {
  const port = await freePort();
  const home = join(dir, `httpd-${index}`);
  for (const sub of ['', 'logs', 'run']) {
    mkdirSync(join(home, sub), { recursive: true });
    chmodSync(join(home, sub), 0o777);
  }
  const config = join(home, 'httpd.conf');
  writeFileSync(config, httpdConfig({ port, dir: home, lbmethod, members, heartbeatStorage: lbmethod === 'heartbeat' ? hbDat : undefined }));
  const tracked = startTracked('/usr/sbin/apache2', ['-f', config, '-DFOREGROUND']);
  await waitForPort(port, 10_000);
  return { tracked, port };
}

/**
 * Start `count` instances of `balancer` in front of `members` and wait until they can
 * balance (node proxies: heartbeats from every origin; haproxy: a round of checks).
 */
export async function startBalancer(balancer: BalancerName, count: number, members: readonly MemberAddress[], wiring: HeartbeatWiring): Promise<RunningBalancer> {
  const dir = worldDir('hm-loadbench-');
  const started: Tracked[] = [];
  const targets: Target[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((t) => t.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      let instance: { tracked: Tracked; port: number };
      switch (balancer) {
        case 'haproxy-leastconn':
        case 'haproxy-roundrobin':
          instance = await startHaproxy(balancer === 'haproxy-leastconn' ? 'leastconn' : 'roundrobin', members, dir, i);
          break;
        case 'apache-bybusyness':
        case 'apache-heartbeat':
          if (balancer === 'apache-heartbeat' && !existsSync(wiring.hbDat)) throw new Error(`${wiring.hbDat} not written yet`);
          instance = await startHttpd(balancer === 'apache-heartbeat' ? 'heartbeat' : 'bybusyness', members, dir, i, wiring.hbDat);
          break;
        case 'node-apache-rule':
        case 'node-recommended': {
          const heartbeatPort = wiring.proxyPorts[i];
          if (heartbeatPort === undefined) throw new RangeError(`no heartbeat port for proxy ${i}`);
          const child = startNodeChild('node-proxy', {
            port: 0,
            heartbeatListen: `127.0.0.1:${heartbeatPort}`,
            members: members.map((m) => ({ host: m.host, port: m.port })),
            mode: balancer === 'node-recommended' ? 'recommended' : 'apache-rule',
            proxies: count,
          });
          started.push(child);
          const { port } = await child.next<{ port: number }>(15_000);
          instance = { tracked: child, port };
          break;
        }
      }
      if (!started.includes(instance.tracked)) started.push(instance.tracked);
      targets.push({ host: '127.0.0.1', port: instance.port });
    }
    // Node proxies need a heartbeat from every origin; haproxy a first round of checks.
    await sleep(balancer.startsWith('apache') ? 500 : 2200);
  } catch (error) {
    await stop();
    throw error;
  }
  return { targets, stop };
}
