/**
 * `heartmonitor listen`: the drop-in for mod_heartmonitor. Receives heartbeats, writes the
 * store (hb.dat by default) and shows the live table.
 * @module
 */
import { networkInterfaces } from 'node:os';
import { parseSocketAddress } from '../protocol/address.js';
import { HeartMonitor } from '../monitor/monitor.js';
import { DEFAULT_STORAGE } from '../monitor/options.js';
import { MAX_TIMER_DELAY } from '../validate.js';
import { FileStore } from '../stores/file-store.js';
import { heartbeatWeight } from '../picking/selection.js';
import type { ServerStatus } from '../protocol/server-status.js';
import { integerOption, parseCommandArgs, positionals, secretFileOption, sleep, stopSignal, UsageError } from './args.js';
import { RateLimitedLog } from './rate-limited-log.js';
import { describeTarget, redisStoreFor, redisTarget } from './redis.js';
import { renderTable, repaint, serverRows } from './table.js';

/** `heartmonitor listen --help`. */
export const LISTEN_HELP = `Usage: heartmonitor listen <addr:port> [options]

Receive heartbeats (mod_heartbeat or HeartbeatSender) and keep the live server table:
the drop-in for Apache's mod_heartmonitor. A multicast group is joined; a unicast
address is bound. Writes hb.dat for Apache's lbmethod=heartbeat by default.

Options:
  --interface IP       local interface for the multicast membership (e.g. 127.0.0.1)
  --max-servers N      HeartbeatMaxServers: 0 = file storage (default), >= 10 = N slots
  --storage PATH       HeartbeatStorage: hb.dat path (default logs/hb.dat)
  --flush-interval MS  write the store every MS ms (default 5000, Apache's period);
                       Apache's lbmethod=heartbeat picks from the last write, so 1000
                       keeps its picks one heartbeat fresh
  --allow CIDR         accept heartbeats only from this range or IP (repeatable);
                       others are counted as rejected and never stored
  --secret-file PATH   require heartbeats signed with the secret in this file
                       (content trimmed; send --secret-file signs them)
  --redis URL          share the table through Redis (redis:// or rediss://) instead
                       of hb.dat, for proxies on other hosts; Redis may be down at
                       start (the table is written once it answers)
  --redis-cluster URLS the same through Redis Cluster: a comma-separated list of
                       nodes (redis://10.0.0.1:7000,redis://10.0.0.2:7000), any one
                       that answers finds the rest; repeatable; not with --redis
  --redis-prefix P     the shared table's name (default heartmonitor)
  --json               print one JSON object per change instead of text
  -h, --help           show this help

The table is redrawn in place when stdout is a terminal; otherwise one line is printed
per change (new server, changed counts, stale, removed). SIGINT/SIGTERM flush the store
and exit 0. Exit code 2 for a bad option, 1 when it cannot listen (the address is taken)
or when --redis names a cluster node (use --redis-cluster).

Example:
  heartmonitor listen 239.0.0.1:27999 --interface 127.0.0.1 --storage /run/hb.dat
`;

const LOG_INTERVAL_MS = 10_000;
/** Longest wait for the final flush on shutdown: a store that hangs (a dead NFS mount…) must not keep the process. */
export const SHUTDOWN_TIMEOUT_MS = 5_000;
const REDRAW_MS = 500;

/** Run `heartmonitor listen`; resolves with the exit code. */
export async function runListen(args: readonly string[]): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(
    args,
    {
      interface: { type: 'string' },
      'max-servers': { type: 'string' },
      storage: { type: 'string' },
      'flush-interval': { type: 'string' },
      allow: { type: 'string', multiple: true },
      'secret-file': { type: 'string' },
      redis: { type: 'string' },
      'redis-cluster': { type: 'string', multiple: true },
      'redis-prefix': { type: 'string' },
      json: { type: 'boolean' },
    },
    'listen',
  );
  if (values.help === true) {
    process.stdout.write(LISTEN_HELP);
    return 0;
  }
  const [listen] = positionals('listen', rest, 1, 1, 'the address to listen on, addr:port');
  const maxServers = integerOption('listen', 'max-servers', values['max-servers'], 0) ?? 0;
  const storage = values.storage ?? DEFAULT_STORAGE;
  // Node's timers cap at 2^31-1 ms (the monitor's own limit for flushInterval).
  const flushInterval = integerOption('listen', 'flush-interval', values['flush-interval'], 1, MAX_TIMER_DELAY);
  const secret = secretFileOption('listen', values['secret-file']);
  const errors = new RateLimitedLog(LOG_INTERVAL_MS, (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  // Every option is checked before a Redis client exists: a bad one ends the command at once.
  const target = redisTarget('listen', values);
  try {
    checkInterfaceOption(listen as string, values.interface);
  } catch (error) {
    throw new UsageError(`listen: ${(error as Error).message}`);
  }
  const shared = target === undefined ? undefined : await redisStoreFor(target, (error) => errors.log(`redis: ${error.message}`));
  let monitor: HeartMonitor;
  try {
    monitor = new HeartMonitor({ listen, interface: values.interface, maxServers, storage, flushInterval, allow: values.allow, secret, store: shared?.store });
  } catch (error) {
    await shared?.close();
    throw new UsageError(`listen: ${(error as Error).message}`);
  }
  // A storage path that cannot be written fails now, not at the first flush five seconds in.
  if (monitor.store instanceof FileStore) {
    try {
      await monitor.store.checkWritable();
    } catch (error) {
      process.stderr.write(`heartmonitor: listen: --storage: ${(error as Error).message}\n`);
      return 1;
    }
  }

  const json = values.json === true;
  const live = process.stdout.isTTY && !json;
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  const warnings = new RateLimitedLog(LOG_INTERVAL_MS, (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  monitor.on('malformed', ({ from, reason }) => warnings.log(`malformed heartbeat from ${from.address}: ${reason}`));
  monitor.on('rejected', ({ from, reason }) => warnings.log(`rejected heartbeat from ${from.address}: ${reason}`));
  monitor.on('error', (error) => errors.log(`error: ${error.message}`));

  const report = (event: string, server: ServerStatus): void => {
    if (live) return;
    const weight = event === 'stale' || event === 'remove' ? 0 : heartbeatWeight(server);
    if (json) {
      out(JSON.stringify({ time: new Date().toISOString(), event, ip: server.ip, port: server.port, ready: server.ready, busy: server.busy, weight, lastSeen: new Date(server.lastSeen).toISOString() }));
    } else {
      out(`${new Date().toISOString()} ${event.padEnd(6)} ${server.ip} port=${server.port} ready=${server.ready} busy=${server.busy} weight=${weight}`);
    }
  };
  const last = new Map<string, string>();
  const identity = (server: ServerStatus): string => `${server.ip} ${server.port}`;
  monitor.on('add', (server) => report('add', server));
  monitor.on('update', (server) => {
    const counts = `${server.ready}/${server.busy}`;
    const before = last.get(identity(server));
    last.set(identity(server), counts);
    if (before !== undefined && before !== counts) report('update', server);
  });
  monitor.on('stale', (server) => {
    last.set(identity(server), 'stale');
    report('stale', server);
  });
  monitor.on('remove', (server) => {
    last.delete(identity(server));
    report('remove', server);
  });

  const { signal, dispose } = stopSignal();
  // Stopped by a signal, or by a fatal Redis fault (a cluster node given as --redis).
  const stop = new AbortController();
  signal.addEventListener('abort', () => stop.abort());
  let fatal: Error | undefined;
  shared?.fatal.catch((error: Error) => {
    fatal = error;
    stop.abort();
  });
  shared?.start();
  try {
    await monitor.listen();
  } catch (error) {
    dispose();
    await closeWithin(monitor, SHUTDOWN_TIMEOUT_MS);
    await shared?.close();
    process.stderr.write(`heartmonitor: ${(error as Error).message}\n`);
    return 1;
  }
  const address = monitor.address();
  const where = target !== undefined && shared !== undefined ? `sharing the table through Redis as ${shared.store.keys.servers}${target.cluster === undefined ? '' : ` on ${describeTarget(target)}`}` : maxServers === 0 ? `writing ${storage}` : `keeping ${maxServers} slots in memory`;
  const banner = `listening on ${listen}${values.interface === undefined ? '' : ` (interface ${values.interface})`}, bound port ${address?.port}, ${where}`;
  if (json) {
    // Where the table goes: hb.dat, memory slots, or a Redis table (never a file it does not write).
    const output = shared !== undefined && target !== undefined ? { storage: null, redis: describeTarget(target), table: shared.store.keys.servers } : { storage: maxServers === 0 ? storage : null };
    out(JSON.stringify({ time: new Date().toISOString(), event: 'listening', address: listen, port: address?.port, ...output }));
  } else if (!live) out(`${new Date().toISOString()} ${banner}`);

  for (let first = true; !stop.signal.aborted; first = false) {
    if (live) process.stdout.write(repaint(`${banner}\n\n${renderTable(serverRows(monitor.servers(), Date.now()))}\nCtrl-C to stop\n`, first));
    warnings.tick();
    errors.tick();
    await sleep(REDRAW_MS, stop.signal);
  }
  dispose();
  if (fatal !== undefined) {
    await closeWithin(monitor, SHUTDOWN_TIMEOUT_MS);
    await shared?.close();
    process.stderr.write(`heartmonitor: listen: ${fatal.message}\n`);
    return 1;
  }
  // Final flush of the store, bounded: whatever the store does, a stop request ends the process.
  const closed = await closeWithin(monitor, SHUTDOWN_TIMEOUT_MS);
  await shared?.close();
  if (!closed) {
    process.stderr.write(`heartmonitor: listen: the store did not finish its final write within ${SHUTDOWN_TIMEOUT_MS} ms; stopping anyway\n`);
    return 1;
  }
  const stats = monitor.stats();
  const summary = `stopped: ${stats.received} heartbeats received, ${stats.accepted} accepted, ${stats.malformed} malformed, ${stats.rejected} rejected`;
  if (json) out(JSON.stringify({ time: new Date().toISOString(), event: 'stopped', ...stats }));
  else out(live ? `\n${summary}` : `${new Date().toISOString()} ${summary}`);
  return 0;
}

/**
 * close() the monitor; false when it did not finish within `ms`.
 * @internal
 */
export async function closeWithin(monitor: HeartMonitor, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([monitor.close().then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `--interface` names the multicast membership's interface: refuse it with a unicast
 * address (it would be ignored) and, for an IPv4 group, an address this machine does not have.
 */
function checkInterfaceOption(listen: string, iface: string | undefined): void {
  if (iface === undefined) return;
  const address = parseSocketAddress(listen);
  if (!address.multicast) throw new Error(`--interface applies to a multicast address only; ${listen} is unicast (bind it directly)`);
  if (address.family !== 4) return;
  const local = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address));
  if (!local.includes(iface)) throw new Error(`--interface ${JSON.stringify(iface)} is not an IPv4 address of this machine (have: ${local.filter((a) => !a.includes(':')).join(', ')})`);
}
