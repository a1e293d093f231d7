/**
 * What the proxy integrations need of a view (SPEC 3.1): picking a member under a lease.
 * Structural, so the `HeartMonitor` and every other view satisfy it without naming it.
 * @module
 */
import type { BackendMember } from '../protocol/address.js';
import type { Lease, MemberLease } from '../balancer/leases.js';
import { HeartMonitorError } from '../errors.js';

/**
 * The part of a view the integrations use: `acquire(members)` picks one of `members` and
 * opens a lease the caller releases once the request ends. `HeartMonitor` and every view of
 * the table (worker, cluster, file, Redis) offer it.
 */
export interface LeasingView {
  /**
   * Pick one of `members` (or, without members, among all live servers) and open a lease.
   * One wide signature rather than overloads, so that views declaring either shape fit.
   */
  acquire<M extends BackendMember>(members?: readonly M[]): Lease | MemberLease<M> | undefined;
}

/**
 * No member could be picked (none fresh, all failed, drained or disabled): what a proxy
 * answers with `503 Service Unavailable`. `statusCode` is 503 for frameworks that read it.
 */
export class NoMemberError extends HeartMonitorError {
  /** The HTTP status a proxy should answer with. */
  readonly statusCode = 503;

  /**
   * @param members - how many members were offered (undefined: every live server)
   */
  constructor(members: number | undefined) {
    const among = members === undefined ? 'among the live servers' : `among ${members} member${members === 1 ? '' : 's'}`;
    super(`No backend can be picked ${among}: none is fresh and in rotation (answer 503)`, 'HM_NO_MEMBER');
  }
}

/**
 * The origin (`scheme://host:port`) a member stands for: URLs keep their scheme, bare
 * `host:port` and `{ host, port }` are `http`, a missing port is the scheme's default.
 *
 * @param member - a member as passed to `acquire`
 * @throws TypeError when the member is no URL, `host:port` or `{ host, port }`
 */
export function memberOrigin(member: BackendMember): string {
  if (member instanceof URL) return originOf(member, member);
  if (typeof member === 'string') return originOf(parseUrl(member.includes('://') ? member : `http://${member}`, member), member);
  if (typeof member === 'object' && member !== null && typeof member.host === 'string' && member.host !== '') {
    const host = member.host.includes(':') && !member.host.startsWith('[') ? `[${member.host}]` : member.host;
    return originOf(parseUrl(`http://${host}${member.port === undefined ? '' : `:${member.port}`}`, member), member);
  }
  throw new TypeError(`Invalid backend member ${JSON.stringify(member)}: expected a URL, "host:port" or { host, port }`);
}

/** The origin of the server a lease among all servers points to (its heartbeat's ip and port). */
export function serverOrigin(ip: string, port: number): string {
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}

function show(member: BackendMember): string {
  return JSON.stringify(member instanceof URL ? member.href : member);
}

function parseUrl(text: string, member: BackendMember): URL {
  try {
    return new URL(text);
  } catch (cause) {
    throw new TypeError(`Invalid backend member ${show(member)}: not a URL or "host:port"`, { cause });
  }
}

function originOf(url: URL, member: BackendMember): string {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`Invalid backend member ${show(member)}: the scheme must be http or https`);
  }
  return url.origin;
}

/** A lease from {@link LeasingView.acquire}, with or without members. */
export type AnyLease = Lease | MemberLease<BackendMember>;

/** The member a lease is on, or undefined for a lease among all servers. */
export function leaseMember(lease: AnyLease): BackendMember | undefined {
  return 'member' in lease ? lease.member : undefined;
}

/** The origin a lease points to: its member's, or its server's heartbeat address. */
export function leaseOrigin(lease: AnyLease): string {
  const member = leaseMember(lease);
  return member === undefined ? serverOrigin(lease.server.ip, lease.server.port) : memberOrigin(member);
}
