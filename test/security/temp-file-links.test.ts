// Issue 12, item 4: FileStore must never change the mode of whatever its temp path points
// to. An attacker with write access to the directory swaps a symlink in for the temp file
// between the write and the chmod; a chmod by path would then make the link's target 0444.
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileStore } from '../../src/index.js';

describe('FileStore temp files and links', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hm-links-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a symlink swapped in for the temp file does not get its target chmod-ed', async () => {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'secret\n');
    chmodSync(victim, 0o600);
    const path = join(dir, 'hb.dat');
    const store = new FileStore({ path, clock: { now: () => 1_700_000_000_000 } });
    // Enough servers that the write takes several turns of the event loop.
    for (let i = 0; i < 5000; i++) store.put({ ip: `10.0.${i >> 8}.${i & 255}`, port: 80, ready: 1, busy: 0, lastSeen: 1_700_000_000_000 });
    let swapped = 0;
    // The attacker: as soon as a temp file appears, put a link to the victim in its place.
    const watcher = watch(dir, (_event, name) => {
      if (typeof name !== 'string' || !name.startsWith('hb.dat.tmp.')) return;
      const temp = join(dir, name);
      try {
        if (!lstatSync(temp).isFile()) return;
        const link = join(dir, `link-${swapped}`);
        symlinkSync(victim, link);
        renameSync(link, temp);
        swapped++;
      } catch {
        // the temp file was already renamed away: too late for this round
      }
    });
    try {
      for (let round = 0; round < 20; round++) await store.flush().catch(() => undefined);
    } finally {
      watcher.close();
    }
    assert.ok(swapped > 0, 'the attack ran at least once');
    assert.equal(statSync(victim).mode & 0o777, 0o600, `the victim kept its mode (swapped ${swapped} times)`);
  });

  it('still gives hb.dat mode 0444 (umask or not) and leaves no temp file behind', async () => {
    const path = join(dir, 'hb2.dat');
    const store = new FileStore({ path });
    store.put({ ip: '10.0.0.1', port: 80, ready: 1, busy: 0, lastSeen: Date.now() });
    await store.flush();
    assert.equal(statSync(path).mode & 0o777, 0o444);
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.startsWith('hb2.dat.tmp.')),
      [],
    );
  });
});
