/**
 * `heartmonitor status`: print an hb.dat file (ours or Apache's) with the weights
 * lbmethod=heartbeat would use for it right now.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { describeCause } from '../errors.js';
import { APACHE_MAX_LASTSEEN, parseHeartbeatFile } from '../stores/hb-file.js';
import { escapeUnprintable } from '../protocol/extra-fields.js';
import { parseCommandArgs, positionals } from './args.js';
import { redisTarget, runRedisStatus } from './redis.js';
import { renderTable, serverRows } from './table.js';

/** `heartmonitor status --help`. */
export const STATUS_HELP = `Usage: heartmonitor status [PATH] [--json]
       heartmonitor status --redis URL [--redis-prefix P] [--json]
       heartmonitor status --redis-cluster URL[,URL…] [--redis-prefix P] [--json]

Print an hb.dat file (written by heartmonitor listen or by Apache's mod_heartmonitor)
as a table, with the weight Apache's lbmethod=heartbeat gives each server: ready, or
ready/4 when busy is 0, and 0 once lastseen reaches 10 s or while the server is
drained or disabled. SHARE is the part of the requests each server gets; STATE is
active, stale, draining or disabled (the last two set by a monitor, Redis tables only).

Arguments:
  PATH                 the file (default logs/hb.dat)

Options:
  --redis URL          read the table shared through Redis instead (redis:// or
                       rediss://), with the MONITOR that reported each server
  --redis-cluster URLS the same through Redis Cluster: comma-separated nodes
                       (redis://10.0.0.1:7000,redis://10.0.0.2:7000); repeatable
  --redis-prefix P     the shared table's name (default heartmonitor)
  --json               print { path, modified, servers, skipped } as JSON
                       ({ redis, table, servers, refused } with a Redis option)
  -h, --help           show this help

Exit codes: 0 printed, 1 the file or Redis could not be read (a cluster node given
as --redis included), 2 bad options.
`;

/** Run `heartmonitor status`; resolves with the exit code. */
export async function runStatus(args: readonly string[]): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(
    args,
    { json: { type: 'boolean' }, redis: { type: 'string' }, 'redis-cluster': { type: 'string', multiple: true }, 'redis-prefix': { type: 'string' } },
    'status',
  );
  if (values.help === true) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const target = redisTarget('status', values);
  if (target !== undefined) {
    positionals('status', rest, 0, 0, '');
    return runRedisStatus(target, values.json === true);
  }
  const [path = 'logs/hb.dat'] = positionals('status', rest, 0, 1, '');
  let text: Buffer;
  let modified: number;
  try {
    [text, modified] = await Promise.all([readFile(path), stat(path).then((info) => info.mtimeMs)]);
  } catch (error) {
    process.stderr.write(`heartmonitor: cannot read ${path}: ${describeCause(error)}\n`);
    return 1;
  }
  const now = Date.now();
  // Apache reads `lastseen` as written and never ages it by the file's age: show its view.
  const { servers, skipped } = parseHeartbeatFile(text, { writtenAt: now });
  const rows = serverRows(servers, now, APACHE_MAX_LASTSEEN * 1000);
  const ageSeconds = Math.max(0, Math.floor((now - modified) / 1000));
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ path, modified: new Date(modified).toISOString(), servers: rows, skipped })}\n`);
    return 0;
  }
  process.stdout.write(`${path}: ${rows.length} server${rows.length === 1 ? '' : 's'}, written ${ageSeconds} s ago\n\n`);
  process.stdout.write(rows.length === 0 ? '(no servers)\n' : renderTable(rows));
  const total = rows.reduce((sum, row) => sum + row.weight, 0);
  if (rows.length > 0 && total === 0) process.stdout.write('\nNo server has weight: Apache answers 503 to every request.\n');
  if (ageSeconds >= 10) {
    process.stdout.write(`\nThe file was last written ${ageSeconds} s ago: is its writer running? Apache keeps trusting these weights; heartmonitor's readers age them by the file's age.\n`);
  }
  // Reasons quote what the file holds: nothing in it may act on the operator's terminal.
  for (const line of skipped) process.stdout.write(`skipped line ${line.line}: ${escapeUnprintable(line.reason)}\n`);
  return 0;
}
