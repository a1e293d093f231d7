/**
 * Where a shared table lives in Redis. Every key and the change channel carry the same
 * hash tag (`{prefix}`), so on Redis Cluster they share one hash slot: the scripts that
 * touch several of them run on one node, and that node's `TIME` is the one clock every
 * age in the table is measured on.
 * @module
 */
import { show } from '../../validate.js';

/** Default `prefix` of a RedisStore and its views. */
export const DEFAULT_REDIS_PREFIX = 'heartmonitor';

/** The keys (and the shard channel) of one table. */
export interface RedisTableKeys {
  /** HASH: server key → record (`ip TAB port TAB monitor TAB ready TAB busy [TAB fields JSON]`, record.ts). */
  readonly servers: string;
  /** ZSET: server key → time of its newest report, in ms of the Redis node's clock. */
  readonly seen: string;
  /** HASH: server key → `draining` | `disabled` (set by any monitor, read by every view). */
  readonly admin: string;
  /** STRING: sequence number of the last change message (views detect gaps with it). */
  readonly sequence: string;
  /** Shard channel (SPUBLISH) carrying every change. */
  readonly changes: string;
}

const PREFIX_PATTERN = /^[\w.:/@-]{1,100}$/;

/**
 * The key layout of the table named `prefix`.
 * @throws TypeError when `prefix` is not 1–100 characters of letters, digits and `_.:/@-`
 *   (braces would break the hash tag)
 */
export function tableKeys(prefix: unknown): RedisTableKeys {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new TypeError(`Expected \`prefix\` to be 1-100 characters of letters, digits and _.:/@- (no braces, no spaces), got ${show(prefix)}`);
  }
  const tag = `{${prefix}}`;
  return {
    servers: `${tag}:servers`,
    seen: `${tag}:seen`,
    admin: `${tag}:admin`,
    sequence: `${tag}:seq`,
    changes: `${tag}:changes`,
  };
}
