/**
 * Export `monitor.metrics()` to Prometheus with prom-client, next to the status page.
 *
 *   npx tsx examples/prometheus.ts          # serves http://127.0.0.1:9464/metrics and /status for 60 s
 *   npx tsx examples/prometheus.ts --once   # prints the exposition text once and exits
 *
 * The heartbeats are fed through ingest() so the example needs no network; in a real
 * proxy they arrive on the monitor's `listen` socket.
 */
import { createServer } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { HeartMonitor, type HeartMonitorMetrics } from '../src/index.js';

const monitor = new HeartMonitor({ inFlightCorrection: true, pickMode: 'p2c', slowStart: { window: 30_000 }, noFreshServer: 'last-known' });
const registry = new Registry();
const PREFIX = 'heartmonitor_';

type Scalar = { [K in keyof HeartMonitorMetrics]: HeartMonitorMetrics[K] extends number ? K : never }[keyof HeartMonitorMetrics];

/** Counters in metrics() only go up; Prometheus names them with `_total`. */
const COUNTERS: Partial<Record<Scalar, string>> = {
  heartbeats_received: 'Heartbeat messages seen',
  heartbeats_accepted: 'Heartbeats applied to the table',
  heartbeats_malformed: 'Heartbeats dropped as malformed',
  heartbeats_rejected: 'Well-formed heartbeats refused (store full)',
  picks: 'Picks that returned a server',
  no_server: 'Picks that found no server (503)',
  rr_fallback: 'Picks served by the round-robin fallback (gRFC A78)',
  last_known_fallback: 'Picks served by the last-known-weights fallback',
  most_headroom_fallback: 'Picks sent to the server with the most headroom while every server was busy',
  failures: 'Failures reported',
  ejections: 'Times a server was taken out of rotation',
  recoveries: 'Times a server returned after its retry interval',
  leases: 'Leases handed out',
};
const GAUGES: Partial<Record<Scalar, string>> = {
  servers: 'Servers in the table',
  servers_fresh: 'Servers with a recent heartbeat',
  endpoint_weight_stale: 'Servers whose heartbeat is too old to be used (gRFC A78)',
  endpoint_weight_not_yet_usable: 'Servers ramping up in slow start (gRFC A78)',
  servers_draining: 'Servers draining',
  servers_disabled: 'Servers disabled',
  servers_failed: 'Servers out of rotation after failures',
  in_flight: 'Leases open',
};

// One metrics() snapshot per scrape, shared by every collector of that scrape.
let snapshot: HeartMonitorMetrics | undefined;
const current = (): HeartMonitorMetrics => (snapshot ??= monitor.metrics());

for (const [key, help] of Object.entries(COUNTERS) as [Scalar, string][]) {
  new Counter({
    name: `${PREFIX}${key}_total`,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(current()[key]);
    },
  });
}
for (const [key, help] of Object.entries(GAUGES) as [Scalar, string][]) {
  new Gauge({ name: `${PREFIX}${key}`, help, registers: [registry], collect() { this.set(current()[key]); } });
}
const perServer = (name: string, help: string, pick: (endpoint: HeartMonitorMetrics['endpoint_weights'][number]) => number): void => {
  new Gauge({
    name: `${PREFIX}${name}`,
    help,
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const endpoint of current().endpoint_weights) this.set({ server: endpoint.server }, pick(endpoint));
    },
  });
};
// State as its own series (value 1), so weights keep one series per server when states change.
new Gauge({
  name: `${PREFIX}endpoint_state`,
  help: 'State of each server (active, warming, stale, failed, draining, disabled)',
  labelNames: ['server', 'state'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const endpoint of current().endpoint_weights) this.set({ server: endpoint.server, state: endpoint.state }, 1);
  },
});
perServer('endpoint_weights', 'Weight each server is picked with now (gRFC A78)', (endpoint) => endpoint.weight);
perServer('endpoint_reported_weight', 'Weight by lbmethod=heartbeat from the last heartbeat', (endpoint) => endpoint.reported_weight);
perServer('endpoint_in_flight', 'Leases open to each server', (endpoint) => endpoint.in_flight);
perServer('endpoint_picks', 'Picks of each server since it joined', (endpoint) => endpoint.picks);
perServer('endpoint_age_seconds', 'Seconds since each server’s last heartbeat', (endpoint) => endpoint.age_seconds);

async function exposition(): Promise<string> {
  snapshot = undefined;
  try {
    return await registry.metrics();
  } finally {
    snapshot = undefined;
  }
}

// A small pool: three origins, a failed one, some traffic.
for (const [ip, ready, busy] of [
  ['10.0.0.1', 40, 10],
  ['10.0.0.2', 25, 5],
  ['10.0.0.3', 30, 0],
] as const) monitor.ingest(`v=1&ready=${ready}&busy=${busy}`, { address: ip });
monitor.ingest('v=1&ready=oops', { address: '10.0.0.9' });
const leases = Array.from({ length: 20 }, () => monitor.acquire());
monitor.markFailed('10.0.0.2');
for (const lease of leases.slice(0, 10)) lease?.release();

if (process.argv.includes('--once')) {
  process.stdout.write(await exposition());
  await monitor.close();
} else {
  const status = monitor.statusHandler();
  const server = createServer((request, response) => {
    if (request.url === '/metrics') {
      exposition().then(
        (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    } else status(request, response);
  });
  server.listen(9464, '127.0.0.1', () => console.log('http://127.0.0.1:9464/metrics and http://127.0.0.1:9464/status (stops after 60 s)'));
  setTimeout(() => {
    server.close();
    void monitor.close();
  }, 60_000).unref();
}
