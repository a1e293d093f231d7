/**
 * HTTP heartbeats (SPEC 1.3): a `(req, res)` listener answering like mod_heartmonitor's
 * `heartbeat` handler, usable with `node:http` and as express/connect middleware.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIpLiteral } from '../protocol/address.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/heartbeat.js';
import type { HeartbeatSource, RefusalCode } from '../monitor/events.js';
import { expectBoolean, expectDelay, expectInteger, expectObject } from '../validate.js';

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
  /**
   * Longest wait for the whole body, in ms; a body still incomplete then gets `408` and the
   * connection is closed (a slow or endless upload cannot hold a request open).
   * @default 10000
   */
  readonly bodyTimeout?: number;
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
  ingestWithReason(message: Uint8Array | string, from: HeartbeatSource): IngestOutcome;
  dropMalformed(from: HeartbeatSource, reason: string, message: string): void;
}

/** Default body deadline of {@link HeartMonitor.httpHandler}, in ms. */
export const DEFAULT_BODY_TIMEOUT = 10_000;

/**
 * Build the handler behind {@link HeartMonitor.httpHandler}.
 * @internal
 */
export function createHttpHandler(sink: HttpHeartbeatSink, options: HttpHandlerOptions = {}): HttpHandler {
  expectObject('options', options);
  const maxBytes = expectInteger('maxBodyBytes', options.maxBodyBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 1);
  const bodyTimeout = expectDelay('bodyTimeout', options.bodyTimeout ?? DEFAULT_BODY_TIMEOUT);
  const trustProxy = expectBoolean('trustProxy', options.trustProxy ?? false);

  return (request, response) => {
    // No request may throw out of a listener the library hands out: it would end the process.
    try {
      handle(request, response);
    } catch {
      refuse(request, response, 500, 'Internal Server Error\n');
    }
  };

  function handle(request: IncomingMessage & { body?: unknown }, response: ServerResponse): void {
    if (!isParsableTarget(request.url)) {
      refuse(request, response, 400, 'Bad Request: unparsable request-target\n');
      return;
    }
    if (request.method !== 'POST') {
      refuse(request, response, 405, 'Method Not Allowed: heartbeats must be POSTed\n', { Allow: 'POST' });
      return;
    }
    const from = senderOf(request, trustProxy);
    if (from === undefined) {
      refuse(request, response, 400, `Bad Request: ${trustProxy ? 'X-Forwarded-For does not end with' : 'the peer is not'} an IP address\n`);
      return;
    }
    const tooLarge = (reason: string, head: string): void => {
      sink.dropMalformed(from, reason, head);
      refuse(request, response, 413, `Payload Too Large: ${reason}\n`);
    };
    const answer = (body: Uint8Array | string): void => {
      const outcome = sink.ingestWithReason(body, from);
      if (outcome.ok) reply(response, 200, 'OK');
      else if (outcome.malformed) reply(response, 400, `Bad Request: ${outcome.reason}\n`);
      else if (outcome.code !== undefined && outcome.code !== 'store-full') reply(response, 403, `Forbidden: ${outcome.reason}\n`);
      else reply(response, 503, `Service Unavailable: ${outcome.reason}\n`);
    };

    // A framework's body parser may have read the body already (express.text()/raw(), fastify).
    const parsed = request.body;
    if (typeof parsed === 'string' || parsed instanceof Uint8Array) {
      const size = typeof parsed === 'string' ? Buffer.byteLength(parsed) : parsed.length;
      if (size > maxBytes) tooLarge(`body is ${size} bytes, over the ${maxBytes}-byte limit`, '');
      else answer(parsed);
      return;
    }
    if (request.readableEnded) {
      // Read by someone else into a shape we cannot use (an object from a JSON or form parser).
      const reason = 'the body was already consumed by another handler (mount httpHandler() before body parsers, or after express.text() / express.raw())';
      sink.dropMalformed(from, reason, '');
      reply(response, 400, `Bad Request: ${reason}\n`);
      return;
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxBytes) {
      tooLarge(`body is ${declared} bytes, over the ${maxBytes}-byte limit`, '');
      return;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (): void => {
      done = true;
      clearTimeout(deadline);
      request.off('data', onData);
    };
    // A body that trickles in (or never ends) must not hold the request forever.
    const deadline = setTimeout(() => {
      if (done) return;
      finish();
      const reason = `body not complete within ${bodyTimeout} ms`;
      sink.dropMalformed(from, reason, Buffer.concat(chunks).toString('utf8'));
      refuse(request, response, 408, `Request Timeout: ${reason}\n`);
    }, bodyTimeout);
    deadline.unref();
    const onData = (chunk: Buffer): void => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        finish();
        tooLarge(`body is over the ${maxBytes}-byte limit`, Buffer.concat(chunks).toString('utf8'));
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.on('end', () => {
      if (done) return;
      finish();
      answer(Buffer.concat(chunks, size));
    });
    request.on('error', () => {
      // The client went away mid-body: nothing to answer, nothing to ingest.
      if (!done) finish();
    });
  }
}

/** Whether `new URL()` can read a request-target (it throws on `//`, `//[`, `http://[`…). */
function isParsableTarget(target: string | undefined): boolean {
  try {
    new URL(target ?? '/', 'http://heartbeat.invalid');
    return true;
  } catch {
    return false;
  }
}

/** Whether the request announces a body (one we would otherwise have to read or drain). */
function hasBody(request: IncomingMessage): boolean {
  if (request.readableEnded) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Answer a request we will not read. With a body still coming, close the connection after
 * the answer instead of draining it: a client could send an endless body.
 */
function refuse(request: IncomingMessage, response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (hasBody(request)) {
    reply(response, status, body, { ...headers, Connection: 'close' });
    // Stop reading once the answer is out; node would otherwise keep the socket for the body.
    response.once('finish', () => request.socket.destroySoon());
  } else {
    request.resume();
    reply(response, status, body, headers);
  }
}

function senderOf(request: IncomingMessage, trustProxy: boolean): HeartbeatSource | undefined {
  const peerAddress = request.socket.remoteAddress;
  if (!trustProxy) return peerAddress !== undefined && isIpLiteral(peerAddress) ? { address: peerAddress, port: request.socket.remotePort } : undefined;
  const header = request.headers['x-forwarded-for'];
  if (header === undefined) return peerAddress !== undefined && isIpLiteral(peerAddress) ? { address: peerAddress, port: request.socket.remotePort } : undefined;
  // The rightmost entry was added by the proxy in front of us; entries left of it are the client's word.
  const last = (Array.isArray(header) ? header.join(',') : header).split(',').pop()?.trim() ?? '';
  const address = last.startsWith('[') && last.endsWith(']') ? last.slice(1, -1) : last;
  return isIpLiteral(address) ? { address } : undefined;
}

function reply(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), ...headers });
  response.end(body);
}
