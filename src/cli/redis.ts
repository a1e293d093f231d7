/**
 * The CLI's Redis side: `listen --redis URL` shares the table through a RedisStore,
 * `status --redis URL` prints the shared table with the monitor behind each server;
 * `--redis-cluster URL[,URL…]` does the same through Redis Cluster. The `redis` package is
 * loaded only here, and only when one of these options is given.
 * @module
 */
import type * as RedisModule from 'redis';
import type { createClient as CreateClient, createCluster as CreateCluster } from 'redis';
import { RedisStore } from '../stores/redis/redis-store.js';
import { DEFAULT_REDIS_PREFIX, tableKeys } from '../stores/redis/keys.js';
import type { RedisViewClient } from '../stores/redis/client.js';
import { sleep, UsageError } from './args.js';
import { renderTable, serverRows } from './table.js';

type Client = ReturnType<typeof CreateClient>;
type Cluster = ReturnType<typeof CreateCluster>;

/** Where the shared table is: one Redis server, or the root nodes of a Redis Cluster. */
export interface RedisTarget {
  /** `redis://…` or `rediss://…` of a single server; undefined for a cluster. */
  readonly url?: string;
  /** Root nodes of a cluster (any reachable one is enough to find the others). */
  readonly cluster?: readonly string[];
  /** The table's name, checked. */
  readonly prefix: string;
}

/** Longest wait for a pending connect before the client is destroyed (node-redis leaves the socket open otherwise). */
const SETTLE_MS = 2000;
/** `status`: longest wait for Redis to answer. */
const STATUS_TIMEOUT_MS = 3000;
/** `listen --redis-cluster`: retry interval while no root node answers. */
const CLUSTER_RETRY_MS = 1000;

/**
 * `redis://…` or `rediss://…` (TLS) that node-redis can parse — a URL, with its
 * percent-escaped user and password decodable — or a usage error.
 */
function checkUrl(command: string, option: string, url: string): string {
  const bad = (): UsageError => new UsageError(`${command}: ${option} must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  if (!/^rediss?:\/\/[^/]/.test(url)) throw bad();
  try {
    const parsed = new URL(url);
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    throw bad();
  }
  return url;
}

/**
 * Check the Redis options before anything connects: `--redis URL` or `--redis-cluster
 * URL[,URL…]` (repeatable; not both), and `--redis-prefix`.
 * @returns undefined when neither option is given
 * @throws UsageError naming the option
 */
export function redisTarget(command: string, values: { redis?: string; 'redis-cluster'?: string[]; 'redis-prefix'?: string }): RedisTarget | undefined {
  const { redis: url, 'redis-cluster': clusterValues, 'redis-prefix': prefixValue } = values;
  if (url === undefined && clusterValues === undefined) {
    if (prefixValue !== undefined) throw new UsageError(`${command}: --redis-prefix needs --redis or --redis-cluster`);
    return undefined;
  }
  if (url !== undefined && clusterValues !== undefined) throw new UsageError(`${command}: give --redis URL (one server) or --redis-cluster URL[,URL…] (a cluster's nodes), not both`);
  const prefix = prefixValue ?? DEFAULT_REDIS_PREFIX;
  try {
    tableKeys(prefix);
  } catch {
    throw new UsageError(`${command}: --redis-prefix must be 1-100 characters of letters, digits and _.:/@- (no braces, no spaces), got ${JSON.stringify(prefix)}`);
  }
  if (url !== undefined) return { url: checkUrl(command, '--redis', url), prefix };
  const nodes = (clusterValues ?? []).flatMap((value) => value.split(',')).map((node) => node.trim()).filter((node) => node !== '');
  if (nodes.length === 0) throw new UsageError(`${command}: --redis-cluster needs at least one redis:// or rediss:// URL`);
  for (const node of nodes) checkUrl(command, '--redis-cluster', node);
  // Discovered nodes are reached with the first URL's TLS setting: a list that mixes them
  // would send credentials in clear to some nodes.
  if (new Set(nodes.map((node) => node.startsWith('rediss:'))).size > 1) {
    throw new UsageError(`${command}: --redis-cluster URLs must all be redis:// or all rediss:// (TLS), got ${JSON.stringify(nodes.join(','))}`);
  }
  return { cluster: nodes, prefix };
}

/** How the target is printed: URLs without passwords, and the table's name. */
export function describeTarget(target: RedisTarget): string {
  return target.cluster === undefined ? redactUrl(target.url ?? '') : `cluster ${target.cluster.map(redactUrl).join(',')}`;
}

/** A client, and its connection: started by `connect()`, settled and closed by `close()`. */
interface Opened {
  readonly client: RedisViewClient & { destroy(): void };
  /** Start connecting (retried until `close()`); resolves once connected. */
  connect(): Promise<void>;
  /**
   * Wait (bounded) for a pending connect, then destroy the client: destroying a client whose
   * socket is still connecting leaves the socket open, and the process would never end.
   */
  close(): Promise<void>;
  /** `INFO cluster` says this single server is a cluster node (the table would only get MOVED errors). */
  isClusterNode(): Promise<boolean>;
}

async function loadRedis(command: string, option: string): Promise<typeof RedisModule> {
  try {
    return await import('redis');
  } catch {
    throw new UsageError(`${command}: ${option} needs the "redis" package: npm install redis`);
  }
}

const reconnectStrategy = (retries: number): number => Math.min(100 * 2 ** retries, 2000);

/** A node-redis client (or cluster) for `target` that reconnects forever; nothing connects until `connect()`. */
async function openClient(command: string, target: RedisTarget, onError: (error: Error) => void): Promise<Opened> {
  const redis = await loadRedis(command, target.cluster === undefined ? '--redis' : '--redis-cluster');
  let connecting: Promise<unknown> | undefined;
  /** Aborted by close(): cuts a cluster's retry wait short. */
  const closing = new AbortController();
  /** Wait for `attempt` to settle, at most SETTLE_MS. */
  const settle = async (attempt: Promise<unknown> | undefined): Promise<void> => {
    if (attempt === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([attempt.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, SETTLE_MS)))]);
    clearTimeout(timer);
  };
  if (target.cluster === undefined) {
    const client: Client = redis.createClient({ url: target.url, socket: { reconnectStrategy } });
    client.on('error', onError);
    // Whether a connection attempt has a socket open: between a failed attempt ('error') and
    // the next ('reconnecting') the client only waits, and destroying it then is safe at once.
    let attempt: { done: Promise<void>; end: () => void } | undefined;
    const startAttempt = (): void => {
      let end = (): void => undefined;
      const done = new Promise<void>((resolve) => (end = resolve));
      attempt = { done, end };
    };
    const endAttempt = (): void => {
      attempt?.end();
      attempt = undefined;
    };
    client.on('reconnecting', startAttempt);
    client.on('error', endAttempt);
    client.on('ready', endAttempt);
    return {
      client,
      connect: () => {
        if (connecting === undefined) {
          startAttempt();
          connecting = client.connect();
        }
        return connecting.then(() => undefined);
      },
      close: async () => {
        closing.abort();
        await settle(attempt?.done);
        if (client.isOpen) client.destroy();
      },
      isClusterNode: async () => /^cluster_enabled:1\b/m.test(await client.info('cluster')),
    };
  }
  // Nodes found through the root nodes get the first URL's credentials and TLS.
  const first = new URL(target.cluster[0] ?? '');
  const cluster: Cluster = redis.createCluster({
    rootNodes: target.cluster.map((url) => ({ url })),
    defaults: {
      ...(first.username === '' ? {} : { username: decodeURIComponent(first.username) }),
      ...(first.password === '' ? {} : { password: decodeURIComponent(first.password) }),
      socket: first.protocol === 'rediss:' ? { tls: true, reconnectStrategy } : { reconnectStrategy },
    },
  });
  cluster.on('error', onError);
  // A cluster's first connect fails when no root node answers (a single client would retry):
  // retry it here. The wait between tries holds the process (nothing else may), and close() cuts it short.
  let attempt: Promise<unknown> | undefined;
  const connectCluster = async (): Promise<void> => {
    for (;;) {
      try {
        attempt = cluster.connect();
        await attempt;
        return;
      } catch (error) {
        attempt = undefined;
        if (closing.signal.aborted) throw error;
        onError(error instanceof Error ? error : new Error(String(error)));
        await sleep(CLUSTER_RETRY_MS, closing.signal);
        if (closing.signal.aborted) throw new Error('closed while connecting', { cause: error });
      }
    }
  };
  return {
    client: cluster,
    connect: () => {
      connecting ??= connectCluster();
      return connecting.then(() => undefined);
    },
    close: async () => {
      closing.abort();
      await settle(attempt);
      if (cluster.isOpen) cluster.destroy();
    },
    isClusterNode: () => Promise.resolve(false),
  };
}

/** What `listen --redis` needs: the store, when to connect, a fatal error, and a bounded close. */
export interface ListenRedis {
  readonly store: RedisStore;
  /** Start connecting (the monitor serves from memory until Redis answers). */
  start(): void;
  /** Rejects when the target cannot hold the table (a cluster node given as `--redis`); never resolves otherwise. */
  readonly fatal: Promise<never>;
  /** Settle a pending connect (bounded) and destroy the client. */
  close(): Promise<void>;
}

/**
 * A RedisStore for `listen --redis` / `--redis-cluster`. Redis need not be up: the monitor
 * serves from memory and writes its table once Redis answers. Nothing connects until
 * `start()`, so a command line that fails later (a taken port) leaves no socket behind.
 */
export async function redisStoreFor(target: RedisTarget, onError: (error: Error) => void): Promise<ListenRedis> {
  const opened = await openClient('listen', target, onError);
  const store = new RedisStore({ client: opened.client, prefix: target.prefix });
  let fail: (error: Error) => void = () => undefined;
  const fatal = new Promise<never>((_, reject) => (fail = reject));
  fatal.catch(() => undefined);
  return {
    store,
    start: () => {
      opened.connect().then(
        async () => {
          if (await opened.isClusterNode().catch(() => false)) fail(new Error(clusterHint(target)));
        },
        () => undefined,
      );
    },
    fatal,
    close: () => opened.close(),
  };
}

function clusterHint(target: RedisTarget): string {
  const url = redactUrl(target.url ?? '');
  return `${url} is a Redis Cluster node (cluster_enabled:1): use --redis-cluster ${url}[,URL…] to reach the table`;
}

/** `heartmonitor status --redis URL` / `--redis-cluster URL[,URL…]`: the shared table, with the reporting monitor of each server. */
export async function runRedisStatus(target: RedisTarget, json: boolean): Promise<number> {
  const errors: Error[] = [];
  const opened = await openClient('status', target, (error) => errors.push(error));
  let timer: NodeJS.Timeout | undefined;
  try {
    // Not unref'd: while a cluster waits between tries, this timer is what keeps the process.
    const timeout = new Promise((_, reject) => {
      const noAnswer = (): void => reject(errors.at(-1) ?? new Error(`no answer within ${STATUS_TIMEOUT_MS} ms`));
      timer = setTimeout(noAnswer, STATUS_TIMEOUT_MS);
    });
    await Promise.race([opened.connect(), timeout]);
    clearTimeout(timer);
    if (await opened.isClusterNode()) throw new Error(clusterHint(target));
    const view = await RedisStore.attach({ client: opened.client, prefix: target.prefix });
    await view.close();
    const now = Date.now();
    const records = view.records();
    const monitors = new Map(records.map((record) => [`${record.server.ip} ${record.server.port}`, record.monitor]));
    // The view's servers carry their administrative state: drained and disabled ones weigh 0.
    const rows = serverRows(view.servers(), now).map((row) => ({ ...row, monitor: monitors.get(`${row.ip} ${row.port}`) ?? '' }));
    const table = `{${target.prefix}}`;
    const where = describeTarget(target);
    if (json) {
      process.stdout.write(`${JSON.stringify({ redis: where, table, servers: rows, refused: view.metrics().records_refused })}\n`);
      return 0;
    }
    process.stdout.write(`${where} ${table}: ${rows.length} server${rows.length === 1 ? '' : 's'}\n\n`);
    process.stdout.write(rows.length === 0 ? '(no servers)\n' : renderTable(rows));
    const refused = view.metrics().records_refused;
    if (refused > 0) process.stdout.write(`\n${refused} record(s) in Redis could not be parsed and were left out.\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`heartmonitor: cannot read the table from ${describeTarget(target)}: ${(error as Error).message}\n`);
    return 1;
  } finally {
    clearTimeout(timer);
    await opened.close();
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
