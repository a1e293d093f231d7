import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HeartMonitor, type StatusSnapshot } from '../../src/index.js';
import { ManualClock, beat } from '../balancer/support.js';
import { seededRandom } from '../helpers/random.js';

describe('statusHandler()', () => {
  const clock = new ManualClock();
  const monitor = new HeartMonitor({ clock, random: seededRandom(1), inFlightCorrection: true });
  let server: Server;
  let base: string;

  before(async () => {
    beat(monitor, '10.0.0.1', 30);
    beat(monitor, '10.0.0.2', 10);
    monitor.disable('10.0.0.2');
    for (let i = 0; i < 4; i++) monitor.pickBackend();
    // ingest() takes IP literals only: markup never becomes a server's key.
    assert.equal(monitor.ingest('v=1&ready=10&busy=1', { address: 'x<script>' }), false);
    beat(monitor, 'fe80::1%eth0', 10);
    clock.advance(2500);
    server = createServer(monitor.statusHandler({ refreshSeconds: 3, title: 'Pool <A>' }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await monitor.close();
  });

  it('serves JSON for Accept: application/json and for ?format=json', async () => {
    for (const [path, headers] of [
      ['/', { accept: 'application/json' }],
      ['/status?format=json', {}],
    ] as const) {
      const response = await fetch(base + path, { headers });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
      const body = (await response.json()) as StatusSnapshot;
      assert.equal(body.time, clock.now());
      assert.deepEqual(
        body.servers.map((view) => [view.key, view.state, view.age, view.picks]),
        [
          ['10.0.0.1', 'active', 2500, 4],
          ['10.0.0.2', 'disabled', 2500, 0],
          ['fe80::1%eth0', 'active', 2500, 0],
        ],
      );
      assert.equal(body.metrics.servers_disabled, 1);
    }
  });

  it('serves a self-refreshing HTML page by default, escaping what it prints', async () => {
    const response = await fetch(`${base}/`, { headers: { accept: 'text/html,application/json;q=0.9' } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const html = await response.text();
    assert.match(html, /<meta http-equiv="refresh" content="3">/);
    assert.match(html, /<title>Pool &#60;A&#62;<\/title>/);
    assert.match(html, /<tr data-server="10.0.0.1" data-state="active"><td>10.0.0.1<\/td>/);
    assert.match(html, /<tr data-server="10.0.0.2" data-state="disabled">/);
    assert.match(html, /100.0%/);
    assert.match(html, /<td>fe80::1%eth0<\/td>/);
    assert.match(html, /Pool &#60;A&#62;/);
    assert.doesNotMatch(html, /<script|Pool <A>/);
  });

  it('answers HEAD without a body and other methods with 405', async () => {
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const post = await fetch(`${base}/`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });
});
