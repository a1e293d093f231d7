/**
 * How operators name a server in `drain()`, `disable()`, `markFailed()`…: a
 * `ServerStatus`, an `ip` (every port on it) or `ip:port` (one server under
 * `keyBy: 'ip:port'`), or anything `parseMember` accepts (`http://10.0.0.1:8080`).
 * @module
 */
import { isIP } from 'node:net';
import { canonicalHost, parseMember, type MemberAddress } from '../protocol/address.js';
import { addressKey } from '../picking/member-key.js';
import { show } from '../validate.js';
import { serverKey, type KeyBy, type ServerStatus } from '../protocol/server-status.js';

/**
 * The table key a target names, or a bare IP (which under `keyBy: 'ip:port'` covers
 * every port of that IP).
 *
 * @param target - a status, an IP, `ip:port`, `[ipv6]:port` or a member URL
 * @param keyBy - the monitor's identity policy
 * @throws TypeError when the target is none of those, or names a host that is not an IP
 *   (the table holds servers by the address they beat from: a host name could never
 *   match, and an operator's `drain('web-1')` must not be taken silently)
 */
export function targetKey(target: string | ServerStatus, keyBy: KeyBy): string {
  const key = lookupKey(target, keyBy);
  if (key === undefined) throw badTarget(target);
  return key;
}

/**
 * {@link targetKey} for lookups (`serverState`, `markFailed`): a well-formed member whose
 * host is a name gives undefined — it names no server in the table — instead of throwing,
 * so a proxy reporting a failure of such a member in its error path never throws there.
 * @throws TypeError when the target has none of the shapes of {@link targetKey}
 */
export function lookupKey(target: string | ServerStatus, keyBy: KeyBy): string | undefined {
  if (typeof target === 'string') {
    const text = target.trim();
    const host = canonicalHost(text);
    if (isIP(host) !== 0) return host;
    let address: MemberAddress;
    try {
      address = parseMember(text);
    } catch {
      throw badTarget(target);
    }
    if (!isServicePort(address.port)) throw badTarget(target);
    return isIP(address.host) === 0 ? undefined : addressKey(address, keyBy);
  }
  if (typeof target !== 'object' || target === null || typeof target.ip !== 'string' || isIP(canonicalHost(target.ip)) === 0 || !isServicePort(target.port)) {
    throw badTarget(target);
  }
  return serverKey(target.ip, target.port, keyBy);
}

/** A port a server can announce (1–65535, as `port=` in a heartbeat). */
function isServicePort(port: unknown): boolean {
  return Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65_535;
}

function badTarget(target: unknown): TypeError {
  return new TypeError(`Expected \`server\` to be an IP, "ip:port", "[ipv6]:port", a member URL with an IP host, or a ServerStatus, got ${show(target)}`);
}

/** Whether a key from {@link targetKey} is a bare IP rather than one `ip:port` server. */
export function isBareIp(key: string): boolean {
  return isIP(key) !== 0;
}
