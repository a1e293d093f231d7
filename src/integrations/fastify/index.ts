/**
 * `heartmonitor/fastify`: a fastify plugin that proxies to members picked by heartbeat
 * balancing. Needs `fastify` 5, `@fastify/reply-from` and `undici` (peer dependencies).
 * @module heartmonitor/fastify
 */
import { heartmonitorProxy } from './plugin.js';

export { heartmonitorProxy } from './plugin.js';
export type { HeartmonitorProxyOptions } from './plugin.js';
export { NoMemberError } from '../view.js';
export { DEFAULT_NO_MEMBER_RETRY_AFTER } from '../options.js';
export type { LeasingView } from '../view.js';
export default heartmonitorProxy;
