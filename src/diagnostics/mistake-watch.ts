/**
 * Watches a monitor for configurations that fail silently — members that match nothing,
 * origins sharing an IP under `keyBy: 'ip'`, weights all 0 by the ready/4 rule — and
 * warns once about each. It works from the sweep (at most a few times a second) and from
 * failed picks, so the cost per heartbeat or pick stays a comparison.
 * @module
 */
import type { BackendMember } from '../protocol/address.js';
import { heartbeatWeight } from '../picking/selection.js';
import type { KeyBy, ServerStatus } from '../protocol/server-status.js';
import type { WarnOnce } from './warning.js';

/** What the watch reads of the monitor. @internal */
export interface MistakeWatchHost {
  readonly keyBy: KeyBy;
  readonly staleAfter: number;
  readonly warmupDivisor: number;
  monotonic(): number;
  /** The fresh servers (only read after a failed pick). */
  freshServers(): ServerStatus[];
  /** Servers in the table, fresh or not. */
  serverCount(): number;
  /** Whether a member names a server in the table. */
  matches(member: BackendMember): boolean;
  /** Picks that found nothing so far (a counter). */
  failedPicks(): number;
}

/** How many servers a warning lists before "and N more". */
const LISTED = 5;

/** @internal */
export class MistakeWatch {
  private members: readonly BackendMember[] | undefined;
  private failedPicksSeen = 0;
  /** Monotonic time since which failed picks' members matched no server. */
  private unmatchedSince: number | undefined;
  /** Port changes per IP within staleAfter (keyBy 'ip' only), to tell flapping from a restart. */
  private readonly portChanges = new Map<string, { count: number; since: number; ports: Set<number> }>();

  constructor(
    private readonly host: MistakeWatchHost,
    private readonly warnings: WarnOnce,
  ) {}

  /** The members of the latest pick (one store per pick; read by the sweep). */
  picking(members: readonly BackendMember[]): void {
    this.members = members;
  }

  /** A known server's heartbeat came with another port than its last one (keyBy 'ip'). */
  portChanged(ip: string, previous: number, port: number): void {
    if (this.warnings.has('HM_SHARED_IP')) return;
    const now = this.host.monotonic();
    let record = this.portChanges.get(ip);
    if (record === undefined || now - record.since > this.host.staleAfter) {
      record = { count: 0, since: now, ports: new Set([previous]) };
      if (this.portChanges.size > 1000) this.portChanges.clear(); // bounded: restarts on many hosts
      this.portChanges.set(ip, record);
    }
    record.count++;
    record.ports.add(port);
    // One change is a restart on a new port; changing back and forth is two origins.
    if (record.count < 2) return;
    const ports = [...record.ports].sort((a, b) => a - b).join(', ');
    this.warnings.warn(
      'HM_SHARED_IP',
      `Heartbeats from ${ip} alternate between ports ${ports}: several origins share this IP while keyBy is 'ip', so the table keeps one row for them and picks split evenly between them whatever their load. Pass keyBy: 'ip:port' to the monitor (and members with their ports).`,
    );
  }

  /** Periodic check (from the monitor's sweep). */
  tick(): void {
    const failed = this.host.failedPicks();
    const picksFailed = failed !== this.failedPicksSeen;
    this.failedPicksSeen = failed;
    if (!picksFailed) {
      this.unmatchedSince = undefined;
      return;
    }
    this.checkMembers();
    this.checkZeroWeights();
  }

  private checkMembers(): void {
    const members = this.members;
    if (members === undefined || this.warnings.has('HM_MEMBERS_UNMATCHED') || this.host.serverCount() === 0 || members.some((member) => this.host.matches(member))) {
      this.unmatchedSince = undefined;
      return;
    }
    const now = this.host.monotonic();
    this.unmatchedSince ??= now;
    if (now - this.unmatchedSince < this.host.staleAfter) return;
    const shown = members.slice(0, LISTED).map(describeMember).join(', ');
    const table = this.host.freshServers();
    const held = table.slice(0, LISTED).map((server) => (this.host.keyBy === 'ip' ? server.ip : `${server.ip}:${server.port}`));
    const more = table.length > LISTED ? ` and ${table.length - LISTED} more` : '';
    this.warnings.warn(
      'HM_MEMBERS_UNMATCHED',
      `No member (${shown}${members.length > LISTED ? ', …' : ''}) has matched a server for ${Math.round((now - this.unmatchedSince) / 1000)} s, so every pick fails; the table holds ${held.length === 0 ? 'no fresh server' : held.join(', ') + more} (keyBy '${this.host.keyBy}'). Members are matched by IP literal${this.host.keyBy === 'ip' ? '' : ' and port'}: host names such as localhost are not resolved, and [::1] and 127.0.0.1 differ.`,
    );
  }

  private checkZeroWeights(): void {
    if (this.warnings.has('HM_ZERO_WEIGHTS')) return;
    const fresh = this.host.freshServers();
    if (fresh.length === 0 || fresh.some((server) => heartbeatWeight(server, this.host.warmupDivisor) > 0)) return;
    const warming = fresh.filter((server) => server.busy === 0 && server.ready > 0);
    if (warming.length === 0) return;
    const examples = warming.slice(0, LISTED).map((server) => `${server.ip}:${server.port} ready=${server.ready}`).join(', ');
    this.warnings.warn(
      'HM_ZERO_WEIGHTS',
      `Every fresh server weighs 0, so picks fail: an idle server (busy=0) counts ready/${this.host.warmupDivisor} rounded down (Apache's warm-up rule), which is 0 below ready=${this.host.warmupDivisor} (${examples}). Report more ready workers, or lower warmupDivisor (1 turns the rule off).`,
    );
  }
}

function describeMember(member: BackendMember): string {
  if (typeof member === 'string') return member;
  if (member instanceof URL) return member.href;
  return member.port === undefined ? member.host : `${member.host}:${member.port}`;
}
