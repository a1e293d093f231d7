/**
 * `heartmonitor/http-proxy`: heartbeat balancing in front of `http-proxy`, as a
 * `node:http` request listener. Loads nothing but Node built-ins itself.
 * @module heartmonitor/http-proxy
 */
export { createProxyHandler } from './handler.js';
export type { ProxyHandlerOptions, WebProxy } from './handler.js';
export { NoMemberError, memberOrigin, DEFAULT_NO_MEMBER_RETRY_AFTER } from '../view.js';
export type { LeasingView } from '../view.js';
