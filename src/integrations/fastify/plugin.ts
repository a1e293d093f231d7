/**
 * A fastify plugin that proxies a prefix to members picked by heartbeat balancing,
 * through `@fastify/reply-from` and the undici dispatcher of `heartmonitor/undici`.
 * @module
 */
import replyFrom from '@fastify/reply-from';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { BackendMember } from '../../protocol/address.js';
import { createDispatcher, type HeartbeatDispatcherOptions } from '../undici/dispatcher.js';
import { resolveProxyOptions } from '../options.js';
import { NoMemberError, type LeasingView } from '../view.js';

/** Options of the heartmonitor fastify plugin (`fastify.register(heartmonitorProxy, options)`). */
export interface HeartmonitorProxyOptions extends HeartbeatDispatcherOptions {
  /** Where members are picked: the `HeartMonitor` or any view of its table. */
  readonly view: LeasingView;
  /** The members to balance over; `undefined` picks among every live server. */
  readonly members: readonly BackendMember[] | undefined;
  /** The path prefix proxied (fastify's own `prefix` register option). Default: every path. */
  readonly prefix?: string;
  /**
   * What replaces `prefix` in the upstream path. Default `''`: `/api/items` under prefix
   * `/api` goes upstream as `/items`. Pass the prefix itself to keep it.
   */
  readonly rewritePrefix?: string;
  /** Seconds suggested in `Retry-After` when no member can be picked. Default 1. */
  readonly retryAfter?: number;
}

/** The origin reply-from is told about; the dispatcher replaces it with the picked member's. */
const PLACEHOLDER_BASE = 'http://heartmonitor.invalid';

/** Hands the body stream on untouched (any content type). */
const passBody = (_request: FastifyRequest, payload: unknown, done: (error: Error | null, body?: unknown) => void): void => done(null, payload);

const proxy: FastifyPluginAsync<HeartmonitorProxyOptions> = async (fastify: FastifyInstance, options: HeartmonitorProxyOptions) => {
  const { retryAfter } = resolveProxyOptions(options);
  const rewritePrefix = options.rewritePrefix ?? '';
  const dispatcher = createDispatcher(options.view, options.members, options);
  // reply-from closes (destroys) the dispatcher with the server.
  await fastify.register(replyFrom, { base: PLACEHOLDER_BASE, undici: dispatcher });

  // A proxy passes bodies on as they come, whatever their type, instead of parsing them.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', passBody);

  const prefix = fastify.prefix;
  const forward = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const rest = request.url.slice(prefix.length);
    const path = `${rewritePrefix}${rest.startsWith('/') || rest.startsWith('?') || rest === '' ? '' : '/'}${rest}`;
    return reply.from(path.startsWith('/') ? path : `/${path}`, {
      // The dispatcher already retries what is safe to retry, on another member.
      retryDelay: () => null,
      rewriteRequestHeaders: (_request, headers) => {
        // Let undici send the picked member's host instead of the placeholder.
        const rewritten = { ...headers };
        delete rewritten.host;
        return rewritten;
      },
      onError: (failed, { error }) => {
        if (error.cause instanceof NoMemberError || error instanceof NoMemberError) {
          void failed.code(503).header('retry-after', String(retryAfter)).send({ statusCode: 503, code: 'HM_NO_MEMBER', error: 'Service Unavailable', message: 'No backend can be picked' });
          return;
        }
        void failed.send(error);
      },
    });
  };
  fastify.all('/', forward);
  fastify.all('/*', forward);
};

/**
 * The heartmonitor fastify plugin: proxies every request under its prefix to a member
 * picked by heartbeat balancing. Answers 503 with `Retry-After` when no member can be
 * picked; leases end with the reply and report failures (see `heartmonitor/undici`).
 *
 * It is an encapsulated plugin (unlike `fastify-plugin` wrapped ones) so that fastify's
 * `prefix` applies to its routes and its body handling stays inside it.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { HeartMonitor } from 'heartmonitor';
 * import heartmonitorProxy from 'heartmonitor/fastify';
 *
 * const monitor = new HeartMonitor({ listen: '239.0.0.1:27999', interface: '127.0.0.1' });
 * monitor.on('error', (err) => console.error(err));
 * await monitor.listen();
 * const app = Fastify();
 * await app.register(heartmonitorProxy, { view: monitor, members: ['http://127.0.0.1:8080'], prefix: '/api' });
 * await app.listen({ host: '127.0.0.1', port: 3000 });
 * ```
 */
export const heartmonitorProxy: FastifyPluginAsync<HeartmonitorProxyOptions> = Object.assign(proxy, {
  [Symbol.for('fastify.display-name')]: 'heartmonitor',
  [Symbol.for('plugin-meta')]: { name: 'heartmonitor', fastify: '5.x' },
});
