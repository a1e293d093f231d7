/**
 * The open-loop load generator: requests leave at a constant rate whatever the answers do
 * (at most `maxInFlight` open; a request that has to wait for a free slot keeps its
 * intended send time, so queueing in the generator shows as latency, not as a lower rate),
 * spread evenly over the targets. Bounded in count (rate × duration) and in time (duration
 * + drain): whatever is open or unsent at the deadline counts as timed out.
 */
import { Agent, request } from 'node:http';
import { NO_ANSWER, TIMED_OUT, type RequestLog } from './cell-stats.js';

/** A balancer instance to send to (loopback only). */
export interface Target {
  readonly host: string;
  readonly port: number;
}

/** Options of {@link generateLoad}. */
export interface GeneratorOptions {
  readonly targets: readonly Target[];
  /** Requests per second. */
  readonly rate: number;
  readonly durationMs: number;
  /** Origin names in order: the `x-origin` answer header is mapped to its index. */
  readonly originNames: readonly string[];
  /** @default 200 */
  readonly maxInFlight?: number;
  /** Time after the last intended send to wait for answers. @default 5000 */
  readonly drainMs?: number;
  /** Called once at `at` ms after the start (disturbances). */
  readonly events?: readonly { readonly at: number; readonly run: () => void }[];
}

/** Run one bounded open-loop load; resolves with the log of every request. */
export async function generateLoad(options: GeneratorOptions): Promise<RequestLog> {
  const maxInFlight = options.maxInFlight ?? 200;
  const drainMs = options.drainMs ?? 5000;
  for (const target of options.targets) {
    if (!target.host.startsWith('127.')) throw new RangeError(`target must be on loopback, got ${target.host}`);
  }
  const total = Math.max(0, Math.round((options.rate * options.durationMs) / 1000));
  const interval = 1000 / options.rate;
  const log: RequestLog = { intended: new Float64Array(total), latency: new Float64Array(total), status: new Int16Array(total).fill(TIMED_OUT), origin: new Int8Array(total).fill(-1) };
  const originIndex = new Map(options.originNames.map((name, i) => [name, i]));
  const agents = options.targets.map(() => new Agent({ keepAlive: true, maxSockets: maxInFlight }));
  const open = new Set<{ destroy(): void }>();
  let next = 0;
  let inFlight = 0;
  let done = 0;
  let closed = false;
  const start = performance.now();
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const complete = (i: number, status: number, origin: number): void => {
    if (closed || log.status[i] !== TIMED_OUT) return;
    log.status[i] = status;
    log.origin[i] = origin;
    log.latency[i] = performance.now() - start - (log.intended[i] ?? 0);
    inFlight--;
    done++;
    if (done === total) finish();
    else pump();
  };

  const send = (i: number): void => {
    const target = options.targets[i % options.targets.length] as Target;
    log.intended[i] = i * interval;
    inFlight++;
    const req = request({ host: target.host, port: target.port, path: `/r${i}`, agent: agents[i % agents.length] }, (res) => {
      const header = res.headers['x-origin'];
      const origin = typeof header === 'string' ? (originIndex.get(header) ?? -1) : -1;
      res.on('data', () => undefined);
      res.on('end', () => {
        open.delete(req);
        complete(i, res.statusCode ?? NO_ANSWER, origin);
      });
      res.on('error', () => {
        open.delete(req);
        complete(i, NO_ANSWER, -1);
      });
    });
    open.add(req);
    req.on('error', () => {
      open.delete(req);
      complete(i, NO_ANSWER, -1);
    });
    req.end();
  };

  function pump(): void {
    const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
    while (next < due && inFlight < maxInFlight) send(next++);
  }

  const ticker = setInterval(pump, 1);
  const timers = (options.events ?? []).map((event) => setTimeout(event.run, event.at));
  const deadline = setTimeout(finish, options.durationMs + drainMs);
  if (total === 0) finish();
  try {
    await finished;
  } finally {
    clearInterval(ticker);
    clearTimeout(deadline);
    for (const timer of timers) clearTimeout(timer);
    // Unsent or open at the deadline: timed out (their status stays TIMED_OUT).
    closed = true;
    for (let i = next; i < total; i++) log.intended[i] = i * interval;
    for (const req of open) req.destroy();
    for (const agent of agents) agent.destroy();
  }
  for (let i = 0; i < total; i++) {
    if (log.status[i] === TIMED_OUT) log.latency[i] = options.durationMs + drainMs - (log.intended[i] ?? 0);
  }
  return log;
}
