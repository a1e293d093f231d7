/**
 * `monitor.metrics()`: a snapshot of counters and gauges. Names follow gRPC's weighted
 * round robin metrics (gRFC A78: `rr_fallback`, `endpoint_weight_not_yet_usable`,
 * `endpoint_weight_stale`, `endpoint_weights`) where they mean the same thing, in the
 * snake_case Prometheus uses, so an exporter can map keys to metric names one to one.
 * @module
 */
import type { BalancerCounters } from '../balancer/balancer.js';
import type { ServerState, ServerView } from '../balancer/server-state.js';
import type { HeartMonitorStats } from '../monitor/events.js';

/** Per-server figures (gRFC A78's `endpoint_weights`, with what an operator needs next to it). */
export interface EndpointMetrics {
  /** Table key (`ip` or `ip:port`). */
  readonly server: string;
  /** Server IP. */
  readonly ip: string;
  /** Service port. */
  readonly port: number;
  /** Derived state. */
  readonly state: ServerState;
  /** Weight used for picks now. */
  readonly weight: number;
  /** Weight the last heartbeat gives by lbmethod=heartbeat. */
  readonly reported_weight: number;
  /** Reported ready workers. */
  readonly ready: number;
  /** Reported busy workers. */
  readonly busy: number;
  /** Leases open to the server. */
  readonly in_flight: number;
  /** Picks of the server (gauge: resets when the server leaves the table). */
  readonly picks: number;
  /** Failures reported for the server. */
  readonly failures: number;
  /** Seconds since its last heartbeat. */
  readonly age_seconds: number;
}

/** Counters (monotonic since creation) and gauges (now) of one monitor. */
export interface HeartMonitorMetrics {
  /** Counter: messages seen (datagrams, HTTP bodies, ingest calls). */
  readonly heartbeats_received: number;
  /** Counter: messages applied to the table. */
  readonly heartbeats_accepted: number;
  /** Counter: messages that failed parsing. */
  readonly heartbeats_malformed: number;
  /** Counter: well-formed messages refused (e.g. store full). */
  readonly heartbeats_rejected: number;
  /** Gauge: servers in the table. */
  readonly servers: number;
  /** Gauge: servers with a recent heartbeat. */
  readonly servers_fresh: number;
  /** Gauge: servers whose last heartbeat is too old to be used (gRFC A78). */
  readonly endpoint_weight_stale: number;
  /** Gauge: servers still ramping up in slow start (gRFC A78's blackout analog). */
  readonly endpoint_weight_not_yet_usable: number;
  /** Gauge: servers draining. */
  readonly servers_draining: number;
  /** Gauge: servers disabled. */
  readonly servers_disabled: number;
  /** Gauge: servers out of rotation after failures. */
  readonly servers_failed: number;
  /** Gauge: leases open. */
  readonly in_flight: number;
  /** Counter: picks that returned a server. */
  readonly picks: number;
  /** Counter: picks that found no server (Apache's 503). */
  readonly no_server: number;
  /** Counter: picks served by the round-robin fallback (gRFC A78). */
  readonly rr_fallback: number;
  /** Counter: picks served by the last-known-weights fallback. */
  readonly last_known_fallback: number;
  /** Counter: picks served by `whenAllBusy: 'most-headroom'` (every fresh server's weight was 0). */
  readonly most_headroom_fallback: number;
  /** Counter: failures reported. */
  readonly failures: number;
  /** Counter: times a server was taken out of rotation. */
  readonly ejections: number;
  /** Counter: times a server returned after its retry interval. */
  readonly recoveries: number;
  /** Counter: leases handed out. */
  readonly leases: number;
  /** Per-server figures. */
  readonly endpoint_weights: readonly EndpointMetrics[];
}

/**
 * Assemble the snapshot.
 * @internal
 */
export function buildMetrics(stats: HeartMonitorStats, counters: Readonly<BalancerCounters>, inFlight: number, views: readonly ServerView[]): HeartMonitorMetrics {
  const inState = (state: ServerState): number => views.filter((view) => view.state === state).length;
  return {
    heartbeats_received: stats.received,
    heartbeats_accepted: stats.accepted,
    heartbeats_malformed: stats.malformed,
    heartbeats_rejected: stats.rejected,
    servers: stats.servers,
    servers_fresh: stats.fresh,
    endpoint_weight_stale: stats.servers - stats.fresh,
    endpoint_weight_not_yet_usable: inState('warming'),
    servers_draining: inState('draining'),
    servers_disabled: inState('disabled'),
    servers_failed: inState('failed'),
    in_flight: inFlight,
    picks: counters.picks,
    no_server: counters.noServer,
    rr_fallback: counters.roundRobinFallbacks,
    last_known_fallback: counters.lastKnownFallbacks,
    most_headroom_fallback: counters.mostHeadroomFallbacks,
    failures: counters.failures,
    ejections: counters.ejections,
    recoveries: counters.recoveries,
    leases: counters.leases,
    endpoint_weights: views.map((view) => ({
      server: view.key,
      ip: view.server.ip,
      port: view.server.port,
      state: view.state,
      weight: view.weight,
      reported_weight: view.reportedWeight,
      ready: view.server.ready,
      busy: view.server.busy,
      in_flight: view.inFlight,
      picks: view.picks,
      failures: view.failures,
      age_seconds: view.age / 1000,
    })),
  };
}
