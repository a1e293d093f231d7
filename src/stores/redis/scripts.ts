/**
 * The Lua scripts that keep a shared table consistent: each runs atomically on the node
 * that holds the table's hash slot, reads that node's `TIME` once, and publishes what it
 * changed as one message with a sequence number.
 *
 * Each write publishes one change message (changes.ts), however many servers it carries;
 * records are the tab-separated lines of record.ts.
 * @module
 */
import { createHash } from 'node:crypto';
import type { RedisTableKeys } from './keys.js';
import type { RedisScriptClient } from './client.js';

// Shared prologue: the node's clock in whole ms.
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * How far ahead of the node's clock (ms) a stored report time may be before it counts as
 * corrupt: a little slack for the node's own clock, which never runs backwards by much
 * under NTP slewing. Beyond it the time came from a hostile or broken write, a clock
 * stepped back, or a failover to a node whose clock is behind.
 */
export const FUTURE_SLACK = 1000;

/**
 * How long the sequence number outlives the last change (ms), however short `expireAfter`
 * is: views attached to a quiet table must not see the numbering start again at 1 (they
 * would take the new messages for ones their snapshot already holds until a probe noticed).
 * One small key per table, gone a day after the last write.
 */
export const SEQUENCE_TTL = 86_400_000;

/**
 * KEYS: servers, seen, sequence, changes. ARGV: expireAfter, monitor id, put count, then
 * (key, age, record) per put, then delete count and the keys.
 *
 * A put is kept when it is at least as new as the stored report (newest report wins,
 * whichever monitor made it), when the stored report is this monitor's own (a monitor
 * sends its reports in order, so its latest one is the truth about its heartbeat: a rewrite
 * after an administrative change must not lose to its first write by a few ms of transit
 * jitter, and a correction after a stalled write moves the time back to the true one), or
 * when the stored time is more than FUTURE_SLACK ahead of the node's clock (corrupt: it
 * would otherwise win against every live report and never expire). A report's time is
 * never stored ahead of the node's clock.
 *
 * A delete removes only a record this monitor wrote last (or one that is not a record at
 * all). Reports older than expireAfter are trimmed (at most 1000 per run; a forward step of
 * the node's clock by expireAfter or more trims the table at once, and live servers come
 * back with their next heartbeat). Times still ahead of the clock after the puts are set to
 * the clock, so such a record expires after expireAfter unless a monitor reports it. Every
 * key's TTL is set to expireAfter (the sequence number's to SEQUENCE_TTL), so a table
 * nobody writes any more disappears by itself.
 */
export const WRITE_SCRIPT = `${NOW}
local expire = tonumber(ARGV[1])
local future = now + ${FUTURE_SLACK}
local lines = {}
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  local key, age, record = ARGV[i], math.max(0, tonumber(ARGV[i + 1]) or 0), ARGV[i + 2]
  local seen = now - age
  local old = redis.call('ZSCORE', KEYS[2], key)
  local keep = not old or tonumber(old) <= seen or tonumber(old) > future
  if not keep then
    keep = string.match(redis.call('HGET', KEYS[1], key) or '', '^[^\t]*\t[^\t]*\t([^\t]*)\t') == ARGV[2]
  end
  if keep then
    redis.call('ZADD', KEYS[2], seen, key)
    redis.call('HSET', KEYS[1], key, record)
    lines[#lines + 1] = 'P ' .. key .. ' ' .. age .. ' ' .. record
  end
  i = i + 3
end
local deletes = tonumber(ARGV[i])
i = i + 1
for _ = 1, deletes do
  local key = ARGV[i]
  local record = redis.call('HGET', KEYS[1], key)
  if record then
    local monitor = string.match(record, '^[^\t]*\t[^\t]*\t([^\t]*)\t')
    if not monitor or monitor == ARGV[2] then
      redis.call('HDEL', KEYS[1], key)
      redis.call('ZREM', KEYS[2], key)
      lines[#lines + 1] = 'D ' .. key
    end
  end
  i = i + 1
end
local ahead = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. future, '+inf', 'LIMIT', 0, 1000)
for _, key in ipairs(ahead) do
  redis.call('ZADD', KEYS[2], now, key)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - expire), 'LIMIT', 0, 1000)
for _, key in ipairs(expired) do
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
  lines[#lines + 1] = 'D ' .. key
end
redis.call('PEXPIRE', KEYS[1], expire)
redis.call('PEXPIRE', KEYS[2], expire)
if #lines == 0 then return 0 end
local sequence = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], math.max(expire, ${SEQUENCE_TTL}))
redis.call('SPUBLISH', KEYS[4], sequence .. ' ' .. now .. '\\n' .. table.concat(lines, '\\n'))
return #lines`;

/** KEYS: admin, sequence, changes. ARGV: key, state (`draining`, `disabled`, or `-` to clear). */
export const ADMIN_SCRIPT = `${NOW}
if ARGV[2] == '-' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
local sequence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ${SEQUENCE_TTL})
redis.call('SPUBLISH', KEYS[3], sequence .. ' ' .. now .. '\\nA ' .. ARGV[1] .. ' ' .. ARGV[2])
return sequence`;

/**
 * KEYS: admin, sequence, changes. ARGV: (key, state) pairs. Puts back the administrative
 * states a monitor set, only when the node lost the table: the sequence number outlives
 * any quiet table by a day (SEQUENCE_TTL), so while it exists the admin hash is the
 * truth — another monitor may have enabled a server since — and nothing is written.
 * Publishes the states as one change message.
 */
export const RESTORE_ADMIN_SCRIPT = `${NOW}
if #ARGV == 0 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local lines = {}
for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  lines[#lines + 1] = 'A ' .. ARGV[i] .. ' ' .. ARGV[i + 1]
end
local sequence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ${SEQUENCE_TTL})
redis.call('SPUBLISH', KEYS[3], sequence .. ' ' .. now .. '\\n' .. table.concat(lines, '\\n'))
return #lines`;

/**
 * KEYS: servers, seen, sequence, admin. Returns the node's time, the sequence number of
 * the last change message, and the whole table: a view applies the messages after that
 * number on top of it.
 */
export const SNAPSHOT_SCRIPT = `${NOW}
return { tostring(now), redis.call('GET', KEYS[3]) or '0', redis.call('HGETALL', KEYS[1]),
  redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[4]) }`;

/** A script and its SHA1, run with EVALSHA and loaded with EVAL when the node lacks it. */
export class RedisScript {
  /** SHA1 of the script text. */
  readonly sha: string;

  constructor(readonly text: string) {
    this.sha = createHash('sha1').update(text).digest('hex');
  }

  /** Run on the node that holds `keys[0]` (a restarted or failed-over node may lack the script: load it then). */
  async run(client: RedisScriptClient, keys: string[], args: string[]): Promise<unknown> {
    const options = { keys, arguments: args };
    try {
      return await client.evalSha(this.sha, options);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(this.text, options);
    }
  }
}

/** The keys of the write script, in its order. */
export function writeKeys(keys: RedisTableKeys): string[] {
  return [keys.servers, keys.seen, keys.sequence, keys.changes];
}

/** The keys of the admin script, in its order. */
export function adminKeys(keys: RedisTableKeys): string[] {
  return [keys.admin, keys.sequence, keys.changes];
}

/** The keys of the snapshot script, in its order. */
export function snapshotKeys(keys: RedisTableKeys): string[] {
  return [keys.servers, keys.seen, keys.sequence, keys.admin];
}
