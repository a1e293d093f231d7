/**
 * `monitor.statusHandler()`: the live table for people (a small HTML page that refreshes
 * itself, like mod_cluster-manager or HAProxy's stats page) and for tools (JSON).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerView } from '../balancer/server-state.js';
import type { HeartMonitorMetrics } from './metrics.js';
import { expectInteger, expectString } from '../validate.js';

/** Options of `statusHandler()`. */
export interface StatusPageOptions {
  /**
   * Seconds between automatic reloads of the HTML page.
   * @default 2
   */
  readonly refreshSeconds?: number;
  /**
   * Heading and title of the page.
   * @default 'heartmonitor'
   */
  readonly title?: string;
}

/** What the page shows: also the JSON body. */
export interface StatusSnapshot {
  /** Wall-clock time of the snapshot, ms since the epoch. */
  readonly time: number;
  /** Every server, with state, weights, age, picks and leases. */
  readonly servers: readonly ServerView[];
  /** Counters and gauges. */
  readonly metrics: HeartMonitorMetrics;
  /** Where a view reads its table from, and whether it answers (views with a remote source, such as Redis). */
  readonly source?: StatusSource;
}

/** A view's source as its status page shows it. */
export interface StatusSource {
  /** What the source is, e.g. `Redis table {heartmonitor}`. */
  readonly description: string;
  /** Whether the source answers now. */
  readonly connected: boolean;
  /** Seconds since it stopped answering (0 while connected). */
  readonly downSeconds: number;
  /** Records and messages of the source the view refused (a Redis view's `records_refused`), when it counts them. */
  readonly refused?: number;
}

/** A `node:http` request listener (also fits Express/Connect-style routes). */
export type StatusHandler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Build the request listener over a snapshot source.
 * @internal
 */
export function createStatusHandler(snapshot: () => StatusSnapshot, options: StatusPageOptions = {}): StatusHandler {
  const refreshSeconds = expectInteger('refreshSeconds', options.refreshSeconds ?? 2, 1);
  const title = expectString('title', options.title ?? 'heartmonitor');
  return (request, response) => {
    // Whatever a request holds, nothing may throw out of a listener: that would end the process.
    try {
      serve(request, response);
    } catch {
      if (!response.headersSent) plain(response, 500, 'Internal Server Error\n');
      else response.destroy();
    }
  };

  function serve(request: IncomingMessage, response: ServerResponse): void {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      plain(response, 405, 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    const format = formatOf(request.url);
    if (format === null) {
      plain(response, 400, 'Bad Request: unparsable request-target\n');
      return;
    }
    const json = format === 'json' || (format !== 'html' && wantsJson(request.headers.accept));
    const body = json ? `${JSON.stringify(snapshot(), null, 2)}\n` : renderStatusPage(snapshot(), { refreshSeconds, title });
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Length': Buffer.byteLength(body),
      Vary: 'Accept',
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  }
}

/**
 * Headers on every answer: no MIME sniffing, and a page that may load nothing, run no
 * script and be framed by no one (it is inline CSS and a meta refresh only).
 */
const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
} as const;

/**
 * The `format` query parameter of a request-target; null when the target cannot be parsed
 * (`//`, `//[`, `http://[`, `%zz`…: `new URL()` throws on them).
 * @internal
 */
export function formatOf(target: string | undefined): string | null | undefined {
  try {
    return new URL(target ?? '/', 'http://status.invalid').searchParams.get('format') ?? undefined;
  } catch {
    return null;
  }
}

function plain(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  response.end(body);
}

function wantsJson(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const json = accept.indexOf('application/json');
  const html = accept.indexOf('text/html');
  return json !== -1 && (html === -1 || json < html);
}

/**
 * The HTML page for a snapshot.
 * @internal
 */
export function renderStatusPage(snapshot: StatusSnapshot, options: { readonly refreshSeconds: number; readonly title: string }): string {
  const { servers, metrics } = snapshot;
  const totalPicks = servers.reduce((sum, view) => sum + view.picks, 0);
  const rows = servers.map((view) => renderRow(view, totalPicks)).join('\n');
  const title = escapeHtml(options.title);
  const summary = [
    `${metrics.servers} servers`,
    `${metrics.servers_fresh} fresh`,
    `${metrics.endpoint_weight_stale} stale`,
    `${metrics.endpoint_weight_not_yet_usable} warming`,
    `${metrics.servers_draining} draining`,
    `${metrics.servers_disabled} disabled`,
    `${metrics.servers_failed} failed`,
    `${metrics.in_flight} in flight`,
  ].join(' · ');
  const counters = [
    `heartbeats ${metrics.heartbeats_accepted}/${metrics.heartbeats_received} accepted`,
    `${metrics.heartbeats_malformed} malformed`,
    `${metrics.heartbeats_rejected} rejected`,
    `picks ${metrics.picks}`,
    `no server ${metrics.no_server}`,
    `fallbacks ${metrics.rr_fallback + metrics.last_known_fallback}`,
    `failures ${metrics.failures}`,
  ].join(' · ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${options.refreshSeconds}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
p { margin: .25rem 0; color: #555; }
table { border-collapse: collapse; margin-top: 1rem; min-width: 60rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
th { background: #f3f3f3; }
.state { font-weight: 600; border-radius: .3rem; padding: .1rem .4rem; }
.active { background: #d8f5d8; } .warming { background: #fff1c2; } .stale { background: #e6e6e6; }
.failed { background: #ffd0d0; } .draining { background: #d9e8ff; } .disabled { background: #d0d0d0; }
.source-down { background: #ffd0d0; padding: .3rem .5rem; font-weight: 600; color: #222; }
.bar { display: inline-block; height: .6rem; background: #5b8def; vertical-align: middle; margin-right: .3rem; }
</style>
</head>
<body>
<h1>${title}</h1>
<p id="summary">${escapeHtml(summary)}</p>
<p id="counters">${escapeHtml(counters)}</p>
${snapshot.source === undefined ? '' : renderSource(snapshot.source)}<p>Updated ${escapeHtml(new Date(snapshot.time).toISOString())}; refreshes every ${options.refreshSeconds} s. <a href="?format=json">JSON</a></p>
<table id="servers">
<thead><tr><th>Server</th><th>State</th><th>Ready</th><th>Busy</th><th>Weight</th><th>Reported weight</th><th>Age</th><th>Picks</th><th>Share</th><th>In flight</th><th>Failures</th></tr></thead>
<tbody>
${rows === '' ? '<tr><td colspan="11">No servers have sent a heartbeat yet.</td></tr>' : rows}
</tbody>
</table>
</body>
</html>
`;
}

function renderRow(view: ServerView, totalPicks: number): string {
  const share = totalPicks === 0 ? 0 : (view.picks / totalPicks) * 100;
  const state = view.state === 'warming' ? `warming ${Math.round(view.slowStart * 100)}%` : view.state === 'failed' && view.retryIn !== undefined ? `failed (retry in ${formatSeconds(view.retryIn)})` : view.state;
  const cells = [
    escapeHtml(view.key),
    `<span class="state ${view.state}">${escapeHtml(state)}</span>`,
    String(view.server.ready),
    String(view.server.busy),
    formatNumber(view.weight),
    String(view.reportedWeight),
    formatSeconds(view.age),
    String(view.picks),
    `<span class="bar" style="width:${share.toFixed(1)}px"></span>${share.toFixed(1)}%`,
    String(view.inFlight),
    String(view.failures),
  ];
  return `<tr data-server="${escapeHtml(view.key)}" data-state="${view.state}">${cells.map((cell) => `<td>${cell}</td>`).join('')}</tr>`;
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** The source line: who the table comes from, and loudly when it does not answer. */
function renderSource(source: StatusSource): string {
  const what = escapeHtml(source.description);
  const refused = source.refused === undefined ? '' : ` <span id="refused">${source.refused} record(s) refused.</span>`;
  if (source.connected) return `<p id="source" class="source-up">Source: ${what}, connected.${refused}</p>\n`;
  const seconds = Math.round(source.downSeconds);
  return `<p id="source" class="source-down">Source down: ${what} has not answered for ${seconds} s. Servers shown are the last known, aged by this host's clock; they turn stale and leave at their usual times.${refused}</p>\n`;
}
