/**
 * Heartbeat balancing in front of `http-proxy` (node-http-proxy): a `node:http` request
 * listener that picks a member per request, holds its lease until the response is over,
 * reports failures, answers 503 when nothing can be picked and 502 when the member fails.
 * Typed structurally: this module loads nothing of `http-proxy` itself.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { BackendMember } from '../../protocol/address.js';
import { isNetworkFailure } from '../undici/retry-policy.js';
import { expectBalancingTarget, resolveProxyOptions } from '../options.js';
import { leaseMember, leaseOrigin, memberOrigin, type AnyLease, type LeasingView } from '../view.js';

/** What the handler needs of an `http-proxy` server (`httpProxy.createProxyServer()`). */
export interface WebProxy {
  /** Proxy `req` to `options.target`; `callback` hears errors before a response started. */
  web(req: IncomingMessage, res: ServerResponse, options: { target: string; buffer?: Readable }, callback: (error: Error) => void): void;
  /** The origin's response arrived (its status decides whether the lease counts a failure). */
  on(event: 'proxyRes', listener: (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) => void): unknown;
}

/** Options of {@link createProxyHandler}. */
export interface ProxyHandlerOptions {
  /** Count a 5xx answer as a failure of the server. Default `true`. */
  readonly failOn5xx?: boolean;
  /** Seconds suggested in `Retry-After` with a 503. Default 1. */
  readonly retryAfter?: number;
  /**
   * How many more members a bodyless GET/HEAD/OPTIONS whose connection failed may try.
   * Default 2. Requests with a body are never resent (http-proxy has consumed it).
   */
  readonly retries?: number;
}

const RESENDABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A `node:http` request listener proxying through `proxy` to members picked from `view`.
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import httpProxy from 'http-proxy';
 * import { HeartMonitor } from 'heartmonitor';
 * import { createProxyHandler } from 'heartmonitor/http-proxy';
 *
 * const monitor = new HeartMonitor({ listen: '239.0.0.1:27999', interface: '127.0.0.1' });
 * monitor.on('error', (err) => console.error(err));
 * await monitor.listen();
 * const proxy = httpProxy.createProxyServer({ xfwd: true });
 * proxy.on('error', (err) => console.error(err));
 * http.createServer(createProxyHandler(proxy, monitor, ['http://127.0.0.1:8080'])).listen(3000, '127.0.0.1');
 * ```
 * @param proxy - an `http-proxy` server
 * @param view - the `HeartMonitor` or any view of its table
 * @param members - the members to balance over; `undefined` picks among every live server
 * @param options - see {@link ProxyHandlerOptions}
 */
export function createProxyHandler(
  proxy: WebProxy,
  view: LeasingView,
  members: readonly BackendMember[] | undefined,
  options: ProxyHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const { failOn5xx, retryAfter, retries } = resolveProxyOptions(options);
  expectBalancingTarget(view, members);
  for (const member of members ?? []) memberOrigin(member);

  /** The lease of each response being proxied, and whether it failed so far. */
  const open = new WeakMap<ServerResponse, { lease: AnyLease; failed: boolean }>();
  proxy.on('proxyRes', (proxyRes, _req, res) => {
    const current = open.get(res);
    if (current !== undefined && failOn5xx && (proxyRes.statusCode ?? 0) >= 500) current.failed = true;
  });

  return (req, res) => {
    const tried = new Set<BackendMember>();
    const resendable = RESENDABLE_METHODS.has(req.method ?? '') && req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
    let attempts = 0;

    const attempt = (): void => {
      const lease: AnyLease | undefined = members === undefined ? view.acquire() : acquireUntried(view, members, tried);
      if (lease === undefined) {
        if (attempts === 0) return unavailable(res, retryAfter);
        return badGateway(res);
      }
      attempts++;
      const member = leaseMember(lease);
      if (member !== undefined) tried.add(member);
      const state = { lease, failed: false };
      open.set(res, state);
      let settled = false;
      const settle = (): void => {
        if (settled) return;
        settled = true;
        res.off('close', settle);
        lease.release({ failed: state.failed });
      };
      res.once('close', settle);
      const target = leaseOrigin(lease);
      const onError = (error: Error): void => {
        state.failed = isNetworkFailure(error) || state.failed;
        const retry = !res.headersSent && resendable && attempts <= retries && (error as { code?: string }).code === 'ECONNREFUSED';
        settle();
        if (retry) attempt();
        else badGateway(res);
      };
      proxy.web(req, res, attempts > 1 ? { target, buffer: Readable.from([]) } : { target }, onError);
    };
    attempt();
  };
}

function acquireUntried(view: LeasingView, members: readonly BackendMember[], tried: ReadonlySet<BackendMember>): AnyLease | undefined {
  const untried = tried.size === 0 ? members : members.filter((member) => !tried.has(member));
  return untried.length === 0 ? undefined : view.acquire(untried);
}

function unavailable(res: ServerResponse, retryAfter: number): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': String(retryAfter) }).end('No backend can be picked\n');
}

function badGateway(res: ServerResponse): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' }).end('Bad gateway\n');
}
