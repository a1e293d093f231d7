/**
 * `heartmonitor/redis`: share a monitor's table through Redis and balance on it from any
 * host (SPEC 3.2). Needs the `redis` package (node-redis), an optional peer dependency
 * that only this entry point's users install.
 * @module heartmonitor/redis
 */
export { RedisStore } from './stores/redis/redis-store.js';
export type { RedisStoreOptions, RedisStoreStats } from './stores/redis/redis-store.js';
export { RedisView } from './views/redis-view.js';
export type { RedisViewOptions, RedisViewRecord, RedisSourceMetrics, RedisViewExtraEvents } from './views/redis-view.js';
export { DEFAULT_REDIS_PREFIX, tableKeys } from './stores/redis/keys.js';
export type { RedisTableKeys } from './stores/redis/keys.js';
export { parseRecord, MAX_RECORD_LENGTH, MAX_RECORD_FIELDS, MAX_MONITOR_ID_LENGTH } from './stores/redis/record.js';
export type { RedisServerRecord } from './stores/redis/record.js';
export type { RedisScriptClient, RedisViewClient, RedisSubscriber, RedisSharedSubscriber, RedisErrorSource, RedisEvalOptions } from './stores/redis/client.js';
