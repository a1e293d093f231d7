/**
 * Bench 6: routing overhead in a real node:http reverse proxy under load. Two proxies run
 * side by side in this process in front of the same origins (a child process): (a) always
 * forwards to one fixed origin, (b) forwards to monitor.pickBackend(members). autocannon
 * (a child process, loopback only, bounded in time) loads each in turn, alternating the
 * order between repetitions. Reported: requests/s and latency of each, and b/a.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HeartMonitor, MemoryStore } from '../../src/index.js';
import { startChild } from '../lib/child.js';
import type { BenchContext } from '../lib/report.js';

interface Origin {
  readonly host: string;
  readonly port: number;
}

interface LoadResult {
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly total: number;
}

/** Bench 6. */
export async function proxyBench(ctx: BenchContext): Promise<void> {
  const originCount = 4;
  const connections = ctx.smoke ? 4 : 32;
  const load = ctx.smoke ? ['-a', '200'] : ['-d', '4'];
  const originsChild = startChild('origins.ts', [String(originCount)]);
  const monitor = new HeartMonitor({ store: new MemoryStore() });
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const servers: Server[] = [];
  try {
    const origins = JSON.parse(await originsChild.nextLine(15_000)) as Origin[];
    const members = Object.freeze(origins.map((origin) => Object.freeze({ ...origin })));
    // Heartbeats through the public ingest(), refreshed so no origin turns stale.
    const beat = (): void => origins.forEach((origin, i) => void monitor.ingest(`v=1&ready=${20 + 10 * i}&busy=3`, { address: origin.host }));
    beat();
    const beating = setInterval(beat, 1000);
    const routed = new Map<string, number>();
    let pickMs = 0;
    let picks = 0;
    const fixed = members[0] as Origin;
    const viaFixed = await startProxy(agent, () => fixed, servers);
    const viaHeartbeat = await startProxy(
      agent,
      () => {
        const t0 = performance.now();
        const chosen = monitor.pickBackend(members);
        pickMs += performance.now() - t0;
        picks++;
        if (chosen !== undefined) routed.set(chosen.host, (routed.get(chosen.host) ?? 0) + 1);
        return chosen;
      },
      servers,
    );
    const series = { fixedRps: [] as number[], hbRps: [] as number[], fixedP99: [] as number[], hbP99: [] as number[], fixedP50: [] as number[], hbP50: [] as number[], ratio: [] as number[], pickUs: [] as number[] };
    try {
      for (let run = 0; run < ctx.repeats; run++) {
        const order = run % 2 === 0 ? (['fixed', 'heartbeat'] as const) : (['heartbeat', 'fixed'] as const);
        const results = new Map<string, LoadResult>();
        pickMs = 0;
        picks = 0;
        for (const which of order) results.set(which, await autocannon(which === 'fixed' ? viaFixed : viaHeartbeat, connections, load));
        const a = results.get('fixed') as LoadResult;
        const b = results.get('heartbeat') as LoadResult;
        for (const result of [a, b]) assert.equal(result.errors, 0, `autocannon saw ${result.errors} errors or non-2xx answers`);
        series.fixedRps.push(a.requestsPerSecond);
        series.hbRps.push(b.requestsPerSecond);
        series.fixedP50.push(a.p50);
        series.hbP50.push(b.p50);
        series.fixedP99.push(a.p99);
        series.hbP99.push(b.p99);
        series.ratio.push(b.requestsPerSecond / a.requestsPerSecond);
        series.pickUs.push((pickMs * 1000) / picks);
        ctx.log(`run ${run + 1}: fixed ${Math.round(a.requestsPerSecond)} req/s, pickBackend(members) ${Math.round(b.requestsPerSecond)} req/s`);
      }
    } finally {
      clearInterval(beating);
    }
    // Every origin has weight, so every origin must have received requests.
    for (const origin of origins) assert.ok((routed.get(origin.host) ?? 0) > 0, `no request was routed to ${origin.host}`);
    const label = `${originCount} origins, ${connections} connections`;
    ctx.record(label, 'fixed backend (a): requests/s', 'req/s', series.fixedRps);
    ctx.record(label, 'pickBackend(members) (b): requests/s', 'req/s', series.hbRps);
    ctx.record(label, 'pickBackend(members) / fixed, requests/s', 'b/a', series.ratio);
    ctx.record(label, 'pickBackend(members) time inside (b), per request', 'µs', series.pickUs);
    ctx.record(label, 'fixed backend (a): latency p50', 'ms', series.fixedP50);
    ctx.record(label, 'pickBackend(members) (b): latency p50', 'ms', series.hbP50);
    ctx.record(label, 'fixed backend (a): latency p99', 'ms', series.fixedP99);
    ctx.record(label, 'pickBackend(members) (b): latency p99', 'ms', series.hbP99);
  } finally {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    agent.destroy();
    await monitor.close();
    await originsChild.stop();
  }
}

/** A minimal reverse proxy: forwards method, path, headers and body to `choose()`. */
async function startProxy(agent: Agent, choose: () => Origin | undefined, servers: Server[]): Promise<number> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const target = choose();
    if (target === undefined) {
      res.writeHead(503).end();
      return;
    }
    const upstream = request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

/** Load 127.0.0.1:<port> with the autocannon CLI in a child process (JSON output). */
async function autocannon(port: number, connections: number, load: readonly string[]): Promise<LoadResult> {
  const child = spawn(process.execPath, [autocannonBin, '-j', '-c', String(connections), ...load, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'ignore'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const killer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(killer);
  assert.equal(code, 0, `autocannon exited with ${String(code)}`);
  const json = JSON.parse(output) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    errors: number;
    non2xx: number;
    duration: number;
  };
  return {
    requestsPerSecond: json.requests.total / json.duration,
    p50: json.latency.p50,
    p99: json.latency.p99,
    errors: json.errors + json.non2xx,
    total: json.requests.total,
  };
}
