/**
 * A discrete-event simulation of proxies in front of origins with queues, for comparing
 * balancing modes on latency (no sockets, no wall time, seeded): real HeartMonitor
 * instances fed through ingest() on a simulated clock, or a leastconn baseline.
 *
 * Origins have a fixed number of workers, a FIFO queue and exponential service times;
 * each sends a heartbeat every second (`ready` = idle workers, `busy` = max(1, active),
 * as the issue-16 origins do) to every proxy. An open-loop generator sends requests at a
 * constant rate, spread evenly over the proxies; latency is counted from the intended
 * send time to the response. A request a proxy cannot place is refused.
 */
import { HeartMonitor, MemoryStore, type Clock, type HeartMonitorOptions, type MemberLease } from '../../src/index.js';
import { seededRandom } from '../../test/helpers/random.js';
import { DeadlineHeap } from '../../src/picking/deadline-heap.js';

/** How the simulated proxies choose an origin. */
export type SimBalancer = { readonly kind: 'monitor'; readonly options: HeartMonitorOptions } | { readonly kind: 'leastconn' };

/** A change of one origin during the run. */
export interface Disturbance {
  /** Simulated ms from the start. */
  readonly at: number;
  readonly origin: number;
  /** Multiply its mean service time (1 restores it). */
  readonly slowdown?: number;
  /** Take it down (connections refused, no heartbeats) or bring it back. */
  readonly alive?: boolean;
}

/** One simulation run. */
export interface QueueSimOptions {
  /** Workers per origin. */
  readonly workers: readonly number[];
  /** Mean service time in ms. */
  readonly serviceMs: number;
  /** Offered load as a share of the pool's capacity (workers × 1000 / serviceMs). */
  readonly load: number;
  readonly proxies: number;
  readonly balancer: SimBalancer;
  /** Simulated duration in ms (after a warm-up of 3 heartbeats, not measured). */
  readonly durationMs: number;
  readonly seed: number;
  readonly disturbances?: readonly Disturbance[];
  /** Delay from an origin's heartbeat to the proxies, in ms. */
  readonly heartbeatDelayMs?: number;
  /** Retries on another origin after a refused connection (the request counts as failed only when all fail). */
  readonly retries?: number;
}

/** Figures of one run. */
export interface QueueSimResult {
  readonly requests: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  /** Share of requests refused by a proxy (no backend). */
  readonly refused: number;
  /** Share of requests that reached only dead origins. */
  readonly failed: number;
  /** Share of requests served by each origin. */
  readonly shares: readonly number[];
  /** Busy time / (workers × duration) of each origin. */
  readonly utilisation: readonly number[];
}

class SimClock implements Clock {
  mono = 0;
  now = (): number => 1_700_000_000_000 + this.mono;
  monotonic = (): number => this.mono;
}

interface Origin {
  readonly workers: number;
  meanMs: number;
  alive: boolean;
  active: number;
  readonly queue: Job[];
  busyMs: number;
  served: number;
}

interface Job {
  readonly sentAt: number;
  readonly proxy: number;
  origin: number;
  release: ((failed: boolean) => void) | undefined;
  tries: number;
}

type Event = { readonly kind: 'arrival' } | { readonly kind: 'done'; readonly job: Job } | { readonly kind: 'beat'; readonly origin: number } | { readonly kind: 'report'; readonly origin: number; readonly ready: number; readonly busy: number } | { readonly kind: 'disturb'; readonly change: Disturbance };

const WARMUP_MS = 3000;

/** Run one simulation. */
export function simulateQueues(options: QueueSimOptions): QueueSimResult {
  const clock = new SimClock();
  const random = seededRandom(options.seed);
  const origins: Origin[] = options.workers.map((workers) => ({ workers, meanMs: options.serviceMs, alive: true, active: 0, queue: [], busyMs: 0, served: 0 }));
  const members = options.workers.map((_, i) => `http://10.0.${i >> 8}.${(i & 255) + 1}:8080`);
  const ips = members.map((member) => new URL(member).hostname);
  const capacity = options.workers.reduce((a, b) => a + b, 0) * (1000 / options.serviceMs);
  const interval = 1000 / (capacity * options.load);
  const delay = options.heartbeatDelayMs ?? 0;
  const retries = options.retries ?? 2;

  const monitors =
    options.balancer.kind === 'monitor'
      ? Array.from({ length: options.proxies }, (_, p) => new HeartMonitor({ clock, random: seededRandom(options.seed * 7919 + p + 1), store: new MemoryStore(), ...(options.balancer as { options: HeartMonitorOptions }).options }))
      : [];
  // leastconn: each proxy knows only its own open connections per origin (HAProxy, one instance).
  const ownOpen = Array.from({ length: options.proxies }, () => new Array<number>(origins.length).fill(0));
  const leastconnCursor = new Array<number>(options.proxies).fill(0);

  const events: Event[] = [];
  const heap = new DeadlineHeap();
  const schedule = (at: number, event: Event): void => {
    events.push(event);
    heap.push(at, events.length - 1);
  };

  const latencies: number[] = [];
  let requests = 0;
  let refused = 0;
  let failed = 0;
  const measureFrom = WARMUP_MS;
  const end = WARMUP_MS + options.durationMs;

  const place = (job: Job, exclude: ReadonlySet<number>): boolean => {
    if (options.balancer.kind === 'leastconn') {
      const open = ownOpen[job.proxy] ?? [];
      let best = -1;
      const n = origins.length;
      const start = leastconnCursor[job.proxy] ?? 0;
      for (let k = 0; k < n; k++) {
        const i = (start + k) % n;
        if (exclude.has(i)) continue;
        if (best < 0 || (open[i] ?? 0) < (open[best] ?? 0)) best = i;
      }
      leastconnCursor[job.proxy] = (start + 1) % n;
      if (best < 0) return false;
      open[best] = (open[best] ?? 0) + 1;
      job.origin = best;
      job.release = () => {
        open[best] = (open[best] ?? 0) - 1;
      };
      return true;
    }
    const monitor = monitors[job.proxy];
    const candidates = exclude.size === 0 ? members : members.filter((_, i) => !exclude.has(i));
    const lease: MemberLease<string> | undefined = monitor?.acquire(candidates);
    if (lease === undefined) return false;
    job.origin = members.indexOf(lease.member);
    job.release = (failedRelease) => lease.release({ failed: failedRelease });
    return true;
  };

  const start = (origin: Origin, job: Job, now: number): void => {
    origin.active++;
    const service = -Math.log(1 - random()) * origin.meanMs;
    origin.busyMs += now >= measureFrom ? Math.min(service, end - now) : 0;
    schedule(now + service, { kind: 'done', job });
  };

  const send = (job: Job, now: number, exclude: Set<number>): void => {
    if (!place(job, exclude)) {
      if (job.tries === 0) {
        if (job.sentAt >= measureFrom) refused++;
      } else if (job.sentAt >= measureFrom) failed++;
      return;
    }
    job.tries++;
    const origin = origins[job.origin];
    if (origin === undefined) return;
    if (!origin.alive) {
      // Connection refused: a failure fed back, then a retry elsewhere.
      job.release?.(true);
      exclude.add(job.origin);
      if (job.tries <= retries && exclude.size < origins.length) send(job, now, exclude);
      else if (job.sentAt >= measureFrom) failed++;
      return;
    }
    if (origin.active < origin.workers) start(origin, job, now);
    else origin.queue.push(job);
  };

  schedule(0, { kind: 'arrival' });
  origins.forEach((_, i) => schedule(random() * 1000, { kind: 'beat', origin: i }));
  for (const change of options.disturbances ?? []) schedule(WARMUP_MS + change.at, { kind: 'disturb', change });
  let proxyCursor = 0;

  while (heap.size > 0) {
    const now = heap.peek();
    const event = events[heap.peekItem()];
    heap.pop();
    if (now > end || event === undefined) break;
    clock.mono = now;
    switch (event.kind) {
      case 'arrival': {
        const job: Job = { sentAt: now, proxy: proxyCursor, origin: -1, release: undefined, tries: 0 };
        proxyCursor = (proxyCursor + 1) % options.proxies;
        if (now >= measureFrom) requests++;
        send(job, now, new Set());
        schedule(now + interval, { kind: 'arrival' });
        break;
      }
      case 'done': {
        const origin = origins[event.job.origin];
        if (origin === undefined) break;
        origin.active--;
        if (event.job.sentAt >= measureFrom) {
          origin.served++;
          latencies.push(now - event.job.sentAt);
        }
        event.job.release?.(false);
        const next = origin.queue.shift();
        if (next !== undefined) start(origin, next, now);
        break;
      }
      case 'beat': {
        const origin = origins[event.origin];
        if (origin === undefined) break;
        if (origin.alive) schedule(now + delay, { kind: 'report', origin: event.origin, ready: Math.max(0, origin.workers - origin.active), busy: Math.max(1, origin.active) });
        schedule(now + 1000, { kind: 'beat', origin: event.origin });
        break;
      }
      case 'report':
        for (const monitor of monitors) monitor.ingest(`v=1&ready=${event.ready}&busy=${event.busy}`, { address: ips[event.origin] ?? '' });
        break;
      case 'disturb': {
        const origin = origins[event.change.origin];
        if (origin === undefined) break;
        if (event.change.slowdown !== undefined) origin.meanMs = options.serviceMs * event.change.slowdown;
        if (event.change.alive === false && origin.alive) {
          origin.alive = false;
          // Requests on a dying origin fail: reset connections, fed back as failures.
          for (const job of origin.queue.splice(0)) {
            job.release?.(true);
            if (job.sentAt >= measureFrom) failed++;
          }
        } else if (event.change.alive === true) origin.alive = true;
        break;
      }
    }
  }
  for (const monitor of monitors) void monitor.close();

  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  const served = origins.reduce((sum, origin) => sum + origin.served, 0);
  return {
    requests,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    refused: refused / Math.max(1, requests),
    failed: failed / Math.max(1, requests),
    shares: origins.map((origin) => origin.served / Math.max(1, served)),
    utilisation: origins.map((origin) => origin.busyMs / (origin.workers * options.durationMs)),
  };
}
