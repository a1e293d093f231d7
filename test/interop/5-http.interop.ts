/**
 * Interop case 5 — HTTP heartbeats (SPEC 1.3): the same POST bodies, from the same client
 * addresses, to httpd's `heartbeat` handler (mod_heartmonitor, `SetHandler heartbeat`) and
 * to `monitor.httpHandler()`. Valid input gets the same status, type and body and the same
 * hb.dat line; a body without busy or ready gets 400 from both (older httpd crashed
 * there; 2.4.71 does not); where httpd is lenient (no `v` needed, bad numbers read as 0
 * or wrapped, bodies cut at 1000 bytes or at a NUL) the test records what httpd answers
 * and stores, and what we answer instead.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeartMonitor } from '../../src/index.js';
import { byIp, readHb, type HbLine } from './hb-lines.js';
import { Httpd } from './httpd.js';
import { makeTempDir, removeTempDir } from './cleanup.js';
import { assertPrivateNetwork } from '../helpers/netns.js';
import { httpRequest, type HttpResult } from './origins.js';
import { waitFor } from '../helpers/wait.js';

const APACHE_PORT = 18501;
const OUR_PORT = 18502;
const PATH = '/heartbeat';
const HEARTBEAT_PORT = 27501;

/** What one request led to: a response, or a connection that died without one. */
type Outcome = { readonly kind: 'response'; readonly result: HttpResult } | { readonly kind: 'no response'; readonly error: string };

async function post(port: number, from: string, body: string, method = 'POST'): Promise<Outcome> {
  try {
    const result = await httpRequest(`http://127.0.0.1:${port}${PATH}`, { method, body: method === 'POST' ? body : undefined, localAddress: from });
    return { kind: 'response', result };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { kind: 'no response', error: code ?? (error instanceof Error ? error.message : String(error)) };
  }
}

/**
 * POST to httpd and read the line its handler wrote. The handler writes hb.dat before it
 * answers, but the heartmonitor watchdog rewrites the file every 5 s from its UDP table,
 * which drops HTTP-only servers (see the last test), and the two writers race: when a
 * rewrite wins, the line is missing, so post again (a rewrite comes only every 5 s).
 */
async function postToApache(path: string, from: string, body: string): Promise<{ outcome: Outcome; line: HbLine | undefined }> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await post(APACHE_PORT, from, body);
    const line = byIp(readHb(path).lines).get(from);
    if (line !== undefined || outcome.kind !== 'response' || outcome.result.status !== 200 || attempt === 3) return { outcome, line };
  }
}

function show(outcome: Outcome): string {
  if (outcome.kind === 'no response') return `no response (${outcome.error})`;
  const { status, headers, body } = outcome.result;
  return `${status} ${String(headers['content-type'])} ${JSON.stringify(body.length > 50 ? `${body.slice(0, 47)}...` : body)}`;
}

/** Valid bodies: both answer 200 text/plain "OK" and store the same line. */
const VALID = [
  { from: '127.0.0.21', body: 'v=1&ready=10&busy=2', line: { ready: 10, busy: 2, port: 80 } },
  { from: '127.0.0.22', body: 'v=1&ready=5&busy=0&port=8080', line: { ready: 5, busy: 0, port: 8080 } },
  { from: '127.0.0.23', body: 'V=1&READY=7&Busy=2&load=3', line: { ready: 7, busy: 2, port: 80 } },
];

describe('interop 5: HTTP heartbeats, httpd `SetHandler heartbeat` vs monitor.httpHandler()', () => {
  let httpd: Httpd | undefined;
  let monitor: HeartMonitor | undefined;
  let server: Server | undefined;
  let dir = '';
  let ourPath = '';
  let apachePath = '';

  before(async () => {
    assertPrivateNetwork();
    dir = makeTempDir('http');
    ourPath = join(dir, 'hb.dat');
    httpd = await Httpd.start({
      name: 'http-heartbeat',
      port: APACHE_PORT,
      modules: ['heartmonitor'],
      // httpd 2.4.71 answers 503 "Heartbeat monitoring not active" (AH10561) without HeartbeatListen.
      config: [`HeartbeatListen 239.0.0.1:${HEARTBEAT_PORT}`, 'HeartbeatMaxServers 0', 'HeartbeatStorage {{dir}}/data/hb.dat', `<Location "${PATH}">`, '  SetHandler heartbeat', '</Location>'].join('\n'),
    });
    apachePath = join(httpd.dir, 'data', 'hb.dat');
    monitor = new HeartMonitor({ maxServers: 0, storage: ourPath, flushInterval: 600_000 });
    const handler = monitor.httpHandler();
    server = createServer(handler);
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(OUR_PORT, '127.0.0.1', resolve));
  });

  after(async () => {
    await httpd?.stop();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await monitor?.close();
    removeTempDir(dir);
  });

  it('valid bodies: same status, Content-Type and body, and the same hb.dat line', async () => {
    const apacheLines = new Map<string, HbLine | undefined>();
    for (const { from, body } of VALID) {
      const { outcome: apache, line } = await postToApache(apachePath, from, body);
      apacheLines.set(from, line);
      const ours = await post(OUR_PORT, from, body);
      console.log(`  POST ${JSON.stringify(body)} from ${from}: httpd ${show(apache)} | ours ${show(ours)}`);
      assert.equal(apache.kind, 'response', `httpd: ${show(apache)}`);
      assert.equal(ours.kind, 'response', `ours: ${show(ours)}`);
      if (apache.kind !== 'response' || ours.kind !== 'response') return;
      assert.deepEqual(
        { status: ours.result.status, type: ours.result.headers['content-type'], body: ours.result.body },
        { status: apache.result.status, type: apache.result.headers['content-type'], body: apache.result.body },
      );
      assert.deepEqual({ status: apache.result.status, body: apache.result.body }, { status: 200, body: 'OK' });
    }
    await monitor?.store.flush();
    const ours = byIp(readHb(ourPath).lines);
    for (const { from, body, line } of VALID) {
      const a = apacheLines.get(from);
      const o = ours.get(from);
      assert.deepEqual(a && { ready: a.ready, busy: a.busy, port: a.port }, line, `httpd's line for ${JSON.stringify(body)}: ${a?.text}`);
      assert.deepEqual(o && { ready: o.ready, busy: o.busy, port: o.port }, line, `our line for ${JSON.stringify(body)}: ${o?.text}`);
    }
  });

  it('GET: both answer 405 (we add Allow: POST)', async () => {
    const apache = await post(APACHE_PORT, '127.0.0.30', '', 'GET');
    const ours = await post(OUR_PORT, '127.0.0.30', '', 'GET');
    console.log(`  GET: httpd ${show(apache)} | ours ${show(ours)}`);
    assert.ok(apache.kind === 'response' && apache.result.status === 405, show(apache));
    assert.ok(ours.kind === 'response' && ours.result.status === 405, show(ours));
    assert.equal(ours.result.headers.allow, 'POST');
  });

  it('a POST without busy or ready: both answer 400 (httpd 2.4.71 no longer crashes there)', async () => {
    for (const body of ['v=1&ready=5', 'v=1&busy=5', '']) {
      const apache = await post(APACHE_PORT, '127.0.0.27', body);
      const ours = await post(OUR_PORT, '127.0.0.27', body);
      console.log(`  POST ${JSON.stringify(body)}: httpd ${show(apache)} | ours ${show(ours)}`);
      // Older httpd called atoi(NULL) here and its child died of SIGSEGV (SPEC 1.3); 2.4.71
      // logs AH10563 "Missing required parameters" and answers 400 with its HTML error page.
      assert.ok(apache.kind === 'response' && apache.result.status === 400, `httpd: ${show(apache)}`);
      assert.ok(ours.kind === 'response' && ours.result.status === 400, `ours: ${show(ours)}`);
      assert.match(ours.result.body, /^Bad Request: (missing `(busy|ready)`|empty message)/, 'our answer names what is missing');
    }
    const log = httpd?.errorLog() ?? '';
    assert.equal((log.match(/AH10563: Missing required parameters/g) ?? []).length, 3, log);
    assert.doesNotMatch(log, /Segmentation fault/);
    assert.equal(byIp(readHb(apachePath).lines).has('127.0.0.27'), false);
    await monitor?.store.flush();
    assert.equal(byIp(readHb(ourPath).lines).has('127.0.0.27'), false);
  });

  it('lenient httpd, strict us: what each side does with bodies we refuse', async () => {
    // httpd answers 200 "OK" to each of these and stores the line below; we refuse with a reason.
    const cases = [
      { from: '127.0.0.24', body: 'v=1&ready=12x&busy=3', apache: { ready: 0, busy: 3, port: 80 }, ours: 400, what: 'AH10566 "Invalid ready value: 12x, using 0" (its UDP path stores 12, see case 3)' },
      { from: '127.0.0.25', body: 'ready=5&busy=1', apache: { ready: 5, busy: 1, port: 80 }, ours: 400, what: 'the handler does not require `v`' },
      { from: '127.0.0.26', body: 'v=1&ready=5&busy=1&port=http', apache: { ready: 5, busy: 1, port: 80 }, ours: 400, what: 'AH10564 "Invalid port value: http, using default 80"' },
      { from: '127.0.0.28', body: 'v=1&ready=-1&busy=3', apache: { ready: 4294967295, busy: 3, port: 80 }, ours: 400, what: '-1 stored and printed with %u' },
      { from: '127.0.0.29', body: `v=1&ready=6&busy=1&pad=${'x'.repeat(1200)}`, apache: { ready: 6, busy: 1, port: 80 }, ours: 413, what: 'httpd reads the first 1000 bytes of the body' },
      { from: '127.0.0.31', body: 'v=1&ready=3&busy=1\0&ready=70', apache: { ready: 3, busy: 1, port: 80 }, ours: 400, what: 'httpd stops at the NUL byte' },
    ];
    for (const { from, body, apache: stored, ours: status, what } of cases) {
      const { outcome: apache, line } = await postToApache(apachePath, from, body);
      const ours = await post(OUR_PORT, from, body);
      const shown = JSON.stringify(body.length > 40 ? `${body.slice(0, 37)}...` : body);
      console.log(`  POST ${shown}: httpd ${show(apache)}, stores ${line?.text ?? 'nothing'} (${what}) | ours ${show(ours)}`);
      assert.ok(apache.kind === 'response' && apache.result.status === 200 && apache.result.body === 'OK', `httpd: ${show(apache)}`);
      assert.deepEqual(line && { ready: line.ready, busy: line.busy, port: line.port }, stored, `httpd's line: ${line?.text}`);
      assert.ok(ours.kind === 'response' && ours.result.status === status, `ours: ${show(ours)}`);
      assert.match(ours.result.body, /^(Bad Request|Payload Too Large): ./, 'our answer gives the reason');
    }
    const log = httpd?.errorLog() ?? '';
    assert.match(log, /AH10566: Invalid ready value: 12x, using 0/);
    assert.match(log, /AH10564: Invalid port value: http, using default 80/);
    await monitor?.store.flush();
    const ours = byIp(readHb(ourPath).lines);
    for (const { from } of cases) assert.equal(ours.has(from), false, `we stored nothing for ${from}`);
  });

  it("httpd's watchdog rewrite drops servers that announced only over HTTP; ours keeps them", async () => {
    const before = readHb(apachePath);
    const rewritten = await waitFor("httpd's next periodic hb.dat rewrite", () => {
      const file = readHb(apachePath);
      return file.mtimeMs > before.mtimeMs ? file : undefined;
    }, { timeoutMs: 8000, intervalMs: 20, retryErrors: true });
    await monitor?.store.flush();
    const ours = byIp(readHb(ourPath).lines);
    console.log(`  httpd's hb.dat after its 5 s rewrite: ${rewritten.lines.length} lines (HTTP-only servers gone); ours: ${ours.size} lines`);
    // mod_heartmonitor rewrites the file from the servers it heard over UDP; the handler's
    // servers live only in the file, so they vanish within 5 s. Ours live in the table.
    for (const { from } of VALID) {
      assert.equal(byIp(rewritten.lines).has(from), false, `httpd kept ${from}: ${rewritten.text}`);
      assert.ok(ours.has(from), `we lost ${from}`);
    }
  });
});
