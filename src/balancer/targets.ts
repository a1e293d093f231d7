/**
 * How operators name a server in `drain()`, `disable()`, `markFailed()`…: a
 * `ServerStatus`, an `ip` (every port on it) or `ip:port` (one server under
 * `keyBy: 'ip:port'`), or anything `parseMember` accepts (`http://10.0.0.1:8080`).
 * @module
 */
import { isIP } from 'node:net';
import { canonicalHost } from '../protocol/address.js';
import { memberKey } from '../picking/member-key.js';
import { serverKey, type KeyBy, type ServerStatus } from '../protocol/server-status.js';

/**
 * The table key a target names, or a bare IP (which under `keyBy: 'ip:port'` covers
 * every port of that IP).
 *
 * @param target - a status, an IP, `ip:port`, `[ipv6]:port` or a member URL
 * @param keyBy - the monitor's identity policy
 * @throws TypeError when the text is none of those
 */
export function targetKey(target: string | ServerStatus, keyBy: KeyBy): string {
  if (typeof target !== 'string') return serverKey(target.ip, target.port, keyBy);
  const text = target.trim();
  const host = canonicalHost(text);
  if (isIP(host) !== 0) return host;
  return memberKey(text, keyBy);
}

/** Whether a key from {@link targetKey} is a bare IP rather than one `ip:port` server. */
export function isBareIp(key: string): boolean {
  return isIP(key) !== 0;
}
