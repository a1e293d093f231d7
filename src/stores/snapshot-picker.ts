/**
 * Picking from a snapshot many times: the pure `pickBackend` of selection.ts rebuilds its
 * server map and parses every member on each call; readers of shared stores pick per
 * request from a snapshot that rarely changes, so they keep both between calls. Weights and
 * the draw are the pure function's own (`heartbeatWeight`, `drawWeighted`), so for the same
 * snapshot and random numbers the result is the pure function's result.
 * @module
 */
import { parseMember, type BackendMember, type MemberAddress } from '../address.js';
import { drawWeighted, heartbeatWeight } from '../selection.js';
import { serverKey, type KeyBy, type ServerStatus } from '../server-status.js';

/** Settings of a {@link SnapshotPicker}. @internal */
export interface SnapshotPickerSettings {
  readonly keyBy: KeyBy;
  readonly staleAfter: number;
  readonly warmupDivisor: number;
  /** Servers this old are left out entirely (they weigh 0 as well). */
  readonly expireAfter: number;
  readonly random: () => number;
  readonly now: () => number;
}

const MEMBER_CACHE_LIMIT = 10_000;

/**
 * Repeated weighted picks over a replaceable snapshot of servers.
 * @internal
 */
export class SnapshotPicker {
  private servers: readonly ServerStatus[] = [];
  private byKey: Map<string, ServerStatus> | undefined;
  private readonly memberKeys = new Map<string, string>();
  private readonly memberObjectKeys = new WeakMap<object, string>();
  private weights = new Float64Array(16);

  /** @param settings - selection parameters, clock and random source */
  constructor(private readonly settings: SnapshotPickerSettings) {}

  /** Replace the snapshot (the array must not be mutated afterwards). */
  use(servers: readonly ServerStatus[]): void {
    if (servers === this.servers) return;
    this.servers = servers;
    this.byKey = undefined;
  }

  /** Pick among all servers, or among `members`, exactly as the pure `pickBackend` does. */
  pick<M extends BackendMember>(members: readonly M[] | undefined): ServerStatus | M | undefined {
    const now = this.settings.now();
    const cutoff = Math.min(this.settings.staleAfter, this.settings.expireAfter);
    const divisor = this.settings.warmupDivisor;
    const weightOf = (server: ServerStatus | undefined): number =>
      server === undefined || now - server.lastSeen >= cutoff ? 0 : heartbeatWeight(server, divisor);
    const count = members === undefined ? this.servers.length : members.length;
    if (this.weights.length < count) this.weights = new Float64Array(count * 2);
    const weights = this.weights;
    let total = 0;
    if (members === undefined) {
      for (let i = 0; i < count; i++) total += weights[i] = weightOf(this.servers[i]);
      const chosen = drawWeighted(weights, count, total, this.settings.random);
      return chosen === undefined ? undefined : this.servers[chosen];
    }
    const byKey = this.index();
    for (let i = 0; i < count; i++) total += weights[i] = weightOf(byKey.get(this.keyOf(members[i] as M)));
    const chosen = drawWeighted(weights, count, total, this.settings.random);
    return chosen === undefined ? undefined : members[chosen];
  }

  private index(): Map<string, ServerStatus> {
    if (this.byKey !== undefined) return this.byKey;
    const byKey = new Map<string, ServerStatus>();
    // A later server with the same key wins, as in the pure function.
    for (const server of this.servers) byKey.set(serverKey(server.ip, server.port, this.settings.keyBy), server);
    this.byKey = byKey;
    return byKey;
  }

  private keyOf(member: BackendMember): string {
    if (typeof member === 'string') {
      let key = this.memberKeys.get(member);
      if (key === undefined) {
        key = this.toKey(parseMember(member));
        if (this.memberKeys.size >= MEMBER_CACHE_LIMIT) this.memberKeys.clear();
        this.memberKeys.set(member, key);
      }
      return key;
    }
    // URL objects and { host, port } objects may be mutated by their owner: cache URLs by
    // identity only while their text is unchanged, plain objects not at all.
    if (member instanceof URL) {
      const text = member.href;
      const cached = this.memberObjectKeys.get(member);
      if (cached !== undefined && cached.startsWith(`${text}\n`)) return cached.slice(text.length + 1);
      const key = this.toKey(parseMember(member));
      this.memberObjectKeys.set(member, `${text}\n${key}`);
      return key;
    }
    return this.toKey(parseMember(member));
  }

  private toKey(address: MemberAddress): string {
    return this.settings.keyBy === 'ip' ? address.host : serverKey(address.host, address.port, this.settings.keyBy);
  }
}
