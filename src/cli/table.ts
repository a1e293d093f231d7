/**
 * The server table the CLI prints: ip, port, ready, busy, weight, last seen, share, state.
 * @module
 */
import { heardWithin } from '../picking/freshness.js';
import { heartbeatWeight } from '../picking/selection.js';
import { DEFAULT_STALE_AFTER } from '../table/settings.js';
import type { ServerStatus } from '../protocol/server-status.js';

/**
 * What a row's server is doing: `active` (heard within staleAfter), `stale`, or the
 * state a monitor set or saw (`draining`, `disabled`, `failed`).
 */
export type RowState = 'active' | 'stale' | 'draining' | 'disabled' | 'failed';

/** One printed row, also the shape of `--json` output. */
export interface ServerRow {
  readonly ip: string;
  readonly port: number;
  readonly ready: number;
  readonly busy: number;
  /** Weight lbmethod=heartbeat gives it now (0 when stale, draining or disabled). */
  readonly weight: number;
  /** Seconds since its last heartbeat. */
  readonly lastSeen: number;
  /** weight / sum of weights: the share of picks it gets. */
  readonly share: number;
  /** Its state: drained and disabled servers weigh 0, as Apache's balancer skips such workers. */
  readonly state: RowState;
  /** Share of requests actually routed to it (the demo only). */
  readonly routed?: number;
  /** The monitor that reported it (a table shared through Redis only). */
  readonly monitor?: string;
}

/** Rows for `servers`, sorted by IP, with weights as of `now`. */
export function serverRows(servers: readonly ServerStatus[], now: number, staleAfter = DEFAULT_STALE_AFTER): ServerRow[] {
  const weighed = servers.map((server) => {
    const fresh = heardWithin(server.lastSeen, now, staleAfter);
    const state: RowState = server.state ?? (fresh ? 'active' : 'stale');
    // Drained and disabled servers weigh 0 (Apache skips them); stale ones are not used.
    return { state, weight: fresh && state !== 'draining' && state !== 'disabled' ? heartbeatWeight(server) : 0 };
  });
  const total = weighed.reduce((sum, { weight }) => sum + weight, 0);
  return servers
    .map((server, i) => {
      const { state, weight } = weighed[i] ?? { state: 'active' as const, weight: 0 };
      return {
        ip: server.ip,
        port: server.port,
        ready: server.ready,
        busy: server.busy,
        weight,
        lastSeen: Math.max(0, Math.floor((now - server.lastSeen) / 1000)),
        share: total === 0 ? 0 : weight / total,
        state,
      };
    })
    .sort((a, b) => compareIp(a.ip, b.ip) || a.port - b.port);
}

/** Render rows as an aligned text table with a header. */
export function renderTable(rows: readonly ServerRow[]): string {
  const withRouted = rows.some((row) => row.routed !== undefined);
  const withMonitor = rows.some((row) => row.monitor !== undefined);
  const header = ['IP', 'PORT', 'READY', 'BUSY', 'WEIGHT', 'LAST SEEN', 'SHARE', ...(withRouted ? ['ROUTED'] : []), 'STATE', ...(withMonitor ? ['MONITOR'] : [])];
  const lines = rows.map((row) => [
    row.ip,
    String(row.port),
    String(row.ready),
    String(row.busy),
    String(row.weight),
    `${row.lastSeen}s ago`,
    percent(row.share),
    ...(withRouted ? [percent(row.routed ?? 0)] : []),
    row.state,
    ...(withMonitor ? [row.monitor ?? ''] : []),
  ]);
  const widths = header.map((title, col) => Math.max(title.length, ...lines.map((line) => (line[col] ?? '').length)));
  const format = (cells: readonly string[]): string =>
    cells
      .map((cell, col) => (col === 0 || header[col] === 'STATE' || header[col] === 'MONITOR' ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0)))
      .join('  ')
      .trimEnd();
  return [format(header), ...lines.map(format), tableLegend(withRouted)].join('\n') + '\n';
}

/** The one line under the table that says what its share columns mean. */
export function tableLegend(withRouted: boolean): string {
  const share = 'SHARE = weight / sum of weights: the part of picks each server should get now';
  return withRouted ? `${share}; ROUTED = the part of this run's requests it actually got` : share;
}

/** `12.3%`. */
export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

function compareIp(a: string, b: string): number {
  const key = (ip: string): string => (ip.includes(':') ? `6${ip}` : `4${ip.split('.').map((part) => part.padStart(3, '0')).join('.')}`);
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}

/**
 * Terminal bytes that repaint the screen with `text` from the top-left corner, clearing
 * what is left of old lines instead of blanking the screen first (no flicker).
 */
export function repaint(text: string, first: boolean): string {
  return `${first ? '\x1b[2J' : ''}\x1b[H${text.replaceAll('\n', '\x1b[K\n')}\x1b[J`;
}
