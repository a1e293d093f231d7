/**
 * HTTP heartbeats (SPEC 1.3): a `(req, res)` listener answering like mod_heartmonitor's
 * `heartbeat` handler, usable with `node:http` and as express/connect middleware.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { HeartbeatSource, RefusalCode } from '../monitor/monitor.js';
import { expectInteger } from '../validate.js';

/** Options of {@link HeartMonitor.httpHandler}. */
export interface HttpHandlerOptions {
  /**
   * Take the sender's address from the last (rightmost) `X-Forwarded-For` entry instead of
   * the TCP peer. Only enable this when every request reaches the handler through a proxy
   * you run that sets that header: otherwise any client can claim to be any origin server.
   * @default false
   */
  readonly trustProxy?: boolean;
  /**
   * Longest accepted body in bytes; longer bodies get `413` without being buffered.
   * @default the monitor's `maxMessageBytes` (1000)
   */
  readonly maxBodyBytes?: number;
}

/**
 * A `node:http` request listener that also fits express/connect (`app.post('/heartbeat',
 * handler)`). It answers every request it receives and never calls `next`: mount it on
 * the path you want, as Apache's `SetHandler heartbeat` is mounted on a `<Location>`.
 */
export type HttpHandler = (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void) => void;

/**
 * What ingesting one message led to.
 * @internal
 */
export type IngestOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly malformed: boolean; readonly reason: string; /** Set when `allow` or `secret` refused it. */ readonly code?: RefusalCode };

/**
 * The monitor methods the handler needs.
 * @internal
 */
export interface HttpHeartbeatSink {
  ingestWithReason(message: Uint8Array, from: HeartbeatSource): IngestOutcome;
  dropMalformed(from: HeartbeatSource, reason: string, message: string): void;
}

/**
 * Build the handler behind {@link HeartMonitor.httpHandler}.
 * @internal
 */
export function createHttpHandler(sink: HttpHeartbeatSink, options: HttpHandlerOptions = {}): HttpHandler {
  const maxBytes = expectInteger('maxBodyBytes', options.maxBodyBytes ?? 1000, 1);
  const trustProxy = options.trustProxy ?? false;
  if (typeof trustProxy !== 'boolean') throw new TypeError(`Expected \`trustProxy\` to be a boolean, got ${String(trustProxy)}`);

  return (request, response) => {
    if (request.method !== 'POST') {
      request.resume(); // discard any body so the connection can be reused
      reply(response, 405, 'Method Not Allowed: heartbeats must be POSTed\n', { Allow: 'POST' });
      return;
    }
    const from = senderOf(request, trustProxy);
    if (from === undefined) {
      request.resume();
      reply(response, 400, 'Bad Request: X-Forwarded-For does not end with an IP address\n');
      return;
    }
    const tooLarge = (reason: string, head: string): void => {
      sink.dropMalformed(from, reason, head);
      // Closing the connection stops the client's upload instead of reading it all.
      reply(response, 413, `Payload Too Large: ${reason}\n`, { Connection: 'close' });
    };
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxBytes) {
      request.resume();
      tooLarge(`body is ${declared} bytes, over the ${maxBytes}-byte limit`, '');
      return;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    request.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        done = true;
        tooLarge(`body is over the ${maxBytes}-byte limit`, Buffer.concat(chunks).toString('utf8'));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (done) return;
      done = true;
      const outcome = sink.ingestWithReason(Buffer.concat(chunks, size), from);
      if (outcome.ok) reply(response, 200, 'OK');
      else if (outcome.malformed) reply(response, 400, `Bad Request: ${outcome.reason}\n`);
      else if (outcome.code !== undefined) reply(response, 403, `Forbidden: ${outcome.reason}\n`);
      else reply(response, 503, `Service Unavailable: ${outcome.reason}\n`);
    });
    request.on('error', () => {
      // The client went away mid-body: nothing to answer, nothing to ingest.
      done = true;
    });
  };
}

function senderOf(request: IncomingMessage, trustProxy: boolean): HeartbeatSource | undefined {
  const peer: HeartbeatSource = { address: request.socket.remoteAddress ?? '', port: request.socket.remotePort };
  if (!trustProxy) return peer;
  const header = request.headers['x-forwarded-for'];
  if (header === undefined) return peer;
  // The rightmost entry was added by the proxy in front of us; entries left of it are the client's word.
  const last = (Array.isArray(header) ? header.join(',') : header).split(',').pop()?.trim() ?? '';
  const address = last.startsWith('[') && last.endsWith(']') ? last.slice(1, -1) : last;
  return isIP(address) === 0 ? undefined : { address };
}

function reply(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), ...headers });
  response.end(body);
}
