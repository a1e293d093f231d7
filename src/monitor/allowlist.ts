/**
 * Source allowlists: which addresses may announce servers. Heartbeats are unauthenticated
 * UDP, so restricting their sources is the first defence against spoofed origins.
 * @module
 */
import { BlockList, isIP } from 'node:net';
import { show } from '../validate.js';

/** What the `allow` option accepts: CIDR ranges and single IPs, or a ready `BlockList`. */
export type AllowOption = readonly string[] | BlockList;

/** Decides whether a source address may feed the monitor. */
export interface SourceFilter {
  /**
   * @param ip - canonical source IP (IPv4 dotted, IPv6 compressed, optional `%zone`)
   * @returns true when heartbeats from `ip` may be applied
   */
  allows(ip: string): boolean;
}

const EXPECTED = 'a non-empty list of CIDR ranges or IP addresses ("10.0.0.0/8", "fd00::/8", "127.0.0.1"), or a net.BlockList';

/**
 * Build a {@link SourceFilter} from the `allow` option, validating every entry.
 *
 * @param allow - CIDR ranges (`10.0.0.0/8`, `fd00::/8`), single IPs, or a `BlockList`
 *   whose rules name the allowed sources
 * @param option - option name for error messages
 * @throws TypeError / RangeError naming the option and the bad entry
 */
export function createSourceFilter(allow: unknown, option = 'allow'): SourceFilter {
  const list = allow instanceof BlockList ? allow : buildList(allow, option);
  return {
    allows(ip: string): boolean {
      const bare = ip.split('%')[0] ?? '';
      const family = isIP(bare);
      if (family === 0) return false;
      return list.check(bare, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

function buildList(allow: unknown, option: string): BlockList {
  if (!Array.isArray(allow)) throw new TypeError(`Expected \`${option}\` to be ${EXPECTED}, got ${show(allow)}`);
  if (allow.length === 0) throw new RangeError(`Expected \`${option}\` to be ${EXPECTED}, got an empty list (which would refuse every source)`);
  const list = new BlockList();
  for (const entry of allow as unknown[]) {
    const range = parseRange(entry);
    if (range === undefined) throw new TypeError(`Expected \`${option}\` to be ${EXPECTED}, got the entry ${show(entry)}`);
    list.addSubnet(range.network, range.prefix, range.family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

interface Range {
  readonly network: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

function parseRange(entry: unknown): Range | undefined {
  if (typeof entry !== 'string') return undefined;
  const slash = entry.indexOf('/');
  const network = (slash === -1 ? entry : entry.slice(0, slash)).trim();
  const family = isIP(network) as 0 | 4 | 6;
  // Zones make no sense in a range and BlockList rejects them.
  if (family === 0 || network.includes('%')) return undefined;
  const max = family === 4 ? 32 : 128;
  if (slash === -1) return { network, prefix: max, family };
  const prefixText = entry.slice(slash + 1).trim();
  if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > max) return undefined;
  return { network, prefix: Number(prefixText), family };
}
