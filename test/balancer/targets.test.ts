// How operators and proxies name a server (drain, disable, enable, markFailed, serverState)
// and pass member lists: a mistake throws a TypeError that names the argument, in the
// monitor and in every view alike; nothing is taken silently.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HeartMonitor, pickBackend, SlotStore, type HeartbeatView } from '../../src/index.js';

const BAD_SERVER = /^Expected `server` to be an IP, "ip:port", "\[ipv6\]:port", a member URL with an IP host, or a ServerStatus, got /;
const BAD_MEMBERS = /^Expected `members` to be an array of backend members/;

function withMonitorAndView(run: (subject: HeartbeatView, name: string, monitor: HeartMonitor) => void): void {
  const monitor = new HeartMonitor({ maxServers: 16, keyBy: 'ip:port', store: new SlotStore({ maxServers: 16, keyBy: 'ip:port' }) });
  monitor.ingest('v=1&ready=5&busy=1&port=8080', { address: '10.0.0.1' });
  monitor.ingest('v=1&ready=5&busy=1&port=8081', { address: '10.0.0.1' });
  const view = SlotStore.attach((monitor.store as SlotStore).buffer);
  try {
    run(monitor, 'monitor', monitor);
    run(view, 'SlotStore view', monitor);
  } finally {
    void view.close();
    void monitor.close();
  }
}

describe('naming servers and members', () => {
  it('drain, disable and enable refuse what names no server: undefined, null, {}, a number, a host name, junk', () => {
    // The operator's states are set on the monitor; views receive them with the data.
    withMonitorAndView((subject, name, monitor) => {
      for (const target of [undefined, null, {}, 42, { ip: 'web-1', port: 80 }, 'garbage', 'web-1:8080', 'http://web-1:8080', 'http://[zz]:1', '', '10.0.0.1:0', { ip: '10.0.0.1', port: 1e9 }, { ip: '10.0.0.1', port: -1 }]) {
        for (const action of ['drain', 'disable', 'enable'] as const) {
          assert.throws(() => monitor[action](target as never), { name: 'TypeError', message: BAD_SERVER }, `${action}(${String(JSON.stringify(target))})`);
        }
      }
      // Nothing of those reached the table, nor the view.
      assert.deepEqual(
        subject.servers().map((server) => server.state),
        [undefined, undefined],
        name,
      );
    });
  });

  it('every accepted spelling names the same servers: ip (every port), ip:port, a URL, a status; the view sees each', () => {
    withMonitorAndView((subject, name, monitor) => {
      const [first] = monitor.servers();
      assert.ok(first);
      for (const target of ['10.0.0.1:8080', 'http://10.0.0.1:8080/', ' 10.0.0.1:8080 ', first]) {
        monitor.drain(target);
        assert.equal(subject.serverState('10.0.0.1:8080')?.state, 'draining', `${name}: drain(${JSON.stringify(target)})`);
        assert.equal(subject.serverState('10.0.0.1:8081')?.state === 'draining', false);
        monitor.enable(target);
      }
      monitor.disable('10.0.0.1');
      assert.deepEqual(
        subject.describe().map((view) => view.state),
        ['disabled', 'disabled'],
        `${name}: a bare ip covers every port`,
      );
      monitor.enable('10.0.0.1');
    });
  });

  it('lookups and failure reports: junk throws, a well-formed member with a host name names no server (0, undefined)', () => {
    withMonitorAndView((subject, name) => {
      for (const target of [undefined, null, {}, 42, '', 'http://[zz]:1']) {
        assert.throws(() => subject.markFailed(target as never), { name: 'TypeError', message: BAD_SERVER }, `${name}.markFailed`);
        assert.throws(() => subject.serverState(target as never), { name: 'TypeError', message: BAD_SERVER }, `${name}.serverState`);
      }
      // A proxy reporting a failure from its error path must not throw there for a name.
      assert.equal(subject.markFailed('http://web-1:8080'), 0);
      assert.equal(subject.serverState('web-1:8080'), undefined);
      assert.equal(subject.markFailed('http://10.0.0.9:8080'), 0, 'an IP not in the table');
    });
  });

  it('a member list must be an array: a single URL passed by mistake throws, in picks, leases and the pure pickBackend', () => {
    withMonitorAndView((subject, name) => {
      for (const members of ['http://10.0.0.1:8080', { host: '10.0.0.1', port: 8080 }, 42, null]) {
        assert.throws(() => subject.pickBackend(members as never), { name: 'TypeError', message: BAD_MEMBERS }, `${name}.pickBackend`);
        assert.throws(() => subject.acquire(members as never), { name: 'TypeError', message: BAD_MEMBERS }, `${name}.acquire`);
      }
      assert.equal(subject.pickBackend(['http://10.0.0.1:8080']), 'http://10.0.0.1:8080');
    });
    assert.throws(() => pickBackend([], 'http://10.0.0.1' as never), { name: 'TypeError', message: BAD_MEMBERS });
  });

  it('whatever an operator passes, drain() either names servers or throws that TypeError; no other error, no other state (property)', () => {
    const monitor = new HeartMonitor({ maxServers: 16 });
    monitor.ingest('v=1&ready=5&busy=1', { address: '10.0.0.1' });
    try {
      fc.assert(
        fc.property(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6(), fc.anything(), fc.webUrl()), (target) => {
          try {
            monitor.drain(target as never);
          } catch (error) {
            assert.ok(error instanceof TypeError && BAD_SERVER.test(error.message), String(error));
            return;
          } finally {
            monitor.enable('10.0.0.1');
          }
          assert.equal(monitor.serverState('10.0.0.1')?.state, 'active');
        }),
        { numRuns: 500 },
      );
    } finally {
      void monitor.close();
    }
  });
});
