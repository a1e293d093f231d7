/**
 * `heartmonitor/http-proxy`: heartbeat balancing in front of `http-proxy`, as a
 * `node:http` request listener. Loads nothing but Node built-ins itself.
 * @module heartmonitor/http-proxy
 */
export { createProxyHandler } from './handler.js';
export type { ProxyHandlerOptions, WebProxy } from './handler.js';
export { NoMemberError, memberOrigin } from '../view.js';
export { DEFAULT_NO_MEMBER_RETRY_AFTER } from '../options.js';
export type { LeasingView } from '../view.js';
