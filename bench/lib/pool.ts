/**
 * A synthetic pool of origin servers: distinct addresses and deterministic counts, so
 * every run draws the same numbers (randoms come from test/helpers/random.ts).
 */
import { HeartMonitor, MemoryStore, type HeartbeatStore } from '../../src/index.js';

/** A distinct IPv4 address for server `i` (10.0.0.1 …), never sent to: ingest() only. */
export function poolAddress(i: number): string {
  const n = i + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** Ready/busy of server `i` at heartbeat `round`: varied, some busy=0 (the ready/4 rule). */
export function poolCounts(i: number, round: number): { ready: number; busy: number } {
  const ready = 1 + ((i * 7 + round * 13) % 97);
  const busy = (i + round) % 5 === 0 ? 0 : (i * 3 + round) % 31;
  return { ready, busy };
}

/** A heartbeat message of server `i` at `round`. */
export function poolHeartbeat(i: number, round: number): string {
  const { ready, busy } = poolCounts(i, round);
  return `v=1&ready=${ready}&busy=${busy}`;
}

/** A monitor without a socket, fed `size` servers through the public ingest(); nothing turns stale within an hour. */
export function filledMonitor(size: number, options: { random?: () => number; store?: HeartbeatStore } = {}): HeartMonitor {
  const monitor = new HeartMonitor({
    // Long runs at 100,000 servers take longer than Apache's 10 s: keep every server fresh
    // so all methods compare on the same table (the freshness check still runs per pick).
    staleAfter: 3_600_000,
    expireAfter: 7_200_000,
    store: options.store ?? new MemoryStore({ maxServers: Math.max(size, 1) }),
    ...(options.random === undefined ? {} : { random: options.random }),
  });
  for (let i = 0; i < size; i++) {
    if (!monitor.ingest(poolHeartbeat(i, 0), { address: poolAddress(i) })) throw new Error(`heartbeat of server ${i} refused`);
  }
  return monitor;
}

/** Balancer members for servers 0..size-1, as a proxy would configure them (frozen: never changes). */
export function poolMembers(size: number): readonly string[] {
  return Object.freeze(Array.from({ length: size }, (_, i) => `http://${poolAddress(i)}:8080`));
}
