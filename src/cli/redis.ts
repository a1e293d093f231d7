/**
 * The CLI's Redis side: `listen --redis URL` shares the table through a RedisStore,
 * `status --redis URL` prints the shared table with the monitor behind each server. The
 * `redis` package is loaded only here, and only when one of these options is given.
 * @module
 */
import type { createClient as CreateClient } from 'redis';
import { RedisStore } from '../stores/redis/redis-store.js';
import { DEFAULT_REDIS_PREFIX } from '../stores/redis/keys.js';
import { UsageError } from './args.js';
import { renderTable, serverRows } from './table.js';

type Client = ReturnType<typeof CreateClient>;

/** `redis://…` or `rediss://…` (TLS), or a usage error. */
function checkUrl(command: string, url: string): string {
  if (!/^rediss?:\/\//.test(url)) throw new UsageError(`${command}: --redis must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  return url;
}

/** A node-redis client for `url` that retries forever; connecting is started, not awaited. */
async function openClient(command: string, url: string, onError: (error: Error) => void): Promise<{ client: Client; connected: Promise<unknown> }> {
  let redis: { createClient: typeof CreateClient };
  try {
    redis = await import('redis');
  } catch {
    throw new UsageError(`${command}: --redis needs the "redis" package: npm install redis`);
  }
  const client = redis.createClient({ url: checkUrl(command, url), socket: { reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) } });
  client.on('error', onError);
  const connected = client.connect();
  connected.catch(() => undefined);
  return { client, connected };
}

/**
 * A RedisStore for `listen --redis`. Redis need not be up: the monitor serves from memory
 * and writes its table once Redis answers.
 */
export async function redisStoreFor(url: string, prefix: string | undefined, onError: (error: Error) => void): Promise<{ store: RedisStore; close: () => void }> {
  const { client } = await openClient('listen', url, onError);
  let store: RedisStore;
  try {
    store = new RedisStore({ client, prefix: prefix ?? DEFAULT_REDIS_PREFIX });
  } catch (error) {
    client.destroy();
    throw new UsageError(`listen: ${(error as Error).message}`);
  }
  return { store, close: () => client.destroy() };
}

/** `heartmonitor status --redis URL`: the shared table, with the reporting monitor of each server. */
export async function runRedisStatus(url: string, prefix: string | undefined, json: boolean): Promise<number> {
  const errors: Error[] = [];
  const { client, connected } = await openClient('status', url, (error) => errors.push(error));
  try {
    const timeout = new Promise((_, reject) => setTimeout(() => reject(errors.at(-1) ?? new Error('no answer within 3 s')), 3000).unref());
    await Promise.race([connected, timeout]);
    const view = await RedisStore.attach({ client, prefix: prefix ?? DEFAULT_REDIS_PREFIX });
    await view.close();
    const now = Date.now();
    const records = view.records();
    const monitors = new Map(records.map((record) => [`${record.server.ip} ${record.server.port}`, record.monitor]));
    const admin = new Map(records.map((record) => [`${record.server.ip} ${record.server.port}`, record.admin]));
    const rows = serverRows(view.servers(), now).map((row) => ({
      ...row,
      monitor: monitors.get(`${row.ip} ${row.port}`) ?? '',
      ...(admin.get(`${row.ip} ${row.port}`) === undefined ? {} : { state: admin.get(`${row.ip} ${row.port}`) }),
    }));
    const table = `{${prefix ?? DEFAULT_REDIS_PREFIX}}`;
    if (json) {
      process.stdout.write(`${JSON.stringify({ redis: redactUrl(url), table, servers: rows, refused: view.metrics().records_refused })}\n`);
      return 0;
    }
    process.stdout.write(`${redactUrl(url)} ${table}: ${rows.length} server${rows.length === 1 ? '' : 's'}\n\n`);
    process.stdout.write(rows.length === 0 ? '(no servers)\n' : renderTable(rows));
    const refused = view.metrics().records_refused;
    if (refused > 0) process.stdout.write(`\n${refused} record(s) in Redis could not be parsed and were left out.\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`heartmonitor: cannot read the table from ${redactUrl(url)}: ${(error as Error).message}\n`);
    return 1;
  } finally {
    client.destroy();
  }
}

/** The URL without its password, for output. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
