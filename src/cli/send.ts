/**
 * `heartmonitor send`: emulates mod_heartbeat with fixed counts.
 * @module
 */
import { HeartbeatSender } from '../sender/sender.js';
import { MAX_COUNT } from '../protocol/heartbeat.js';
import { integerOption, parseCommandArgs, positionals, secretFileOption, sleep, stopSignal, UsageError } from './args.js';

/** `heartmonitor send --help`. */
export const SEND_HELP = `Usage: heartmonitor send <addr:port> [<addr:port>...] --ready N --busy N [options]

Send heartbeats like Apache's mod_heartbeat: "v=1&ready=N&busy=N" (plus "&port=P"
when --port is given) every --interval ms, to a multicast group or to unicast addresses.

Options:
  --ready N            idle workers to announce (required)
  --busy N             busy workers to announce (required)
  --port P             service port to announce (omitted by default, as mod_heartbeat does)
  --interval MS        time between heartbeats (default 1000)
  --count N            stop after N heartbeats (default: until SIGINT/SIGTERM)
  --interface IP       interface multicast heartbeats leave through (e.g. 127.0.0.1)
  --source IP          local address to send from (the server's identity)
  --ttl N              multicast TTL (default 1)
  --secret-file PATH   sign heartbeats (&ts=…&sig=…) with the secret in this file
                       (content trimmed), for a listen --secret-file with the same one
  -h, --help           show this help

Example:
  heartmonitor send 239.0.0.1:27999 --interface 127.0.0.1 --ready 75 --busy 0 --count 3
`;

/** Run `heartmonitor send`; resolves with the exit code. */
export async function runSend(args: readonly string[]): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(
    args,
    {
      ready: { type: 'string' },
      busy: { type: 'string' },
      port: { type: 'string' },
      interval: { type: 'string' },
      count: { type: 'string' },
      interface: { type: 'string' },
      source: { type: 'string' },
      ttl: { type: 'string' },
      'secret-file': { type: 'string' },
    },
    'send',
  );
  if (values.help === true) {
    process.stdout.write(SEND_HELP);
    return 0;
  }
  const addresses = positionals('send', rest, 1, Infinity, 'the address to send to, addr:port');
  if (values.ready === undefined || values.busy === undefined) throw new UsageError('send: --ready and --busy are required (see heartmonitor send --help)');
  const ready = integerOption('send', 'ready', values.ready, 0, MAX_COUNT) ?? 0;
  const busy = integerOption('send', 'busy', values.busy, 0, MAX_COUNT) ?? 0;
  const count = integerOption('send', 'count', values.count, 1) ?? Infinity;
  const secret = secretFileOption('send', values['secret-file']);
  let sender: HeartbeatSender;
  try {
    sender = new HeartbeatSender({
      address: addresses,
      status: () => ({ ready, busy }),
      port: integerOption('send', 'port', values.port, 1, 65535),
      interval: integerOption('send', 'interval', values.interval, 1),
      ttl: integerOption('send', 'ttl', values.ttl, 0, 255),
      interface: values.interface,
      localAddress: values.source,
      secret,
    });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`send: ${(error as Error).message}`);
  }
  let failures = 0;
  sender.on('error', (error) => {
    failures++;
    process.stderr.write(`heartmonitor: ${error.message}\n`);
  });
  const { signal, dispose } = stopSignal();
  let sent = 0;
  // Our own ref'd sleep keeps the process alive; the sender's socket does not.
  for (let i = 0; i < count && !signal.aborted; i++) {
    if (i > 0) await sleep(sender.interval, signal);
    if (signal.aborted) break;
    const message = await sender.sendOnce();
    if (message !== undefined) {
      sent++;
      process.stdout.write(`sent ${message} to ${addresses.join(', ')}\n`);
    }
  }
  dispose();
  await sender.stop();
  return sent === 0 && failures > 0 ? 1 : 0;
}
