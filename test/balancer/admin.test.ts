import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeartMonitor } from '../../src/index.js';
import { ManualClock, beat, countPicks } from './support.js';
import { seededRandom } from '../helpers/random.js';

function pool(options: ConstructorParameters<typeof HeartMonitor>[0] = {}, clock = new ManualClock()) {
  const monitor = new HeartMonitor({ clock, random: seededRandom(3), ...options });
  beat(monitor, '10.0.0.1', 10);
  beat(monitor, '10.0.0.2', 10);
  return monitor;
}

describe('administrative states', () => {
  it('drain: no new picks, open leases finish, and it survives heartbeats', () => {
    const monitor = pool();
    const lease = monitor.acquire(['10.0.0.1:80']);
    monitor.drain('10.0.0.1');
    beat(monitor, '10.0.0.1', 50);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 100)), { '10.0.0.2': 100 });
    assert.equal(monitor.pickBackend(['http://10.0.0.1']), undefined);
    assert.equal(monitor.acquire(['10.0.0.1:80']), undefined);
    const view = monitor.serverState('10.0.0.1');
    assert.equal(view?.state, 'draining');
    assert.equal(view?.inFlight, 1);
    assert.equal(view?.server.ready, 50);
    assert.deepEqual(
      monitor.servers().map((server) => [server.ip, server.state]),
      [
        ['10.0.0.1', 'draining'],
        ['10.0.0.2', undefined],
      ],
    );
    lease?.release();
    assert.equal(monitor.serverState('10.0.0.1')?.inFlight, 0);
    void monitor.close();
  });

  it('disable and enable; enabling ramps the server up through slow start', () => {
    const clock = new ManualClock();
    const monitor = pool({ slowStart: { window: 1000 } }, clock);
    clock.advance(1000);
    beat(monitor, '10.0.0.1', 10);
    beat(monitor, '10.0.0.2', 10);
    monitor.disable('10.0.0.2');
    beat(monitor, '10.0.0.2', 10);
    assert.equal(monitor.serverState('10.0.0.2')?.state, 'disabled');
    assert.equal(monitor.serverState('10.0.0.2')?.weight, 0);
    assert.deepEqual(Object.fromEntries(countPicks(monitor, 50)), { '10.0.0.1': 50 });
    monitor.enable('10.0.0.2');
    assert.equal(monitor.serverState('10.0.0.2')?.state, 'warming');
    assert.equal(monitor.serverState('10.0.0.2')?.weight, 1);
    assert.equal(monitor.servers().some((server) => server.state !== undefined), false);
    void monitor.close();
  });

  it('applies to servers that are not known yet and to every port of an IP under keyBy ip:port', () => {
    const monitor = new HeartMonitor({ clock: new ManualClock(), keyBy: 'ip:port' });
    monitor.disable('10.0.0.1');
    monitor.ingest('v=1&ready=5&busy=1&port=8080', { address: '10.0.0.1' });
    monitor.ingest('v=1&ready=5&busy=1&port=8081', { address: '10.0.0.1' });
    monitor.ingest('v=1&ready=5&busy=1&port=8080', { address: '10.0.0.2' });
    assert.deepEqual(
      monitor.describe().map((view) => [view.key, view.state]),
      [
        ['10.0.0.1:8080', 'disabled'],
        ['10.0.0.1:8081', 'disabled'],
        ['10.0.0.2:8080', 'active'],
      ],
    );
    monitor.enable('10.0.0.1');
    monitor.drain('10.0.0.1:8081');
    assert.equal(monitor.serverState('10.0.0.1:8081')?.state, 'draining');
    assert.equal(monitor.serverState('http://10.0.0.1:8080')?.state, 'active');
    assert.equal(monitor.serverState('10.0.0.9'), undefined);
    void monitor.close();
  });
});
