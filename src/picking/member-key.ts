/**
 * The one rule that matches a balancer member to a table key: the member's host under
 * `keyBy: 'ip'` (Apache matches by host only), its host and port under `keyBy: 'ip:port'`.
 * Every picker — the pure `pickBackend`, the tables of the monitor and the views, the
 * operator's targets — goes through {@link memberKey} or a {@link MemberKeys} cache.
 * @module
 */
import { parseMember, type BackendMember, type MemberAddress } from '../protocol/address.js';
import { serverKey, type KeyBy } from '../protocol/server-status.js';
import { show } from '../validate.js';

/** Parsed strings kept at most; a proxy's member lists are far fewer, a flood of new strings just restarts the cache. */
const STRING_CACHE_LIMIT = 10_000;

/**
 * The table key of a parsed member.
 * @internal
 */
export function addressKey(address: MemberAddress, keyBy: KeyBy): string {
  return keyBy === 'ip' ? address.host : serverKey(address.host, address.port, keyBy);
}

/**
 * The table key `member` names (parsed each call: see {@link MemberKeys} for picks).
 * @throws TypeError when the member cannot be parsed
 * @internal
 */
export function memberKey(member: BackendMember, keyBy: KeyBy): string {
  return addressKey(parseMember(member), keyBy);
}

/**
 * {@link memberKey} with the parse cached: picks name the same members again and again,
 * and parsing a URL costs more than the rest of a pick.
 * @internal
 */
export class MemberKeys {
  /** Strings by value (bounded: see STRING_CACHE_LIMIT). */
  private readonly strings = new Map<string, MemberAddress>();
  /** URL and `{ host, port }` objects by identity, held weakly so members can be dropped. */
  private readonly objects = new WeakMap<object, MemberAddress>();

  constructor(private readonly keyBy: KeyBy) {}

  /** The table key `member` names. */
  keyOf(member: BackendMember): string {
    return addressKey(this.addressOf(member), this.keyBy);
  }

  private addressOf(member: BackendMember): MemberAddress {
    if (typeof member === 'string') {
      let address = this.strings.get(member);
      if (address === undefined) {
        address = parseMember(member);
        if (this.strings.size >= STRING_CACHE_LIMIT) this.strings.clear();
        this.strings.set(member, address);
      }
      return address;
    }
    let address = this.objects.get(member);
    if (address === undefined) {
      address = parseMember(member);
      this.objects.set(member, address);
    }
    return address;
  }
}

/**
 * Throw a TypeError unless `members` is an array or undefined: a single URL passed by
 * mistake would otherwise be read as a list of characters, or fail deep inside a pick.
 * @internal
 */
export function expectMembers(members: unknown): void {
  if (members !== undefined && !Array.isArray(members)) {
    throw new TypeError(`Expected \`members\` to be an array of backend members (URLs, "host:port" or { host, port }), got ${show(members)}`);
  }
}
