/**
 * The hb.dat format (SPEC 1.6): our lines byte-for-byte, and reading Apache's file.
 *
 * test/fixtures/apache-hb.dat was written by a real httpd 2.4.71 (Debian apache2-bin) with
 * test/fixtures/apache-hb.httpd.conf, inside a private network namespace: 127.0.0.1 is its
 * own mod_heartbeat (multicast), 127.0.0.2-4 are HTTP heartbeats POSTed to its `heartbeat`
 * handler from those addresses (one with port=8080); the file was copied unchanged.
 * test/fixtures/edge-cases-hb.dat is hand-written: a comment,
 * a line without a space, a blank line, missing fields, an upper-case IPv6 address,
 * mixed-case and duplicate keys, an escaped extra field, a CRLF line ending, a lenient
 * `atoi` number, a non-IP host and a last line without a newline.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  formatHeartbeatFile,
  formatHeartbeatLine,
  heartbeatWeight,
  parseHeartbeatFile,
  readHeartbeatFile,
  StoreError,
  type ServerStatus,
} from '../../src/index.js';
import { tempDir } from './helpers.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const NOW = 1_700_000_000_000;

describe('formatHeartbeatLine', () => {
  it('writes the line a real httpd wrote, byte for byte', () => {
    const line = formatHeartbeatLine({ ip: '127.0.0.1', port: 80, ready: 75, busy: 0, lastSeen: NOW - 1500 }, NOW);
    assert.equal(line, '127.0.0.1 &ready=75&busy=0&lastseen=1&port=80\n');
    assert.deepEqual(Buffer.from(line), Buffer.from('127.0.0.1 &ready=75&busy=0&lastseen=1&port=80\n', 'ascii'));
  });

  it('counts whole seconds since the last heartbeat and never goes negative', () => {
    const at = (ageMs: number): string => formatHeartbeatLine({ ip: '10.0.0.1', port: 8080, ready: 1, busy: 2, lastSeen: NOW - ageMs }, NOW);
    assert.equal(at(0), '10.0.0.1 &ready=1&busy=2&lastseen=0&port=8080\n');
    assert.equal(at(999), '10.0.0.1 &ready=1&busy=2&lastseen=0&port=8080\n');
    assert.equal(at(29_999), '10.0.0.1 &ready=1&busy=2&lastseen=29&port=8080\n');
    assert.equal(at(-5000), '10.0.0.1 &ready=1&busy=2&lastseen=0&port=8080\n');
  });

  it('writes IPv6 addresses as they are and one line per server', () => {
    const servers: ServerStatus[] = [
      { ip: '::1', port: 80, ready: 3, busy: 4, lastSeen: NOW - 2000 },
      { ip: '10.0.0.9', port: 81, ready: 0, busy: 0, lastSeen: NOW },
    ];
    assert.equal(formatHeartbeatFile(servers, NOW), '::1 &ready=3&busy=4&lastseen=2&port=80\n10.0.0.9 &ready=0&busy=0&lastseen=0&port=81\n');
    assert.equal(formatHeartbeatFile([], NOW), '');
  });
});

describe('parseHeartbeatFile', () => {
  it('round-trips the file a real httpd wrote, byte for byte', () => {
    const apache = readFileSync(join(fixtures, 'apache-hb.dat'));
    const parsed = parseHeartbeatFile(apache, { writtenAt: NOW });
    assert.deepEqual(parsed.skipped, []);
    assert.deepEqual(Buffer.from(formatHeartbeatFile(parsed.servers, NOW)), apache);
  });

  it('reads back what we write', () => {
    const servers: ServerStatus[] = [
      { ip: '10.0.0.1', port: 8080, ready: 5, busy: 1, lastSeen: NOW - 3000 },
      { ip: 'fe80::1', port: 80, ready: 70, busy: 0, lastSeen: NOW },
    ];
    const parsed = parseHeartbeatFile(formatHeartbeatFile(servers, NOW), { writtenAt: NOW });
    assert.deepEqual(parsed, { servers, skipped: [] });
  });

  it('handles every edge case of the hand-written fixture', () => {
    const parsed = parseHeartbeatFile(readFileSync(join(fixtures, 'edge-cases-hb.dat')), { writtenAt: NOW });
    const byIp = new Map(parsed.servers.map((s) => [s.ip, s]));
    // A plain line with every field.
    assert.deepEqual(byIp.get('10.0.0.1'), { ip: '10.0.0.1', port: 8080, ready: 5, busy: 1, lastSeen: NOW - 2000 });
    // Missing ready and lastseen read as 0 (Apache's zeroed record), missing port as 80.
    assert.deepEqual(byIp.get('10.0.0.2'), { ip: '10.0.0.2', port: 80, ready: 0, busy: 3, lastSeen: NOW });
    // IPv6, canonicalised to the form datagram sources have.
    assert.deepEqual(byIp.get('2001:db8::1'), { ip: '2001:db8::1', port: 443, ready: 7, busy: 1, lastSeen: NOW });
    // Keys are case-insensitive, the later duplicate wins, extra fields are unescaped, CRLF tolerated.
    assert.deepEqual(byIp.get('10.0.0.3'), { ip: '10.0.0.3', port: 80, ready: 6, busy: 2, lastSeen: NOW - 1000, fields: { weight: 'Ab' } });
    // The last line has no newline and is read whole: ready=70, not Apache's 7.
    assert.equal(byIp.get('10.0.0.5')?.ready, 70);
    assert.equal(parsed.servers.length, 5);
    assert.deepEqual(
      parsed.skipped.map(({ line, text }) => [line, text]),
      [
        [3, 'no-space-on-this-line'],
        [8, '10.0.0.4 &ready=12x&busy=1'],
        [9, 'not-an-ip &ready=1&busy=1'],
      ],
    );
    assert.match(parsed.skipped[0]?.reason ?? '', /no space/);
    assert.match(parsed.skipped[1]?.reason ?? '', /`ready` must be a decimal integer/);
    assert.match(parsed.skipped[2]?.reason ?? '', /not an IP address/);
  });

  it('keeps one entry per IP and port, the later line winning', () => {
    const text = '10.0.0.1 &ready=1&busy=1\n10.0.0.1 &ready=2&busy=1\n10.0.0.1 &ready=3&busy=1&port=81\n';
    const parsed = parseHeartbeatFile(text, { writtenAt: NOW });
    assert.deepEqual(
      parsed.servers.map((s) => [s.port, s.ready]),
      [
        [80, 2],
        [81, 3],
      ],
    );
  });

  it('treats an empty file and a file of comments as no servers', () => {
    assert.deepEqual(parseHeartbeatFile('', { writtenAt: NOW }), { servers: [], skipped: [] });
    assert.deepEqual(parseHeartbeatFile('# a\n#b\n', { writtenAt: NOW }), { servers: [], skipped: [] });
  });
});

describe('readHeartbeatFile', () => {
  it('reads an hb.dat as Apache writes it and weighs its servers as lbmethod=heartbeat would', async () => {
    const path = join(fixtures, 'apache-hb.dat');
    const servers = await readHeartbeatFile(path);
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    assert.equal(servers.length, lines.length);
    for (const [i, line] of lines.entries()) {
      const [, ip, ready, busy, lastseen, port] = /^(\S+) &ready=(\d+)&busy=(\d+)&lastseen=(\d+)&port=(\d+)$/.exec(line) ?? [];
      const got = servers[i];
      assert.ok(got !== undefined);
      assert.deepEqual([got.ip, got.ready, got.busy, got.port], [ip, Number(ready), Number(busy), Number(port)]);
      assert.equal(got.fields, undefined);
      // Apache's weight: ready, or ready / 4 while busy is 0.
      assert.equal(heartbeatWeight(got), Number(busy) === 0 ? Math.floor(Number(ready) / 4) : Number(ready));
      assert.ok(Number(lastseen) >= 0);
    }
  });

  it("ages entries by the file's mtime as well as by lastseen", async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'hb.dat');
      writeFileSync(path, '10.0.0.1 &ready=5&busy=1&lastseen=5&port=80\n');
      const mtime = new Date(Date.now() - 20_000);
      utimesSync(path, mtime, mtime);
      const [server] = await readHeartbeatFile(path);
      // 20 s of file age plus 5 s of lastseen: Apache would call this server 5 s old.
      assert.equal(server?.lastSeen, Math.floor(statSync(path).mtimeMs) - 5000);
      assert.ok(Date.now() - (server?.lastSeen ?? 0) >= 25_000);
    } finally {
      remove();
    }
  });

  it('does not let a future mtime make servers younger than now', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'hb.dat');
      writeFileSync(path, '10.0.0.1 &ready=5&busy=1&lastseen=0&port=80\n');
      const future = new Date(Date.now() + 3_600_000);
      utimesSync(path, future, future);
      const [server] = await readHeartbeatFile(path);
      assert.ok((server?.lastSeen ?? Infinity) <= Date.now());
    } finally {
      remove();
    }
  });

  it('rejects with a StoreError naming the path and the cause', async () => {
    const { dir, remove } = tempDir();
    try {
      const path = join(dir, 'missing', 'hb.dat');
      await assert.rejects(readHeartbeatFile(path), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.equal(error.code, 'HM_STORE_ERROR');
        assert.equal(error.path, path);
        assert.match(error.message, /ENOENT/);
        assert.ok(error.message.includes(path));
        return true;
      });
    } finally {
      remove();
    }
  });
});
