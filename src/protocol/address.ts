/**
 * Address parsing: the `HeartbeatListen addr:port` syntax, backend members, and the one
 * canonical text form of an IP that server identity is based on.
 * @module
 */
import { isIP } from 'node:net';
import { show } from '../validate.js';

/** A parsed `listen` / `address` option. */
export interface SocketAddress {
  /** IP literal without brackets (IPv6 may carry a `%zone`). */
  readonly host: string;
  /** UDP port (0 asks the OS for a free one). */
  readonly port: number;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** True for 224.0.0.0/4 and ff00::/8. */
  readonly multicast: boolean;
}

/** A balancer member: a URL, `host:port` text, or an object. */
export type BackendMember =
  | string
  | URL
  | {
      /** Host of the member: an IP literal matches a server in the table. */
      readonly host: string;
      /** Port (default 80). */
      readonly port?: number | undefined;
    };

/** Host and port a member routes to; `host` is canonical (see {@link canonicalHost}). */
export interface MemberAddress {
  /** Canonical host (an IP in canonical form, or a host name as given). */
  readonly host: string;
  /** Port, the scheme's default when the member names none. */
  readonly port: number;
}

/**
 * Parse `addr:port` (`239.0.0.1:27999`, `[ff15::1]:27999`, `127.0.0.1:0`) the way
 * `HeartbeatListen` does, with Apache's error wording. Host names are not resolved.
 *
 * @param text - the address
 * @param option - option name used in error messages
 * @throws TypeError with Apache's message when the text cannot be used
 */
export function parseSocketAddress(text: unknown, option = 'listen'): SocketAddress {
  // Apache's wording ("multicast address") unless the host is a unicast IP, where it would mislead.
  let noun = 'multicast address';
  const fail = (why: string): never => {
    throw new TypeError(`Invalid \`${option}\` ${show(text)}: ${why.replace('%s', noun)} (expected "ipv4:port" or "[ipv6]:port")`);
  };
  if (typeof text !== 'string') return fail('Unable to parse %s');
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return fail('Unable to parse %s');
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return fail('Unable to parse %s');
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon !== text.indexOf(':')) return fail('Unable to parse %s (put IPv6 addresses in brackets)');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
  }
  const bare = (host.split('%')[0] ?? '').toLowerCase();
  const family = isIP(bare);
  const multicast = family === 4 ? Number(bare.split('.')[0]) >= 224 && Number(bare.split('.')[0]) <= 239 : family === 6 && bare.startsWith('ff');
  if (family !== 0 && !multicast) noun = 'address';
  if (host === '') return fail('No host provided in %s');
  if (portText === undefined || portText === '') return fail('No port provided in %s');
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) return fail('Unable to parse %s (bad port)');
  if (family === 0) return fail('Unable to parse %s (host must be an IP address)');
  if (family === 4 && host.includes('%')) return fail('Unable to parse %s (IPv4 addresses have no zone)');
  return { host, port: Number(portText), family: family as 4 | 6, multicast };
}

/** Longest IPv6 zone id accepted (Linux interface names have at most 15 bytes). */
export const MAX_ZONE_LENGTH = 15;
const ZONE = /^[A-Za-z0-9._-]+$/;

/**
 * Whether `text` is an IP literal a server may be known by: IPv4 dotted quad, or IPv6
 * with an optional zone id (`fe80::1%eth0`) of at most {@link MAX_ZONE_LENGTH} letters,
 * digits, `.`, `_` or `-`. Brackets, names, spaces and control characters are refused, so
 * such text can never reach an hb.dat line, a page or a log as a server's address.
 *
 * @param text - candidate address
 */
export function isIpLiteral(text: unknown): text is string {
  if (typeof text !== 'string' || text.length === 0 || text.length > 45 + 1 + MAX_ZONE_LENGTH) return false;
  const zoneAt = text.indexOf('%');
  if (zoneAt === -1) return isIP(text) !== 0;
  const zone = text.slice(zoneAt + 1);
  return zone.length <= MAX_ZONE_LENGTH && ZONE.test(zone) && isIP(text.slice(0, zoneAt)) === 6;
}

const MAPPED_V4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * The canonical text of a host: brackets removed, lower case, IPv6 compressed the WHATWG
 * way, IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as plain IPv4. Non-IP names are lower-cased.
 *
 * @param host - an IP literal or name
 */
export function canonicalHost(host: string): string {
  let text = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  // A zone (`fe80::1%eth0`) names an interface: keep it verbatim; the URL parser rejects zones.
  const zoneAt = text.indexOf('%');
  if (zoneAt !== -1 && isIP(text) === 6) return canonicalHost(text.slice(0, zoneAt)) + text.slice(zoneAt);
  text = text.toLowerCase();
  const mapped = MAPPED_V4.exec(text);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (isIP(text) === 6) {
    // The URL parser serialises IPv6 in the one compressed form inet_ntop also produces.
    const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    return canonical.startsWith('::ffff:') ? canonicalHost(mappedToDotted(canonical)) : canonical;
  }
  return text;
}

/** Canonical form of a datagram's source address (already inet_ntop text, so cheap). */
export function canonicalSource(address: string): string {
  if (address.length > 7 && address.charCodeAt(0) === 58 /* : */) {
    const mapped = MAPPED_V4.exec(address);
    if (mapped?.[1] !== undefined) return mapped[1];
  }
  return address;
}

function mappedToDotted(text: string): string {
  const [high = '0', low = '0'] = text.slice('::ffff:'.length).split(':');
  const a = parseInt(high, 16);
  const b = parseInt(low, 16);
  return `::ffff:${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
}

const DEFAULT_SCHEME_PORTS: Readonly<Record<string, number>> = { 'http:': 80, 'ws:': 80, 'https:': 443, 'wss:': 443 };

/**
 * Where a balancer member points: `http://10.0.0.1:8080`, `10.0.0.1:8080`,
 * `[::1]:8080`, a `URL`, or `{ host, port }`. A missing port is the scheme's default (80).
 *
 * @param member - the member
 * @throws TypeError when the member has none of those shapes
 */
export function parseMember(member: BackendMember): MemberAddress {
  if (member instanceof URL) return fromUrl(member);
  if (typeof member === 'string') {
    if (member.includes('://')) {
      let url: URL;
      try {
        url = new URL(member);
      } catch (cause) {
        throw new TypeError(`Invalid backend member ${show(member)}: not a URL`, { cause });
      }
      return fromUrl(url);
    }
    const parsed = splitHostPort(member);
    if (parsed === undefined) throw new TypeError(`Invalid backend member ${show(member)}: expected "host:port", "[ipv6]:port" or a URL`);
    return parsed;
  }
  if (typeof member === 'object' && member !== null && typeof member.host === 'string' && member.host !== '') {
    const port = member.port ?? 80;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`Invalid backend member port ${show(member.port)}`);
    return { host: canonicalHost(member.host), port };
  }
  throw new TypeError(`Invalid backend member ${show(member)}: expected a URL, "host:port" or { host, port }`);
}

function fromUrl(url: URL): MemberAddress {
  const port = url.port === '' ? (DEFAULT_SCHEME_PORTS[url.protocol] ?? 80) : Number(url.port);
  return { host: canonicalHost(url.hostname), port };
}

function splitHostPort(text: string): MemberAddress | undefined {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return undefined;
    const rest = text.slice(close + 1);
    if (rest !== '' && !/^:[0-9]{1,5}$/.test(rest)) return undefined;
    return { host: canonicalHost(text.slice(1, close)), port: rest === '' ? 80 : Number(rest.slice(1)) };
  }
  if (isIP(text) === 6) return { host: canonicalHost(text), port: 80 };
  const colon = text.indexOf(':');
  if (colon === -1) return text === '' ? undefined : { host: canonicalHost(text), port: 80 };
  const portText = text.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535 || colon === 0) return undefined;
  return { host: canonicalHost(text.slice(0, colon)), port: Number(portText) };
}
