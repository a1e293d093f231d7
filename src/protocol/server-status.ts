/**
 * The record kept for every origin server, and how a server is identified.
 * @module
 */

/** The live state of one origin server, as the last heartbeat reported it. */
export interface ServerStatus {
  /** Source IP of the heartbeat, canonical text (IPv4 dotted, IPv6 compressed). */
  readonly ip: string;
  /** Service port (`port` field, default 80). */
  readonly port: number;
  /** Idle workers ready for a request. */
  readonly ready: number;
  /** Workers doing anything else. */
  readonly busy: number;
  /** Wall-clock time of the last heartbeat, in ms since the epoch. */
  readonly lastSeen: number;
  /** Extra fields of the heartbeat (keys lower-cased), when there were any. */
  readonly fields?: Readonly<Record<string, string>>;
  /**
   * Present in `monitor.servers()` only when the server is out of normal rotation: set by
   * `drain()` / `disable()`, or `'failed'` after failure feedback. See `monitor.describe()`.
   */
  readonly state?: 'draining' | 'disabled' | 'failed';
  /**
   * Wall-clock time (ms since the epoch) the server last entered rotation, by the monitor's
   * account: its first heartbeat, its first after it went stale, or `enable()` after a
   * drain or disable. It travels with the data (SlotStore, cluster share, hb.dat) so every
   * view starts a server's slow-start ramp from the monitor's moment instead of from the
   * moment the view first saw it. Absent in records of older writers and of Apache's
   * hb.dat; views then ramp from first sight.
   */
  readonly inRotationSince?: number;
}

/**
 * How servers are told apart: `'ip'` (Apache: one entry per source IP, so two origins on
 * one IP overwrite each other) or `'ip:port'` (one entry per advertised service port).
 */
export type KeyBy = 'ip' | 'ip:port';

/**
 * The identity of a server under a {@link KeyBy} policy: `ip`, or `ip:port`
 * (`[ipv6]:port` for IPv6).
 *
 * @param ip - canonical IP text
 * @param port - service port
 * @param keyBy - identity policy
 */
export function serverKey(ip: string, port: number, keyBy: KeyBy): string {
  if (keyBy === 'ip') return ip;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
