/**
 * What the load bench measures: the origins (unequal capacity), the balancers, the loads
 * and the disturbances, and the matrix of cells they make. Pure data, no I/O.
 */

/** One origin server: a FIFO queue in front of `workers` workers. */
export interface OriginSpec {
  /** Short name used in tables (`a`, `b`, `c`). */
  readonly name: string;
  /** Loopback address of its own: Apache matches hb.dat lines to members by host only. */
  readonly host: string;
  readonly workers: number;
}

/** Three origins of unequal capacity (2, 4 and 10 workers). */
export const ORIGINS: readonly OriginSpec[] = Object.freeze([
  Object.freeze({ name: 'a', host: '127.0.0.2', workers: 2 }),
  Object.freeze({ name: 'b', host: '127.0.0.3', workers: 4 }),
  Object.freeze({ name: 'c', host: '127.0.0.4', workers: 10 }),
]);

/** Mean of the exponential service time. */
export const MEAN_SERVICE_MS = 20;

/** Requests per second all origins can serve together (workers × 1000 / mean). */
export function capacity(origins: readonly OriginSpec[] = ORIGINS, meanServiceMs = MEAN_SERVICE_MS): number {
  return (origins.reduce((sum, origin) => sum + origin.workers, 0) * 1000) / meanServiceMs;
}

/** Each origin's share of the capacity, 0..1, in the order given. */
export function capacityShares(origins: readonly OriginSpec[] = ORIGINS): number[] {
  const total = origins.reduce((sum, origin) => sum + origin.workers, 0);
  return origins.map((origin) => origin.workers / total);
}

/** The balancers compared, in the order they run. */
export const BALANCERS = Object.freeze([
  'haproxy-leastconn',
  'haproxy-roundrobin',
  'apache-bybusyness',
  'apache-heartbeat',
  'node-apache-rule',
  'node-recommended',
] as const);

/** One balancer of {@link BALANCERS}. */
export type BalancerName = (typeof BALANCERS)[number];

/** What happens to one origin in the middle of a run. */
export type Disturbance = 'none' | 'slow' | 'dies';

/** One measured cell of the matrix. */
export interface Cell {
  readonly balancer: BalancerName;
  /** Instances of the balancer side by side; the generator spreads requests evenly. */
  readonly proxies: number;
  /** Offered load as a fraction of {@link capacity}. */
  readonly load: number;
  readonly disturbance: Disturbance;
}

/** Which origin a disturbance hits: `slow` the largest, `dies` the middle one. */
export const DISTURBED_ORIGIN: Readonly<Record<Exclude<Disturbance, 'none'>, string>> = Object.freeze({ slow: 'c', dies: 'b' });

/** The offered load of the disturbance cells (there is room left for a dead middle origin). */
export const DISTURBANCE_LOAD = 0.6;

/** Options of {@link cellsFor}. */
export interface MatrixOptions {
  readonly balancers: readonly BalancerName[];
  readonly loads: readonly number[];
  readonly proxies: readonly number[];
  /** Proxy counts the disturbance cells run with. */
  readonly disturbanceProxies: readonly number[];
  readonly disturbances: readonly Exclude<Disturbance, 'none'>[];
}

/** The full matrix: every balancer at every load and proxy count, then the disturbances. */
export const FULL_MATRIX: MatrixOptions = Object.freeze<MatrixOptions>({
  balancers: BALANCERS,
  loads: [0.6, 0.85, 0.95],
  proxies: [1, 4],
  disturbanceProxies: [1],
  disturbances: ['slow', 'dies'],
});

/**
 * The cells of a matrix grouped by balancer and proxy count (one start of the balancer's
 * processes per group), in run order.
 */
export function cellsFor(matrix: MatrixOptions): Cell[][] {
  const groups: Cell[][] = [];
  const proxyCounts = [...new Set([...matrix.proxies, ...matrix.disturbanceProxies])].sort((a, b) => a - b);
  for (const proxies of proxyCounts) {
    for (const balancer of matrix.balancers) {
      const group: Cell[] = [];
      if (matrix.proxies.includes(proxies)) {
        for (const load of matrix.loads) group.push({ balancer, proxies, load, disturbance: 'none' });
      }
      if (matrix.disturbanceProxies.includes(proxies)) {
        for (const disturbance of matrix.disturbances) group.push({ balancer, proxies, load: DISTURBANCE_LOAD, disturbance });
      }
      if (group.length > 0) groups.push(group);
    }
  }
  return groups;
}

/** A cell's name in tables and figures, e.g. `haproxy-leastconn ×4 85%` or `… 60% dies`. */
export function cellName(cell: Cell): string {
  const base = `${cell.balancer} ×${cell.proxies} ${Math.round(cell.load * 100)}%`;
  return cell.disturbance === 'none' ? base : `${base} ${cell.disturbance}`;
}
