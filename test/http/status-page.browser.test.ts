/**
 * The status page as a person sees it, in real headless Chromium (Debian's `chromium`),
 * driven by playwright-core. Never lets Playwright fetch a browser of its own.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { HeartMonitor } from '../../src/index.js';
import { ManualClock, beat } from '../balancer/support.js';
import { seededRandom } from '../helpers/random.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = new URL('../../docs/status-page.png', import.meta.url);
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium)`;

describe('status page in headless Chromium', { skip }, () => {
  it('shows every server with its state, and refreshes itself', async (t) => {
    const clock = new ManualClock();
    const monitor = new HeartMonitor({
      clock,
      random: seededRandom(5),
      inFlightCorrection: true,
      slowStart: { window: 30_000 },
      failure: { retryAfter: 60_000 },
    });
    for (let step = 0; step < 6; step++) {
      for (const [ip, ready] of [
        ['10.0.0.1', 40],
        ['10.0.0.2', 25],
        ['10.0.0.3', 30],
        ['10.0.0.4', 20],
      ] as const) beat(monitor, ip, ready, 10);
      clock.advance(5000);
    }
    beat(monitor, '10.0.0.5', 30, 2); // just joined: warming
    beat(monitor, '10.0.0.1', 40, 10);
    for (let i = 0; i < 200; i++) monitor.pickBackend();
    const leases = [monitor.acquire(['10.0.0.1:80']), monitor.acquire(['10.0.0.1:80']), monitor.acquire(['10.0.0.3:80'])];
    monitor.markFailed('10.0.0.4');
    monitor.drain('10.0.0.3');
    clock.advance(1200);

    // Two views of one monitor: a slow-refreshing page to read at leisure, a fast one to watch reload.
    const steady = monitor.statusHandler({ refreshSeconds: 600 });
    const live = monitor.statusHandler({ refreshSeconds: 1 });
    const server = createServer((request, response) => (request.url?.startsWith('/live') === true ? live : steady)(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const profile = mkdtempSync(join(tmpdir(), 'heartmonitor-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1100, height: 420 },
    });
    t.after(async () => {
      await context.close();
      await new Promise((resolve) => server.close(resolve));
      await monitor.close();
      for (const lease of leases) lease?.release();
      rmSync(profile, { recursive: true, force: true });
    });

    const page = await context.newPage();
    await page.goto(url);
    assert.equal(await page.title(), 'heartmonitor');
    const rows: string[][] = [];
    for (const row of await page.locator('#servers tbody tr').all()) rows.push((await row.locator('td').allInnerTexts()).map((text) => text.trim()));
    assert.deepEqual(
      rows.map((cells) => [cells[0], cells[1]]),
      [
        ['10.0.0.1', 'active'],
        ['10.0.0.2', 'active'],
        ['10.0.0.3', 'draining'],
        ['10.0.0.4', 'failed (retry in 58.8 s)'],
        ['10.0.0.5', 'warming 4%'],
      ],
    );
    // Columns: server, state, ready, busy, weight, reported weight, age, picks, share, in flight, failures.
    const picks = String(monitor.serverState('10.0.0.1')?.picks);
    assert.deepEqual(rows[0]?.slice(2, 8), ['40', '10', '38', '40', '1.2 s', picks]);
    assert.deepEqual(rows[0]?.slice(9), ['2', '0']);
    assert.deepEqual(rows[3]?.slice(9), ['0', '1']);
    assert.equal(rows[2]?.[9], '1');
    const shares = rows.map((cells) => Number.parseFloat(cells[8] ?? 'NaN'));
    assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 100) < 0.5, `shares add up to 100 %: ${shares.join(', ')}`);
    assert.match(await page.locator('#summary').innerText(), /5 servers · 5 fresh · 0 stale · 1 warming · 1 draining · 0 disabled · 1 failed · 3 in flight/);
    const background = await page.evaluate<string>(`getComputedStyle(document.querySelector('tr[data-server="10.0.0.4"] .state')).backgroundColor`);
    assert.equal(background, 'rgb(255, 208, 208)', 'failed servers are shown in red');
    await page.screenshot({ path: SCREENSHOT.pathname, fullPage: true });

    // The page reloads itself: an operator's change shows up without touching the browser.
    await page.goto(`${url}live`);
    await page.locator('tr[data-server="10.0.0.2"][data-state="active"]').waitFor({ timeout: 10_000 });
    monitor.disable('10.0.0.2');
    await page.locator('tr[data-server="10.0.0.2"][data-state="disabled"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('tr[data-server="10.0.0.2"] td:nth-child(2)').innerText(), 'disabled');
  });
});
