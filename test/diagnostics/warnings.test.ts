import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { HeartMonitor, type HeartMonitorWarning } from '../../src/index.js';
import { defaultInterfaceMessage, defaultMulticastInterface } from '../../src/diagnostics/multicast-interface.js';
import { IN_NETNS, netnsUnavailable, runInNamespace, setUpLoopback } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

/** Collect a monitor's warnings. */
function collect(monitor: HeartMonitor): HeartMonitorWarning[] {
  const warnings: HeartMonitorWarning[] = [];
  monitor.on('warning', (warning) => warnings.push(warning));
  monitor.on('error', (error) => assert.fail(error));
  return warnings;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Call `step` every 10 ms for `ms` (what must keep holding meanwhile). */
async function during(ms: number, step: () => void): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    step();
    await sleep(10);
  }
}

if (!IN_NETNS) {
  describe('silent mistakes made loud', () => {
    const monitors: HeartMonitor[] = [];
    const make = (options: ConstructorParameters<typeof HeartMonitor>[0]) => {
      const monitor = new HeartMonitor(options);
      monitors.push(monitor);
      return monitor;
    };
    after(async () => {
      for (const monitor of monitors) await monitor.close();
    });

    it('members that match no server for staleAfter: one warning saying what the table holds', async () => {
      const monitor = make({ staleAfter: 200, expireAfter: 5000 });
      const warnings = collect(monitor);
      const members = ['http://localhost:8080', 'http://[::1]:8080'];
      await waitFor('the warning', () => warnings.length > 0, {
        timeoutMs: 1500,
        onTick: () => {
          monitor.ingest('v=1&ready=50&busy=1&port=8080', { address: '127.0.0.1' });
          assert.equal(monitor.pickBackend(members), undefined);
        },
      });
      assert.equal(warnings.length, 1);
      const [warning] = warnings;
      assert.equal(warning?.code, 'HM_MEMBERS_UNMATCHED');
      assert.match(warning?.message ?? '', /localhost:8080/);
      assert.match(warning?.message ?? '', /table holds 127\.0\.0\.1/);
      assert.match(warning?.message ?? '', /not resolved/);
      // Once only.
      await during(300, () => void monitor.pickBackend(members));
      assert.equal(warnings.length, 1);
    });

    it('no warning while the members match, or before staleAfter', async () => {
      const monitor = make({ staleAfter: 10_000 });
      const warnings = collect(monitor);
      monitor.ingest('v=1&ready=50&busy=1', { address: '127.0.0.1' });
      await during(300, () => {
        assert.equal(monitor.pickBackend(['http://127.0.0.1:8080']), 'http://127.0.0.1:8080');
        assert.equal(monitor.pickBackend(['http://localhost:8080']), undefined);
      });
      assert.deepEqual(warnings, []);
    });

    it("several ports behind one IP under keyBy 'ip': suggests keyBy 'ip:port'; a single port change (a restart) does not", () => {
      const monitor = make({});
      const warnings = collect(monitor);
      monitor.ingest('v=1&ready=5&busy=1&port=8080', { address: '127.0.0.2' });
      monitor.ingest('v=1&ready=5&busy=1&port=9090', { address: '127.0.0.2' }); // restarted elsewhere
      assert.equal(warnings.length, 0);
      monitor.ingest('v=1&ready=5&busy=1&port=8080', { address: '127.0.0.3' });
      monitor.ingest('v=1&ready=5&busy=1&port=8081', { address: '127.0.0.3' });
      monitor.ingest('v=1&ready=5&busy=1&port=8080', { address: '127.0.0.3' });
      monitor.ingest('v=1&ready=5&busy=1&port=8081', { address: '127.0.0.3' });
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]?.code, 'HM_SHARED_IP');
      assert.match(warnings[0]?.message ?? '', /127\.0\.0\.3 alternate between ports 8080, 8081/);
      assert.match(warnings[0]?.message ?? '', /keyBy: 'ip:port'/);
    });

    it("keyBy 'ip:port' never warns about shared IPs", () => {
      const monitor = make({ keyBy: 'ip:port' });
      const warnings = collect(monitor);
      for (let i = 0; i < 4; i++) monitor.ingest(`v=1&ready=5&busy=1&port=${8080 + (i % 2)}`, { address: '127.0.0.3' });
      assert.deepEqual(warnings, []);
    });

    it('every weight 0 by the ready/4 rule: says so once picks fail', async () => {
      const monitor = make({ staleAfter: 1000 });
      const warnings = collect(monitor);
      monitor.ingest('v=1&ready=3&busy=0', { address: '127.0.0.2' });
      monitor.ingest('v=1&ready=2&busy=0', { address: '127.0.0.3' });
      await waitFor('the warning', () => warnings.length > 0, { timeoutMs: 1500, onTick: () => assert.equal(monitor.pickBackend(), undefined) });
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]?.code, 'HM_ZERO_WEIGHTS');
      assert.match(warnings[0]?.message ?? '', /ready\/4/);
      assert.match(warnings[0]?.message ?? '', /127\.0\.0\.2:80 ready=3/);
    });

    it('without a warning listener: process.emitWarning with the code, once', async () => {
      const monitor = make({});
      monitor.on('error', (error) => assert.fail(error));
      const emitted = once(process, 'warning') as Promise<[Error & { code?: string }]>;
      for (let i = 0; i < 6; i++) monitor.ingest(`v=1&ready=5&busy=1&port=${8080 + (i % 2)}`, { address: '127.0.0.4' });
      const [warning] = await emitted;
      assert.equal(warning.name, 'HeartMonitorWarning');
      assert.equal(warning.code, 'HM_SHARED_IP');
    });

    it('names the interface of the route to the group', () => {
      const table = [
        'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
        'eth9\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
        'lo\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0',
      ].join('\n');
      assert.equal(defaultMulticastInterface('239.0.0.1', table)?.split(' ')[0], 'lo');
      assert.equal(defaultMulticastInterface('10.1.2.3', table), 'eth9');
      assert.equal(defaultMulticastInterface('ff15::1', table), undefined);
      assert.match(defaultInterfaceMessage('239.0.0.1', table), /lo.*route to 239\.0\.0\.1.*pass interface/);
    });

    it('multicast joined without `interface`: warns naming the interface (inside a private network namespace)', { skip: netnsUnavailable(), timeout: 60_000 }, async () => {
      const { code, output } = await runInNamespace(import.meta.url);
      assert.equal(code, 0, output);
    });
  });
} else {
  describe('inside a private network namespace', () => {
    it('warns once that the group was joined on the default interface, and not when `interface` is given', async () => {
      setUpLoopback();
      const implicit = new HeartMonitor({ listen: '239.0.0.1:0' });
      const warnings = collect(implicit);
      await implicit.listen();
      await implicit.close();
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]?.code, 'HM_DEFAULT_INTERFACE');
      assert.match(warnings[0]?.message ?? '', /lo \(127\.0\.0\.1\), the interface of the route to 239\.0\.0\.1/);

      const explicit = new HeartMonitor({ listen: '239.0.0.1:0', interface: '127.0.0.1' });
      const none = collect(explicit);
      await explicit.listen();
      await explicit.close();
      assert.deepEqual(none, []);
    });
  });
}
