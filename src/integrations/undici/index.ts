/**
 * `heartmonitor/undici`: an undici `Dispatcher` that balances every request over the
 * members of a heartbeat table. Needs the `undici` package (a peer dependency, 7 or 8).
 * @module heartmonitor/undici
 */
export { HeartbeatDispatcher, createDispatcher } from './dispatcher.js';
export { DEFAULT_DISPATCHER_RETRIES, DEFAULT_NO_MEMBER_RETRY_AFTER } from '../options.js';
export type { HeartbeatDispatcherOptions } from './dispatcher.js';
export { NoMemberError, memberOrigin } from '../view.js';
export type { LeasingView } from '../view.js';
export { endToEndHeaders, HOP_BY_HOP_HEADERS } from '../hop-by-hop.js';
export type { HeadersInput, HeaderValue } from '../hop-by-hop.js';
