/**
 * Interop cases 3 and 4 — differential against mod_heartmonitor.
 *
 * 3. One heartbeat stream (many origins on 127.0.0.x, changing counts, malformed
 *    datagrams, origins going silent and expiring) reaches httpd's mod_heartmonitor (file
 *    storage) and our HeartMonitor (FileStore) at the same time, on one multicast group.
 *    At two checkpoints both files must hold the same (ip, ready, busy, port) lines with
 *    lastseen within 1 s — except where Apache is lenient and we are strict (SPEC 1.2):
 *    those origins are listed below with what each side does, and asserted one by one.
 * 4. readHeartbeatFile and HeartbeatFileReader read the hb.dat httpd wrote and pick with
 *    the weights httpd's lbmethod=heartbeat would use.
 */
import assert from 'node:assert/strict';
import { statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileStore, HeartbeatSender, HeartMonitor, parseHeartbeatFile, readHeartbeatFile, type MalformedHeartbeat } from '../../src/index.js';
import { apacheWeight } from './apache-model.js';
import { byIp, parseHbText, readHb, type HbLine } from './hb-lines.js';
import { Httpd } from './httpd.js';
import { makeTempDir, removeTempDir } from './cleanup.js';
import { assertPrivateNetwork } from '../helpers/netns.js';
import { HeartbeatOrigin } from './origins.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../helpers/wait.js';

const GROUP = '239.0.0.1';
const HEARTBEAT_PORT = 27301;
const HTTP_PORT = 18301;
const TICK_MS = 250; // every origin beats once a second, on its own quarter of it
const APACHE_WRITE_EVERY_MS = 5000; // HM_UPDATE_SEC
const SENDER_INTERVAL_MS = 1000; // the HeartbeatSenders' interval (their default, given explicitly below)

const ip = (n: number): string => `127.0.0.${n}`;
const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

/** Origins that beat all the time, with counts that change on every beat; 10–19 announce port 8080. */
const MAIN = range(10, 30);
/** Origins that go silent 2 s in: present at checkpoint 1 (lastseen ≈ 10+), expired (> 30 s) at the end. */
const EXPIRING = range(60, 4);
/** Origins that go silent 16 s in: stale (lastseen 10..30) but still listed at the end. */
const SILENT = range(40, 5);

/** Messages with parser quirks that Apache and we both accept, with the same result. */
const QUIRKS: { n: number; message: string; what: string }[] = [
  { n: 70, message: 'V=1&READY=7&Busy=2', what: 'keys are case-insensitive' },
  { n: 71, message: 'v=1&ready=1&busy=1&ready=9', what: 'a later duplicate wins' },
  { n: 72, message: 'v=1&ready=%33%31&busy=%30', what: '%XX escapes' },
  { n: 73, message: 'v&ready=3&busy=1', what: 'a piece without = has the value 1' },
  { n: 74, message: '&&v=1&&ready=4&busy=0&&', what: 'empty pieces are skipped' },
  { n: 75, message: 'v=1&ready=3&busy=1&load=0.5&flag', what: 'unknown fields are ignored' },
  { n: 76, message: 'v=2&ready=5&busy=5', what: 'any version is accepted' },
  { n: 77, message: 'v=1&ready=2&busy=2&port=%38%30%38%31', what: 'an escaped port' },
];

/** Messages both sides drop (sent between the valid beats of main origins, and alone from 127.0.0.80). */
const MALFORMED = ['v=1&ready=5', 'ready=5&busy=1', 'v=1&busy=1', '', 'hello', 'v=1&ready=5&bus=1'];
const ONLY_MALFORMED = 80;

/**
 * Where Apache is lenient and we are strict. Apache stores what atoi() makes of the text
 * (and prints it with %u); we drop the datagram as malformed, with a reason.
 */
const LENIENT: { n: number; message: string; apache: { ready: number; busy: number; port: number }; ours: RegExp; what: string }[] = [
  { n: 90, message: 'v=1&ready=12x&busy=3', apache: { ready: 12, busy: 3, port: 80 }, ours: /`ready`/, what: 'atoi("12x") = 12' },
  { n: 91, message: 'v=1&ready=-1&busy=0', apache: { ready: 4294967295, busy: 0, port: 80 }, ours: /`ready`/, what: 'atoi("-1") printed with %u' },
  { n: 92, message: 'v=1&ready=abc&busy=2', apache: { ready: 0, busy: 2, port: 80 }, ours: /`ready`/, what: 'atoi("abc") = 0' },
  { n: 93, message: 'v=1&ready=5&busy=1&port=http', apache: { ready: 5, busy: 1, port: 0 }, ours: /`port`/, what: 'atoi("http") = 0 as the port' },
  { n: 94, message: `v=1&ready=6&busy=1&pad=${'x'.repeat(1200)}`, apache: { ready: 6, busy: 1, port: 80 }, ours: /1000/, what: 'a 1223-byte datagram: Apache reads its first 1000 bytes' },
  { n: 95, message: 'v=1&ready=3&busy=1\0&ready=70', apache: { ready: 3, busy: 1, port: 80 }, ours: /NUL/, what: 'Apache stops at a NUL byte' },
];

/** Origins announced by our HeartbeatSender (the second with `port`): httpd must read them as we do. */
const NODE_SENDERS = [
  { n: 100, port: undefined },
  { n: 101, port: 8443 },
] as const;

/** Announces port 8080, then 9090 after checkpoint 1: Apache keeps the first port of an IP. */
const PORT_CHANGE = 96;

interface Checkpoint {
  readonly apache: { lines: HbLine[]; mtimeMs: number; text: string };
  readonly ours: { lines: HbLine[]; mtimeMs: number; text: string };
}

describe('interop 3: differential against mod_heartmonitor (same stream, both files)', () => {
  let httpd: Httpd | undefined;
  let monitor: HeartMonitor | undefined;
  let dir = '';
  let ourPath = '';
  let apachePath = '';
  const origins = new Map<number, HeartbeatOrigin>();
  const senders: HeartbeatSender[] = [];
  const malformed: MalformedHeartbeat[] = [];
  let checkpoint1: Checkpoint | undefined;
  let final: Checkpoint | undefined;

  let tick = 0;
  let paused = true;
  let streamStart = 0;
  let portChanged = false;
  let streamTimer: NodeJS.Timeout | undefined;

  const mainCounts = (n: number, beat: number): { ready: number; busy: number } => ({ ready: (n * 7 + beat * 3) % 50, busy: (n + beat) % 5 });

  /** One tick of the stream: each origin beats when the tick is on its quarter second. */
  const sendTick = async (): Promise<void> => {
    if (paused) return;
    const elapsed = Date.now() - streamStart;
    const beat = Math.floor(tick / 4);
    const due = (n: number): boolean => n % 4 === tick % 4;
    const sends: Promise<void>[] = [];
    const send = (n: number, message: string): void => {
      const origin = origins.get(n);
      if (origin !== undefined) sends.push(origin.send(message));
    };
    for (const n of MAIN) {
      if (!due(n)) continue;
      const { ready, busy } = mainCounts(n, beat);
      send(n, `v=1&ready=${ready}&busy=${busy}${n < 20 ? '&port=8080' : ''}`);
    }
    for (const n of EXPIRING) if (due(n) && elapsed < 2000) send(n, `v=1&ready=${n}&busy=1`);
    for (const n of SILENT) if (due(n) && elapsed < 16_000) send(n, `v=1&ready=${n % 7}&busy=${beat % 3}`);
    for (const { n, message } of [...QUIRKS, ...LENIENT]) if (due(n)) send(n, message);
    if (due(PORT_CHANGE)) send(PORT_CHANGE, `v=1&ready=4&busy=4&port=${portChanged ? 9090 : 8080}`);
    // One malformed datagram per tick from a main origin (it must not change that origin's line)…
    send(MAIN[tick % MAIN.length] ?? 10, MALFORMED[tick % MALFORMED.length] ?? '');
    // …and an origin that never sends anything valid.
    if (due(ONLY_MALFORMED)) send(ONLY_MALFORMED, MALFORMED[beat % MALFORMED.length] ?? '');
    tick++;
    await Promise.all(sends);
  };

  /**
   * Stop the stream, let every HeartbeatSender beat once more, wait for httpd's next write of
   * hb.dat, flush ours at once, read both.
   */
  const takeCheckpoint = async (): Promise<Checkpoint> => {
    paused = true;
    // The senders keep beating once a second through the pause, with counts frozen at the
    // last tick. Until each has sent those counts once, a beat could land between httpd's
    // write and our flush and differ in one file only (a CI run saw exactly that).
    await sleep(SENDER_INTERVAL_MS + 100);
    const pausedAt = Date.now();
    await waitFor(
      "httpd's next hb.dat write",
      () => {
        try {
          return statSync(apachePath).mtimeMs > pausedAt;
        } catch {
          return false;
        }
      },
      { timeoutMs: APACHE_WRITE_EVERY_MS + 3000, intervalMs: 10 },
    );
    await monitor?.store.flush();
    const apache = readHb(apachePath);
    const ours = readHb(ourPath);
    return { apache, ours };
  };

  before(async () => {
    assertPrivateNetwork();
    dir = makeTempDir('diff');
    ourPath = join(dir, 'ours', 'hb.dat');
    httpd = await Httpd.start({
      name: 'heartmonitor',
      port: HTTP_PORT,
      modules: ['heartmonitor'],
      logLevel: 'warn heartmonitor:debug',
      config: [`HeartbeatListen ${GROUP}:${HEARTBEAT_PORT}`, 'HeartbeatMaxServers 0', 'HeartbeatStorage {{dir}}/data/hb.dat'].join('\n'),
    });
    apachePath = join(httpd.dir, 'data', 'hb.dat');
    // Flushed explicitly at the checkpoints (and the timer would not fire before them anyway).
    monitor = new HeartMonitor({ listen: `${GROUP}:${HEARTBEAT_PORT}`, interface: '127.0.0.1', maxServers: 0, storage: ourPath, flushInterval: 600_000 });
    monitor.on('malformed', (info) => malformed.push(info));
    await monitor.listen();
    await waitFor("mod_heartmonitor's listener", () => httpd?.errorLog().includes('_heartmonitor_ listener started'), { timeoutMs: 5000, retryErrors: true });
    for (const n of [...MAIN, ...EXPIRING, ...SILENT, ...QUIRKS.map((q) => q.n), ...LENIENT.map((l) => l.n), PORT_CHANGE, ONLY_MALFORMED]) {
      origins.set(n, await HeartbeatOrigin.open(ip(n), { host: GROUP, port: HEARTBEAT_PORT }));
    }
    for (const { n, port } of NODE_SENDERS) {
      // Counts follow the stream's ticks, so they hold still while the stream is paused.
      const sender = new HeartbeatSender({
        address: `${GROUP}:${HEARTBEAT_PORT}`,
        interface: '127.0.0.1',
        localAddress: ip(n),
        port,
        interval: SENDER_INTERVAL_MS,
        status: () => ({ ready: (n + Math.floor(tick / 4)) % 40, busy: Math.floor(tick / 4) % 3 }),
      });
      await sender.start();
      senders.push(sender);
    }
    streamStart = Date.now();
    paused = false;
    streamTimer = setInterval(() => void sendTick(), TICK_MS);
  });

  after(async () => {
    clearInterval(streamTimer);
    await Promise.all(senders.map((sender) => sender.stop()));
    await httpd?.stop();
    await monitor?.close();
    for (const origin of origins.values()) origin.close();
    removeTempDir(dir);
  });

  /** Compare the two files of a checkpoint; lenient origins are checked separately. */
  const compare = (point: Checkpoint, label: string): void => {
    const lenient = new Set(LENIENT.map(({ n }) => ip(n)));
    const key = (line: HbLine): string => `${line.ip} ready=${line.ready} busy=${line.busy} port=${line.port}`;
    const apacheKeys = point.apache.lines
      .filter((line) => !lenient.has(line.ip) && line.ip !== ip(PORT_CHANGE))
      .map(key)
      .sort();
    const ourKeys = point.ours.lines
      .filter((line) => line.ip !== ip(PORT_CHANGE))
      .map(key)
      .sort();
    const onlyApache = apacheKeys.filter((line) => !ourKeys.includes(line));
    const onlyOurs = ourKeys.filter((line) => !apacheKeys.includes(line));
    const report = [
      `${label}: ${apacheKeys.length} comparable lines from httpd, ${ourKeys.length} from us`,
      `only in httpd's hb.dat:\n  ${onlyApache.join('\n  ') || '(none)'}`,
      `only in ours:\n  ${onlyOurs.join('\n  ') || '(none)'}`,
      `--- httpd's file ---\n${point.apache.text}--- our file ---\n${point.ours.text}`,
    ].join('\n');
    assert.deepEqual(onlyApache, [], report);
    assert.deepEqual(onlyOurs, [], report);
    // lastseen: both files were written within a few ms of each other.
    const theirs = byIp(point.apache.lines);
    const skew = (point.ours.mtimeMs - point.apache.mtimeMs) / 1000;
    for (const line of point.ours.lines) {
      const other = theirs.get(line.ip);
      if (other === undefined) continue;
      assert.ok(Math.abs(line.lastseen - other.lastseen) <= 1, `${label}: lastseen of ${line.ip}: ours ${line.lastseen}, httpd's ${other.lastseen} (files written ${skew.toFixed(3)} s apart)`);
    }
    console.log(`  ${label}: ${ourKeys.length} identical (ip, ready, busy, port) lines; files written ${(skew * 1000).toFixed(0)} ms apart`);
  };

  it('checkpoint 1 (12 s in): both files hold the same lines; origins silent for 10 s are still listed', async () => {
    await sleep(Math.max(0, streamStart + 12_000 - Date.now()));
    try {
      checkpoint1 = await takeCheckpoint();
    } finally {
      portChanged = true;
      paused = false;
    }
    compare(checkpoint1, 'checkpoint 1');
    const ours = byIp(checkpoint1.ours.lines);
    for (const n of [...MAIN, ...EXPIRING, ...SILENT, ...QUIRKS.map((q) => q.n)]) assert.ok(ours.has(ip(n)), `${ip(n)} missing from both files`);
    for (const n of EXPIRING) assert.ok((ours.get(ip(n))?.lastseen ?? 0) >= 9, `${ip(n)} went silent 2 s in`);
    assert.equal(ours.has(ip(ONLY_MALFORMED)), false, 'an origin that only sends malformed datagrams is in neither file');
    assert.equal(byIp(checkpoint1.apache.lines).has(ip(ONLY_MALFORMED)), false, "…nor in httpd's");
  });

  it('final checkpoint (35 s in): same lines; silent origins stale but listed, expired ones gone from both', async () => {
    await sleep(Math.max(0, streamStart + 35_000 - Date.now()));
    final = await takeCheckpoint();
    compare(final, 'final checkpoint');
    const ours = byIp(final.ours.lines);
    const theirs = byIp(final.apache.lines);
    for (const n of EXPIRING) {
      assert.equal(ours.has(ip(n)), false, `${ip(n)} (silent > 30 s) is still in our file`);
      assert.equal(theirs.has(ip(n)), false, `${ip(n)} (silent > 30 s) is still in httpd's file`);
    }
    for (const n of SILENT) {
      const line = ours.get(ip(n));
      assert.ok(line !== undefined && line.lastseen >= 10 && line.lastseen <= 30, `${ip(n)} should be listed as stale: ${line?.text}`);
    }
    for (const n of MAIN) {
      const line = ours.get(ip(n));
      assert.equal(line?.port, n < 20 ? 8080 : 80, `${ip(n)} announced ${n < 20 ? 'port 8080' : 'no port'}`);
    }
    for (const { n, port } of NODE_SENDERS) {
      const line = theirs.get(ip(n));
      assert.ok(line !== undefined && line.lastseen <= 1, `httpd's line for our HeartbeatSender at ${ip(n)}: ${line?.text}`);
      assert.equal(line.port, port ?? 80);
    }
  });

  it('lenient Apache, strict us: each difference, as each side behaves', () => {
    assert.ok(final !== undefined, 'needs the final checkpoint');
    const theirs = byIp(final.apache.lines);
    const ours = byIp(final.ours.lines);
    for (const { n, message, apache, ours: reason, what } of LENIENT) {
      const line = theirs.get(ip(n));
      const shown = JSON.stringify(message.length > 60 ? `${message.slice(0, 57)}...` : message);
      assert.deepEqual(
        line && { ready: line.ready, busy: line.busy, port: line.port },
        apache,
        `httpd should store ${JSON.stringify(apache)} for ${shown} (${what}); its line: ${line?.text}`,
      );
      assert.equal(ours.has(ip(n)), false, `we should drop ${shown} (${what}) but wrote ${ours.get(ip(n))?.text}`);
      const dropped = malformed.find((info) => info.from.address === ip(n));
      assert.ok(dropped !== undefined, `no malformed event for ${shown}`);
      assert.match(dropped.reason, reason);
      console.log(`  ${shown}: httpd stores ready=${apache.ready} busy=${apache.busy} port=${apache.port} (${what}); we drop it: ${dropped.reason}`);
    }
  });

  it('port changes: Apache keeps the first port an IP announced, we keep the latest', () => {
    assert.ok(final !== undefined, 'needs the final checkpoint');
    const apache = byIp(final.apache.lines).get(ip(PORT_CHANGE));
    const ours = byIp(final.ours.lines).get(ip(PORT_CHANGE));
    assert.equal(apache?.port, 8080, `httpd: ${apache?.text}`);
    assert.equal(ours?.port, 9090, `ours: ${ours?.text}`);
    assert.deepEqual([apache.ready, apache.busy], [ours.ready, ours.busy]);
    console.log(`  port 8080 → 9090: httpd writes ${apache.text}; we write ${ours.text}`);
  });

  it('both sides dropped the same malformed datagrams', () => {
    const fromMain = malformed.filter((info) => MAIN.some((n) => ip(n) === info.from.address));
    assert.ok(fromMain.length >= 50, `only ${fromMain.length} malformed datagrams from main origins were reported`);
    const apacheDrops = (httpd?.errorLog().match(/malformed message from/g) ?? []).length;
    // Apache logs every dropped datagram; we emit one event per drop, plus the strict-only drops.
    const strictOnly = malformed.filter((info) => LENIENT.some(({ n }) => ip(n) === info.from.address)).length;
    console.log(`  malformed: httpd logged ${apacheDrops}, we reported ${malformed.length} (${strictOnly} of them strict-only)`);
    assert.equal(malformed.length - strictOnly, apacheDrops, 'drops that both sides see as malformed');
  });

  describe('interop 4: our readers on the hb.dat httpd wrote', () => {
    let copy = '';

    before(() => {
      assert.ok(final !== undefined, 'needs the final checkpoint of case 3');
      copy = join(dir, 'apache-hb.dat');
      writeFileSync(copy, final.apache.text, 'latin1');
      const seconds = final.apache.mtimeMs / 1000;
      utimesSync(copy, seconds, seconds);
    });

    it('readHeartbeatFile returns every line it accepts, ages by the file mtime, and says which it refuses', async () => {
      assert.ok(final !== undefined);
      const servers = await readHeartbeatFile(copy);
      const got = new Map(servers.map((server) => [server.ip, server]));
      const { skipped } = parseHeartbeatFile(final.apache.text, { writtenAt: final.apache.mtimeMs });
      const refused = new Set(skipped.map((line) => line.text.split(' ')[0]));
      for (const line of final.apache.lines) {
        const server = got.get(line.ip);
        if (refused.has(line.ip)) {
          assert.equal(server, undefined, line.text);
          continue;
        }
        assert.ok(server !== undefined, `readHeartbeatFile lost ${line.text}`);
        assert.deepEqual({ ready: server.ready, busy: server.busy, port: server.port }, { ready: line.ready, busy: line.busy, port: line.port }, line.text);
        const expectedLastSeen = Math.min(statSync(copy).mtimeMs, Date.now()) - line.lastseen * 1000;
        assert.ok(Math.abs(server.lastSeen - expectedLastSeen) < 1, `${line.text}: lastSeen ${server.lastSeen}, expected ${expectedLastSeen}`);
      }
      // Strict here too: numbers Apache's atoi produced that are not valid counts or ports.
      const refusedLines = final.apache.lines.filter((line) => refused.has(line.ip)).map((line) => line.text);
      const expectedRefused = final.apache.lines.filter((line) => line.ready > 2 ** 31 - 1 || line.busy > 2 ** 31 - 1 || line.port === 0).map((line) => line.text);
      assert.deepEqual(refusedLines.sort(), expectedRefused.sort());
      for (const line of skipped) console.log(`  refused ${line.text}: ${line.reason}`);
    });

    it('HeartbeatFileReader picks with the weights lbmethod=heartbeat gives these lines', () => {
      assert.ok(final !== undefined);
      const apacheFile = final.apache;
      const lines = parseHbText(apacheFile.text, 'httpd hb.dat');
      const members = lines.map((line) => `http://${line.ip}:80`);
      // Apache: ready (or ready/4 when busy = 0) for lastseen < 10, nothing otherwise.
      const apacheWeights = lines.map((line) => (line.lastseen < 10 ? apacheWeight(line.ready, line.busy) : 0));
      // Lines our reader refuses (see above) weigh nothing for us; Apache would use atoi's value.
      const { skipped } = parseHeartbeatFile(apacheFile.text, { writtenAt: apacheFile.mtimeMs });
      const refused = new Set(skipped.map((line) => line.text.split(' ')[0]));
      const expected = lines.map((line, i) => (refused.has(line.ip) ? 0 : (apacheWeights[i] ?? 0)));
      const sum = expected.reduce((a, b) => a + b, 0);
      assert.ok(sum > 0);

      // Evaluate at the moment httpd wrote the file (Apache never ages lines; we age them by
      // the mtime, which is then zero), stepping the random source evenly over [0, 1):
      // member i must then be chosen exactly weight_i × (picks / sum) times.
      const perUnit = 20;
      const picks = sum * perUnit;
      let k = 0;
      const reader = FileStore.open(copy, { clock: { now: () => apacheFile.mtimeMs }, random: () => (k++ + 0.5) / picks });
      const counts = new Map<string, number>();
      for (let i = 0; i < picks; i++) {
        const member = reader.pickBackend(members);
        assert.ok(member !== undefined);
        counts.set(member, (counts.get(member) ?? 0) + 1);
      }
      const mismatches = members
        .map((member, i) => ({ member, line: lines[i]?.text, expected: (expected[i] ?? 0) * perUnit, seen: counts.get(member) ?? 0 }))
        .filter((row) => row.seen !== row.expected);
      assert.deepEqual(mismatches, [], `picks per member differ from weight × ${perUnit}`);
      const fresh = lines.filter((line) => line.lastseen < 10).length;
      console.log(`  ${picks} picks over ${members.length} members (${fresh} fresh, weight sum ${sum}): every count = weight × ${perUnit}`);
      assert.deepEqual(
        reader.servers().map((server) => server.ip).sort(),
        lines.filter((line) => !refused.has(line.ip)).map((line) => line.ip).sort(),
        'the reader sees the same servers as readHeartbeatFile',
      );
    });
  });
});
