import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HeartMonitor, type HeartMonitorOptions, type MemberLease } from '../../src/index.js';
import { ManualClock } from './support.js';

// Lease accounting under in-flight correction, as properties over random interleavings of
// heartbeats, acquires and releases: a proxy's corrected view of a server must never lose
// capacity (a worker stays counted busy after the request on it ended) nor invent it (more
// ready workers than the report allows).

const SERVERS = 3;
const ipOf = (server: number): string => `10.0.0.${server + 1}`;
const memberOf = (server: number): string => `http://${ipOf(server)}:8080`;

type Step =
  | { readonly kind: 'beat'; readonly server: number; readonly ready: number; readonly busy: number }
  | { readonly kind: 'acquire'; readonly server: number }
  | { readonly kind: 'release'; readonly pick: number };

const server = fc.integer({ min: 0, max: SERVERS - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('beat' as const), server, ready: fc.integer({ min: 0, max: 12 }), busy: fc.integer({ min: 0, max: 12 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('acquire' as const), server }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
);
const steps = fc.array(step, { minLength: 1, maxLength: 120 });

/** One proxy driven by steps, with every lease it holds, by server. */
class Proxy {
  readonly monitor: HeartMonitor;
  readonly open: MemberLease<string>[][] = Array.from({ length: SERVERS }, () => []);

  constructor(options: HeartMonitorOptions) {
    // warmupDivisor 1: a weight is the corrected ready count itself.
    this.monitor = new HeartMonitor({ clock: new ManualClock(), random: () => 0.5, warmupDivisor: 1, inFlightCorrection: true, ...options });
  }

  beat(target: number, ready: number, busy: number): void {
    assert.ok(this.monitor.ingest(`v=1&ready=${ready}&busy=${busy}`, { address: ipOf(target) }));
  }

  /** A lease on `target`, or undefined when the proxy refused (only allowed at weight 0). */
  acquire(target: number): MemberLease<string> | undefined {
    const lease = this.monitor.acquire([memberOf(target)]);
    if (lease !== undefined) this.open[target]?.push(lease);
    return lease;
  }

  /** Release the `pick`-th open lease (over all servers); returns its server or -1 when none is open. */
  release(pick: number): number {
    const all = this.open.flatMap((leases, target) => leases.map((lease) => ({ lease, target })));
    const chosen = all[pick % Math.max(1, all.length)];
    if (chosen === undefined) return -1;
    const leases = this.open[chosen.target] ?? [];
    leases.splice(leases.indexOf(chosen.lease), 1);
    chosen.lease.release();
    return chosen.target;
  }

  openTo(target: number): number {
    return this.open[target]?.length ?? 0;
  }

  weight(target: number): number {
    return this.monitor.serverState(ipOf(target))?.weight ?? 0;
  }

  close(): void {
    void this.monitor.close();
  }
}

const clamp = (value: number, low: number, high: number): number => Math.min(high, Math.max(low, value));

describe('lease accounting (in-flight correction)', () => {
  it('a sole proxy fed truthful reports always sees capacity minus its open requests', () => {
    // Each server has a fixed number of workers; its heartbeat tells the truth about this
    // proxy's requests: busy = requests on workers, ready = the idle rest (requests beyond
    // the workers wait in its queue). Then, whatever heartbeats a lease straddles, the
    // corrected weight must be exactly what a heartbeat sent now would report.
    const capacities = fc.array(fc.integer({ min: 1, max: 8 }), { minLength: SERVERS, maxLength: SERVERS });
    const truthfulSteps = fc.array(
      fc.oneof(
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('beat' as const), server }) },
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('acquire' as const), server }) },
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
      ),
      { minLength: 1, maxLength: 150 },
    );
    fc.assert(
      fc.property(capacities, truthfulSteps, (capacity, script) => {
        const proxy = new Proxy({ whenAllBusy: 'most-headroom' });
        const report = (target: number): void => {
          const workers = capacity[target] ?? 1;
          const active = Math.min(workers, proxy.openTo(target));
          proxy.beat(target, workers - active, active);
        };
        try {
          for (let target = 0; target < SERVERS; target++) report(target);
          for (const next of script) {
            if (next.kind === 'beat') report(next.server);
            else if (next.kind === 'acquire') assert.ok(proxy.acquire(next.server), 'a fresh server is never refused');
            else proxy.release(next.pick);
            for (let target = 0; target < SERVERS; target++) {
              const idleNow = Math.max(0, (capacity[target] ?? 1) - proxy.openTo(target));
              assert.equal(proxy.weight(target), idleNow, `server ${target} after ${JSON.stringify(next)}`);
              assert.equal(proxy.monitor.serverState(ipOf(target))?.inFlight, proxy.openTo(target));
            }
          }
        } finally {
          proxy.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never loses nor invents capacity, whatever the reports say', () => {
    // Reports here are arbitrary (other proxies, queues, lies). Between two heartbeats:
    // an acquire takes at most one worker and a release gives back at most one; every
    // weight stays within 0..ready+busy of the report; and once every lease is released,
    // each worker the report counted busy with this proxy's requests is given back.
    fc.assert(
      fc.property(steps, (script) => {
        const proxy = new Proxy({});
        const reports = Array.from({ length: SERVERS }, () => ({ ready: 0, busy: 0, heldAtReport: 0 }));
        try {
          for (let target = 0; target < SERVERS; target++) proxy.beat(target, 4, 1);
          for (let target = 0; target < SERVERS; target++) reports[target] = { ready: 4, busy: 1, heldAtReport: 0 };
          for (const next of script) {
            const before = Array.from({ length: SERVERS }, (_, target) => proxy.weight(target));
            let moved = -1;
            if (next.kind === 'beat') {
              reports[next.server] = { ready: next.ready, busy: next.busy, heldAtReport: proxy.openTo(next.server) };
              proxy.beat(next.server, next.ready, next.busy);
            } else if (next.kind === 'acquire') {
              const lease = proxy.acquire(next.server);
              if (lease === undefined) assert.equal(before[next.server], 0, 'refused only at weight 0');
              else moved = next.server;
            } else {
              moved = proxy.release(next.pick);
            }
            for (let target = 0; target < SERVERS; target++) {
              const { ready, busy } = reports[target] ?? { ready: 0, busy: 0 };
              const weight = proxy.weight(target);
              assert.ok(weight >= 0 && weight <= ready + busy, `weight ${weight} outside 0..${ready + busy}`);
              if (next.kind === 'beat') continue;
              const change = weight - (before[target] ?? 0);
              if (target !== moved) assert.equal(change, 0, 'a lease on another server moves nothing here');
              else if (next.kind === 'acquire') assert.ok(change === 0 || change === -1, `acquire changed the weight by ${change}`);
              else assert.ok(change === 0 || change === 1, `release changed the weight by ${change}`);
            }
          }
          // Release everything: each server is back at its report plus the workers that
          // report counted busy with this proxy's requests (at most `busy` of them).
          while (proxy.release(0) >= 0);
          for (let target = 0; target < SERVERS; target++) {
            const { ready, busy, heldAtReport } = reports[target] ?? { ready: 0, busy: 0, heldAtReport: 0 };
            assert.equal(proxy.weight(target), clamp(ready + Math.min(heldAtReport, busy), 0, ready + busy), `server ${target}`);
          }
        } finally {
          proxy.close();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('an acquire and its release with no heartbeat between leave the weight as it was', () => {
    fc.assert(
      fc.property(steps, server, (script, target) => {
        const proxy = new Proxy({});
        try {
          for (let each = 0; each < SERVERS; each++) proxy.beat(each, 6, 1);
          for (const next of script) {
            if (next.kind === 'beat') proxy.beat(next.server, next.ready, next.busy);
            else if (next.kind === 'acquire') proxy.acquire(next.server);
            else proxy.release(next.pick);
          }
          const before = proxy.weight(target);
          const lease = proxy.monitor.acquire([memberOf(target)]);
          if (lease === undefined) assert.equal(before, 0);
          lease?.release();
          assert.equal(proxy.weight(target), before);
        } finally {
          proxy.close();
        }
      }),
      { numRuns: 200 },
    );
  });

  it('with `proxies: N` counts its share of a report, corrected the same way', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 8 }), steps, (proxies, script) => {
        const proxy = new Proxy({ proxies, whenAllBusy: 'most-headroom' });
        const reports = Array.from({ length: SERVERS }, () => ({ ready: 6, busy: 1, heldAtReport: 0 }));
        try {
          for (let target = 0; target < SERVERS; target++) proxy.beat(target, 6, 1);
          for (const next of script) {
            if (next.kind === 'beat') {
              reports[next.server] = { ready: next.ready, busy: next.busy, heldAtReport: proxy.openTo(next.server) };
              proxy.beat(next.server, next.ready, next.busy);
            } else if (next.kind === 'acquire') {
              const { ready, busy } = reports[next.server] ?? { ready: 0, busy: 0 };
              const lease = proxy.acquire(next.server);
              if (ready + busy > 0) assert.ok(lease, 'a fresh server with capacity is never refused');
            } else {
              proxy.release(next.pick);
            }
          }
          for (let target = 0; target < SERVERS; target++) {
            const { ready, busy, heldAtReport } = reports[target] ?? { ready: 0, busy: 0, heldAtReport: 0 };
            const corrected = ready / proxies - (proxy.openTo(target) - Math.min(heldAtReport, busy));
            const expected = clamp(corrected, 0, ready + busy);
            assert.ok(Math.abs(proxy.weight(target) - expected) <= 0.0005, `server ${target}: ${proxy.weight(target)} vs ${expected}`);
          }
        } finally {
          proxy.close();
        }
      }),
      { numRuns: 200 },
    );
  });
});
