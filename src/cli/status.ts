/**
 * `heartmonitor status`: print an hb.dat file with the weights lbmethod=heartbeat uses.
 * @module
 */
import { parseCommandArgs } from './args.js';

/** `heartmonitor status --help`. */
export const STATUS_HELP = `Usage: heartmonitor status [PATH] [--json]
`;

/** Run `heartmonitor status`; resolves with the exit code. */
export async function runStatus(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { json: { type: 'boolean' } }, 'status');
  process.stdout.write(STATUS_HELP);
  return Promise.resolve(values.help === true ? 0 : 1);
}
