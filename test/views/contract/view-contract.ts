/**
 * The view contract (SPEC 3.1): the behaviour every view of the table must have, run
 * against the monitor itself and against views whose monitor lives in another thread or
 * process. Like test/stores/store-contract.ts for stores: one suite, many implementations.
 *
 * Each test uses its own addresses, so one host can serve every test of a suite.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { HeartbeatView, HeartbeatViewOptions, ServerStatus } from '../../../src/index.js';
import { seededRandom } from '../../helpers/random.js';
import { waitFor } from '../../helpers/wait.js';

/** The monitor's staleAfter and expireAfter on every host (short: the suite waits for them). */
export const HOST_SETTINGS = { staleAfter: 600, expireAfter: 1500 } as const;

/** A view and the monitor feeding it. */
export interface ViewUnderTest {
  readonly view: HeartbeatView;
  /** An accepted heartbeat of `ip`, resolved once the view can have it. */
  beat(ip: string, ready: number, busy?: number): Promise<void>;
  drain(ip: string): Promise<void>;
  disable(ip: string): Promise<void>;
  enable(ip: string): Promise<void>;
}

/** Where the monitor lives for one suite. */
export interface ViewHost {
  /** The host's timing, when not {@link HOST_SETTINGS}; `resolution`: ms the view's ages are rounded to. */
  readonly settings?: { readonly staleAfter: number; readonly expireAfter: number; readonly resolution: number };
  /** A view with these options over the host's table (for the monitor: a new monitor). */
  open(options: HeartbeatViewOptions): Promise<ViewUnderTest>;
  close(): Promise<void>;
}

/** What kind of table a suite's views share. */
export interface ContractTraits {
  /**
   * Views opened later see the servers of earlier ones (one table, many views). False for
   * the monitor, whose every `open()` is a monitor of its own.
   * @default true
   */
  readonly sharedTable?: boolean;
}

const members = (...ips: string[]): string[] => ips.map((ip) => `http://${ip}:8080`);

function tally<T>(rounds: number, pick: () => T | undefined): Map<T | 'none', number> {
  const counts = new Map<T | 'none', number>();
  for (let i = 0; i < rounds; i++) {
    const value = pick() ?? 'none';
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return counts;
}

/** Run the contract against the views `makeHost` opens. */
export function viewContract(name: string, makeHost: () => Promise<ViewHost>, { sharedTable = true }: ContractTraits = {}): void {
  describe(`view contract: ${name}`, () => {
    let host: ViewHost | undefined;
    const timing = (): { staleAfter: number; expireAfter: number; resolution: number } => host?.settings ?? { ...HOST_SETTINGS, resolution: 0 };
    const opened: HeartbeatView[] = [];
    const open = async (options: HeartbeatViewOptions = {}): Promise<ViewUnderTest> => {
      const under = await (host as ViewHost).open({ random: seededRandom(11), ...options });
      opened.push(under.view);
      return under;
    };
    before(async () => {
      host = await makeHost();
    });
    after(async () => {
      await Promise.all(opened.map((view) => view.close()));
      await host?.close();
    });

    it('picks in proportion to the heartbeat weights, among members and among all servers', async () => {
      const t = await open();
      await t.beat('10.1.0.1', 30, 1);
      await t.beat('10.1.0.2', 10, 1);
      const list = members('10.1.0.1', '10.1.0.2', '10.1.0.3');
      const counts = tally(4000, () => t.view.pickBackend(list));
      const share = (counts.get(list[0] as string) ?? 0) / 4000;
      assert.ok(Math.abs(share - 0.75) < 0.04, `share of the ready=30 server: ${share}`);
      assert.equal(counts.get(list[2] as string), undefined, 'an unknown member is never picked');
      assert.deepEqual(
        t.view
          .servers()
          .filter((server) => server.ip.startsWith('10.1.0.'))
          .map((server) => [server.ip, server.ready, server.busy]),
        [
          ['10.1.0.1', 30, 1],
          ['10.1.0.2', 10, 1],
        ],
      );
      const any = t.view.pickBackend();
      assert.ok(any !== undefined && typeof any.ip === 'string');
    });

    it('stops picking a server that went silent for staleAfter, with a stale event', async () => {
      const t = await open();
      const stale: string[] = [];
      t.view.on('stale', (server) => stale.push(server.ip));
      await t.beat('10.2.0.1', 5, 1);
      await t.beat('10.2.0.2', 5, 1);
      const list = members('10.2.0.1', '10.2.0.2');
      const deadline = Date.now() + timing().staleAfter + timing().resolution + 200;
      while (Date.now() < deadline) {
        await t.beat('10.2.0.2', 5, 1);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual([...tally(200, () => t.view.pickBackend(list)).keys()], [list[1]]);
      await waitFor(
        'the stale event',
        () => {
          t.view.servers(); // pull-based views read on use
          return stale.includes('10.2.0.1');
        },
        { timeoutMs: 3000 },
      );
      assert.equal(stale.includes('10.2.0.2'), false);
    });

    it('follows drain, disable and enable set on the monitor', async () => {
      const t = await open();
      await t.beat('10.3.0.1', 10, 1);
      await t.beat('10.3.0.2', 10, 1);
      const list = members('10.3.0.1', '10.3.0.2');
      await t.drain('10.3.0.1');
      assert.deepEqual([...tally(200, () => t.view.pickBackend(list)).keys()], [list[1]]);
      assert.equal(t.view.serverState('10.3.0.1')?.state, 'draining');
      assert.equal(t.view.servers().find((server) => server.ip === '10.3.0.1')?.state, 'draining');
      await t.disable('10.3.0.2');
      assert.equal(t.view.pickBackend(list), undefined);
      assert.equal(t.view.acquire(list), undefined);
      await t.enable('10.3.0.1');
      await t.enable('10.3.0.2');
      assert.equal(tally(400, () => t.view.pickBackend(list)).size, 2);
      assert.equal(t.view.serverState('10.3.0.2')?.state, 'active');
    });

    it('markFailed takes a server out of this view for failure.retryAfter, with a failed event', async () => {
      const t = await open({ failure: { retryAfter: 60_000 } });
      const failed: [string, number][] = [];
      t.view.on('failed', (server, failure) => failed.push([server.ip, failure.retryAfter]));
      await t.beat('10.4.0.1', 10, 1);
      await t.beat('10.4.0.2', 10, 1);
      const list = members('10.4.0.1', '10.4.0.2');
      assert.equal(t.view.markFailed('10.4.0.1'), 1);
      assert.deepEqual(failed, [['10.4.0.1', 60_000]]);
      assert.deepEqual([...tally(200, () => t.view.pickBackend(list)).keys()], [list[1]]);
      assert.equal(t.view.serverState('10.4.0.1')?.state, 'failed');
      assert.equal(t.view.servers().find((server) => server.ip === '10.4.0.1')?.state, 'failed');
      // A heartbeat does not bring it back before its time.
      await t.beat('10.4.0.1', 50, 1);
      assert.deepEqual([...tally(200, () => t.view.pickBackend(list)).keys()], [list[1]]);
    });

    it('leases: acquire returns the member and its server, counts it in flight, and a failed release counts a failure', async () => {
      const t = await open({ inFlightCorrection: true });
      await t.beat('10.5.0.1', 2, 1);
      const list = members('10.5.0.1');
      const lease = t.view.acquire(list);
      assert.ok(lease !== undefined);
      assert.equal(lease.member, list[0]);
      assert.equal(lease.server.ip, '10.5.0.1');
      assert.equal(t.view.serverState('10.5.0.1')?.inFlight, 1);
      assert.equal(t.view.serverState('10.5.0.1')?.weight, 1, 'in-flight correction: ready 2 − 1 open lease');
      lease.release({ failed: true });
      lease.release(); // a second release is a no-op
      assert.equal(t.view.serverState('10.5.0.1')?.inFlight, 0);
      assert.equal(t.view.serverState('10.5.0.1')?.failures, 1);
      assert.equal(t.view.metrics().leases, 1);
    });

    it('ramps a new server up through slow start', async () => {
      const t = await open({ slowStart: { window: 60_000 } });
      await t.beat('10.6.0.1', 100, 1);
      const state = t.view.serverState('10.6.0.1');
      assert.equal(state?.state, 'warming');
      assert.ok(state !== undefined && state.slowStart < 0.5 && state.weight < 100, JSON.stringify(state));
    });

    it('a view that connects after the ramp began is in step with the monitor', async () => {
      const window = 1500;
      // Slack for rounding: hb.dat carries whole ms against the file's mtime.
      const slack = 0.05;
      const early = await open({ slowStart: { window } });
      const beforeBeat = performance.now();
      await early.beat('10.10.0.1', 100, 1);
      const afterBeat = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 300));
      // A view of the same table that starts now (the monitor itself where views do not share one).
      const late = sharedTable ? await open({ slowStart: { window } }) : early;
      const readFrom = performance.now();
      const lateState = late.view.serverState('10.10.0.1');
      const earlyState = early.view.serverState('10.10.0.1');
      const readTo = performance.now();
      // The monitor put the server into rotation during the beat: its ramp is this far along.
      const lowest = (readFrom - afterBeat) / window - slack;
      const highest = (readTo - beforeBeat) / window + slack;
      for (const [name, state] of [
        ['late view', lateState],
        ['early view', earlyState],
      ] as const) {
        assert.equal(state?.state, 'warming', `${name}: ${JSON.stringify(state)}`);
        const progress = state?.slowStart ?? -1;
        assert.ok(progress >= lowest && progress <= highest, `${name}: ramp progress ${progress}, the monitor's is in ${lowest.toFixed(3)}..${highest.toFixed(3)}`);
      }
      assert.ok(Math.abs((lateState?.slowStart ?? 0) - (earlyState?.slowStart ?? 1)) <= 2 * slack, 'both views ramp in step');
      assert.ok(typeof late.view.servers().find((server) => server.ip === '10.10.0.1')?.inRotationSince === 'number', 'the record carries inRotationSince');
    });

    it("noFreshServer 'last-known' still picks when every member is stale", async () => {
      const lastKnown = await open({ noFreshServer: 'last-known' });
      await lastKnown.beat('10.7.0.1', 5, 1);
      const list = members('10.7.0.1');
      assert.equal(lastKnown.view.pickBackend(list), list[0]);
      assert.equal(lastKnown.view.metrics().last_known_fallback, 0);
      await waitFor('the server to turn stale', () => lastKnown.view.serverState('10.7.0.1')?.state === 'stale', { timeoutMs: timing().staleAfter + timing().resolution + 3000 });
      assert.equal(lastKnown.view.pickBackend(list), list[0]);
      assert.equal(lastKnown.view.metrics().last_known_fallback, 1);
    });

    it('emits add and update for heartbeats and remove when the server expires', async () => {
      const t = await open();
      const seen: string[] = [];
      for (const event of ['add', 'update', 'remove'] as const) t.view.on(event, (server: ServerStatus) => server.ip.startsWith('10.8.') && seen.push(`${event} ${server.ip}`));
      await t.beat('10.8.0.1', 5, 1);
      await t.beat('10.8.0.1', 6, 1);
      // Pull-based views read on use, and may see only the latest of two quick heartbeats.
      assert.equal(t.view.servers().find((server) => server.ip === '10.8.0.1')?.ready, 6);
      assert.deepEqual(seen.slice(0, 2), ['add 10.8.0.1', 'update 10.8.0.1']);
      await waitFor(
        'the remove event',
        () => {
          t.view.servers();
          return seen.includes('remove 10.8.0.1');
        },
        { timeoutMs: timing().expireAfter + timing().resolution + 3000 },
      );
      assert.equal(t.view.serverState('10.8.0.1'), undefined);
    });

    // Only where views share one table: every view of the monitor's host is a new, empty monitor.
    if (sharedTable) it('announces the servers already there when a view opens: add and update for listeners attached once it is yours', async () => {
      const early = await open();
      await early.beat('10.11.0.1', 5, 1);
      const late = await open();
      const seen: string[] = [];
      for (const event of ['add', 'update'] as const) late.view.on(event, (server: ServerStatus) => server.ip.startsWith('10.11.') && seen.push(`${event} ${server.ip}`));
      assert.equal(late.view.servers().find((server) => server.ip === '10.11.0.1')?.ready, 5);
      assert.deepEqual(seen, ['add 10.11.0.1', 'update 10.11.0.1']);
    });

    it('describes, measures and serves a status page', async () => {
      const t = await open();
      await t.beat('10.9.0.1', 4, 1);
      t.view.pickBackend(members('10.9.0.1'));
      const described = t.view.describe().find((server) => server.key === '10.9.0.1');
      assert.equal(described?.state, 'active');
      assert.equal(described?.picks, 1);
      const metrics = t.view.metrics();
      assert.ok(metrics.servers >= 1 && metrics.picks === 1, JSON.stringify(metrics));
      // The status page, served for real on loopback: JSON and HTML show the server.
      const server = createServer(t.view.statusHandler({ title: 'contract <b>' }));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const json = await fetch(`http://127.0.0.1:${port}/?format=json`);
        assert.match(json.headers.get('content-type') ?? '', /^application\/json/);
        const body = (await json.json()) as { servers: { key: string; state: string; picks: number }[] };
        const row = body.servers.find((entry) => entry.key === '10.9.0.1');
        assert.deepEqual(row && { state: row.state, picks: row.picks }, { state: 'active', picks: 1 });
        const html = await fetch(`http://127.0.0.1:${port}/`);
        assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
        const text = await html.text();
        assert.ok(text.includes('10.9.0.1') && text.includes('contract &#60;b&#62;') && !text.includes('contract <b>'), 'the page lists the server and escapes its title');
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });
}
