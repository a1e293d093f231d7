import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { fetch, request, stream, type Dispatcher } from 'undici';
import type { BackendMember, HeartMonitor, Lease, MemberLease } from '../../src/index.js';
import { createDispatcher, NoMemberError, type HeartbeatDispatcher, type LeasingView } from '../../src/integrations/undici/index.js';
import { announce, announceFirst, announceLast, loopbackMonitor, refusedPort, originPair, type Seen } from './origins.js';

describe('heartmonitor/undici createDispatcher', () => {
  let monitor: HeartMonitor;
  let dispatcher: HeartbeatDispatcher;
  const [a, b] = originPair(async () => {
    await dispatcher.close();
    await monitor.close();
  });

  function setUp(members: string[], options?: Parameters<typeof createDispatcher>[2], monitorOptions?: Parameters<typeof loopbackMonitor>[0]): void {
    monitor = loopbackMonitor(monitorOptions);
    for (const origin of [a, b]) announce(monitor, origin.port);
    dispatcher = createDispatcher(monitor, members, options);
  }

  const failuresOf = (port: number): number => monitor.serverState(`127.0.0.1:${port}`)?.failures ?? -1;

  it('request() reaches a picked member with the path and query kept and the origin replaced', async () => {
    setUp([a.url, b.url]);
    const names = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const response = await request('http://backend.invalid/items?page=2', { dispatcher });
      assert.equal(response.statusCode, 200);
      const seen = (await response.body.json()) as Seen;
      assert.equal(seen.url, '/items?page=2');
      assert.match(String(seen.headers.host), /^127\.0\.0\.1:\d+$/);
      names.add(seen.origin);
    }
    assert.deepEqual([...names].sort(), ['a', 'b']);
    assert.deepEqual(dispatcher.origins.sort(), [a.url, b.url].sort());
    assert.equal(monitor.metrics().in_flight, 0);
  });

  it('follows the heartbeat weights', async () => {
    setUp([a.url, b.url]);
    announce(monitor, a.port, 10);
    announce(monitor, b.port, 90);
    for (let i = 0; i < 200; i++) await (await request('http://backend.invalid/', { dispatcher })).body.dump();
    // Binomial(200, 0.1): mean 20, sd ≈ 4.2; the bound is 5 sd from the mean.
    assert.ok(a.seen.length < 42, `a got ${a.seen.length} of 200 with a tenth of the weight`);
    assert.equal(a.seen.length + b.seen.length, 200);
  });

  it('works with fetch() and stream()', async () => {
    setUp([a.url]);
    const response = await fetch('http://backend.invalid/fetched', { dispatcher, method: 'POST', body: 'hello' });
    assert.equal(response.status, 200);
    const seen = (await response.json()) as Seen;
    assert.deepEqual([seen.origin, seen.method, seen.url, seen.body], ['a', 'POST', '/fetched', 'hello']);

    const chunks: Buffer[] = [];
    await stream<Buffer[]>('http://backend.invalid/streamed', { dispatcher, method: 'GET', opaque: chunks }, ({ opaque }) =>
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          opaque.push(chunk);
          done();
        },
      }),
    );
    assert.equal((JSON.parse(Buffer.concat(chunks).toString()) as Seen).url, '/streamed');
  });

  it('composes with interceptors', async () => {
    setUp([a.url]);
    const tagged = dispatcher.compose((dispatch: Dispatcher.Dispatch) => (options, handler) =>
      dispatch({ ...options, headers: { ...(options.headers as Record<string, string>), 'x-intercepted': 'yes' } }, handler),
    );
    const seen = (await (await request('http://backend.invalid/', { dispatcher: tagged })).body.json()) as Seen;
    assert.equal(seen.headers['x-intercepted'], 'yes');
  });

  it('holds the lease until the response ends', async () => {
    setUp([a.url]);
    const held = a.holdResponses();
    const response = await request('http://backend.invalid/', { dispatcher });
    const finish = await held;
    // Headers are in, the body is not finished: still in flight.
    assert.equal(response.statusCode, 200);
    assert.equal(monitor.serverState(`127.0.0.1:${a.port}`)?.inFlight, 1);
    finish();
    assert.equal(await response.body.text(), 'partial done');
    assert.equal(monitor.serverState(`127.0.0.1:${a.port}`)?.inFlight, 0);
  });

  it('tries another member when the connection is refused, for any method, and reports the failure', async () => {
    const closed = await refusedPort();
    monitor = loopbackMonitor();
    announceFirst(monitor, closed);
    announceLast(monitor, a.port);
    dispatcher = createDispatcher(monitor, [`http://127.0.0.1:${closed}`, a.url]);
    const response = await request('http://backend.invalid/create', { dispatcher, method: 'POST', body: 'once' });
    const seen = (await response.body.json()) as Seen;
    assert.deepEqual([seen.origin, seen.body], ['a', 'once']);
    assert.ok(failuresOf(closed) >= 1, 'the refusing server got a failure');
    assert.equal(failuresOf(a.port), 0);
  });

  it('resends an idempotent request reset before its answer on another member, and never a POST', async () => {
    // One failure would take a out of rotation (the default threshold): keep it in to try the POST there.
    setUp([a.url, b.url], {}, { failure: { threshold: 100 } });
    a.behaviour = 'reset';
    announceFirst(monitor, a.port);
    announceLast(monitor, b.port);
    const got = (await (await request('http://backend.invalid/read', { dispatcher })).body.json()) as Seen;
    assert.equal(got.origin, 'b');
    assert.equal(a.seen.filter((seen) => seen.method === 'GET').length >= 1, true);

    // Make sure the POST goes to a first: take b out of the pick by weight.
    announce(monitor, b.port, 0, 10);
    const postsBefore = b.seen.length;
    await assert.rejects(request('http://backend.invalid/write', { dispatcher, method: 'POST', body: 'x' }), (error: Error & { code?: string }) => {
      assert.match(String(error.code), /ECONNRESET|UND_ERR_SOCKET/);
      return true;
    });
    assert.equal(b.seen.length, postsBefore, 'the POST was not resent');
    assert.ok(failuresOf(a.port) >= 2);
  });

  it('never resends a streamed body', async () => {
    const closed = await refusedPort();
    monitor = loopbackMonitor();
    announceFirst(monitor, closed);
    dispatcher = createDispatcher(monitor, [`http://127.0.0.1:${closed}`, a.url]);
    // Only the refusing member can be picked first; then the body stream is gone.
    announce(monitor, a.port, 0, 10);
    await assert.rejects(request('http://backend.invalid/', { dispatcher, method: 'PUT', body: Readable.from(['streamed']) }), /ECONNREFUSED|NO_MEMBER|No backend/);
    assert.equal(a.seen.length, 0);
  });

  it('counts a 5xx answer as a failure unless failOn5xx is false', async () => {
    setUp([a.url]);
    a.behaviour = 'fail';
    const response = await request('http://backend.invalid/', { dispatcher });
    assert.equal(response.statusCode, 500);
    await response.body.dump();
    assert.equal(failuresOf(a.port), 1);
    await dispatcher.close();
    await monitor.close();

    setUp([a.url], { failOn5xx: false });
    await (await request('http://backend.invalid/', { dispatcher })).body.dump();
    assert.equal(failuresOf(a.port), 0);
  });

  it('drops hop-by-hop headers, and those the connection header names', async () => {
    setUp([a.url]);
    const response = await request('http://backend.invalid/', {
      dispatcher,
      method: 'POST',
      body: 'abc',
      headers: { connection: 'keep-alive, x-private', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', upgrade: 'h2c', 'x-private': '1', 'x-kept': '2' },
    });
    const seen = (await response.body.json()) as Seen;
    assert.equal(seen.headers['x-kept'], '2');
    assert.equal(seen.headers['x-private'], undefined);
    assert.equal(seen.headers['keep-alive'], undefined);
    assert.equal(seen.body, 'abc');
  });

  it('fails with NoMemberError (503) when nothing can be picked', async () => {
    monitor = loopbackMonitor();
    dispatcher = createDispatcher(monitor, [a.url]);
    await assert.rejects(request('http://backend.invalid/', { dispatcher }), (error: unknown) => {
      assert.ok(error instanceof NoMemberError);
      assert.equal(error.code, 'HM_NO_MEMBER');
      assert.equal(error.statusCode, 503);
      return true;
    });
    await assert.rejects(fetch('http://backend.invalid/', { dispatcher }), (error: Error) => error.cause instanceof NoMemberError);
  });

  it('takes any view with acquire(), not only the HeartMonitor', async () => {
    monitor = loopbackMonitor();
    announce(monitor, b.port);
    let acquired = 0;
    // What another view of the table offers: one acquire signature, leases of its own.
    const view: LeasingView = {
      acquire<M extends BackendMember>(members?: readonly M[]): Lease | MemberLease<M> | undefined {
        acquired++;
        return members === undefined ? monitor.acquire() : monitor.acquire(members);
      },
    };
    dispatcher = createDispatcher(view, [b.url]);
    const seen = (await (await request('http://backend.invalid/', { dispatcher })).body.json()) as Seen;
    assert.equal(seen.origin, 'b');
    assert.equal(acquired, 1);
  });

  it('balances over every live server when members is undefined', async () => {
    monitor = loopbackMonitor();
    announce(monitor, b.port);
    dispatcher = createDispatcher(monitor, undefined);
    const seen = (await (await request('http://backend.invalid/', { dispatcher })).body.json()) as Seen;
    assert.equal(seen.origin, 'b');
  });

  it('close() closes its pools and refuses later requests', async () => {
    setUp([a.url]);
    await (await request('http://backend.invalid/', { dispatcher })).body.dump();
    await dispatcher.close();
    await assert.rejects(request('http://backend.invalid/', { dispatcher }), /closed|destroyed/i);
  });

  it('destroy() fails the requests in flight and ends their leases', async () => {
    setUp([a.url]);
    const held = a.holdResponses();
    const response = await request('http://backend.invalid/', { dispatcher });
    await held;
    assert.equal(monitor.serverState(`127.0.0.1:${a.port}`)?.inFlight, 1);
    await dispatcher.destroy();
    await assert.rejects(response.body.text());
    assert.equal(monitor.serverState(`127.0.0.1:${a.port}`)?.inFlight, 0);
    assert.equal(failuresOf(a.port), 0, 'our own destroy is not the server failing');
    await assert.rejects(request('http://backend.invalid/', { dispatcher }), /destroyed|closed/i);
  });

  it('rejects bad arguments at construction', () => {
    monitor = loopbackMonitor();
    dispatcher = createDispatcher(monitor, []);
    assert.throws(() => createDispatcher({} as HeartMonitor, []), TypeError);
    assert.throws(() => createDispatcher(monitor, ['ftp://127.0.0.1:21']), /scheme/);
    assert.throws(() => createDispatcher(monitor, [a.url], { retries: -1 }), RangeError);
  });
});
