/**
 * Who may add to the table: the source allowlist, the signature check and its replay
 * protection (a cache of recent signatures, and the last signed `ts` per server), and the
 * fields a stored status may carry. The monitor asks; nothing here touches the table.
 * @module
 */
import type { Clock } from '../clock.js';
import { keptFields } from '../protocol/extra-fields.js';
import type { ParsedHeartbeat } from '../protocol/heartbeat.js';
import { SIGNATURE_FIELD, TIMESTAMP_FIELD, verifyHeartbeatSignature } from '../protocol/signature.js';
import type { SourceFilter } from './allowlist.js';
import type { RefusalCode } from './events.js';

/** Why a heartbeat is refused. @internal */
export interface Refusal {
  readonly code: RefusalCode;
  readonly reason: string;
}

/** A verified signature: its `ts` and its hex digest. @internal */
export interface SignedHeartbeat {
  readonly timestamp: number;
  readonly signature: string;
}

/** What admission needs of the monitor's options. @internal */
export interface AdmissionSettings {
  readonly sourceFilter: SourceFilter | undefined;
  readonly secrets: readonly Buffer[] | undefined;
  readonly maxSkew: number;
  readonly clock: Clock;
}

/** Fields never kept in a status: republished, they would hand out a signed datagram to replay. */
const UNPUBLISHED_FIELDS: ReadonlySet<string> = new Set([TIMESTAMP_FIELD, SIGNATURE_FIELD]);

/** The monitor's admission checks. @internal */
export class Admission {
  /** Signatures accepted within the last 2 × maxSkew (→ monotonic expiry), so a captured message cannot be replayed under another source address. */
  private readonly recentSignatures = new Map<string, number>();
  /** `ts` of the last signed heartbeat accepted from each server in the table. */
  private readonly lastSigned = new Map<string, number>();
  /** Wall-clock start: a signed `ts` older than this was captured before the monitor (re)started. */
  private readonly startedAt: number;

  constructor(private readonly settings: AdmissionSettings) {
    this.startedAt = settings.clock.now();
  }

  /** Signatures remembered now (the replay cache's size). */
  get rememberedSignatures(): number {
    return this.recentSignatures.size;
  }

  /** Why heartbeats from `ip` are refused, or undefined when the allowlist lets them in. */
  refusesSource(ip: string): Refusal | undefined {
    const filter = this.settings.sourceFilter;
    return filter === undefined || filter.allows(ip) ? undefined : { code: 'not-allowed', reason: `source ${ip} is not allowed` };
  }

  /**
   * Check the signature of a parsed message (when the monitor has a `secret`).
   * @returns undefined without a secret, the verified signature, or why it is refused
   */
  verify(message: string | Uint8Array, parsed: ParsedHeartbeat): SignedHeartbeat | Refusal | undefined {
    const { secrets, maxSkew, clock } = this.settings;
    if (secrets === undefined) return undefined;
    const check = verifyHeartbeatSignature(message, secrets, parsed.fields[TIMESTAMP_FIELD]);
    if (!check.ok) return { code: check.code, reason: check.reason };
    const skew = check.timestamp - clock.now();
    if (Math.abs(skew) > maxSkew) return { code: 'skew', reason: `\`ts\` is ${skew} ms off this monitor's clock (maxSkew ${maxSkew} ms)` };
    if (check.timestamp < this.startedAt) {
      // The replay cache starts empty: without this, a datagram captured before a restart would pass again.
      return { code: 'replay', reason: `\`ts\` ${check.timestamp} is older than this monitor's start (${this.startedAt}): captured before a restart?` };
    }
    if (this.recentSignatures.has(check.signature)) {
      return { code: 'replay', reason: 'this signed heartbeat was already accepted (replayed, perhaps from another source address)' };
    }
    return { timestamp: check.timestamp, signature: check.signature };
  }

  /** Why a signed heartbeat is refused for the server with `key` (not newer than its last), or undefined. */
  refusesFor(key: string, signed: SignedHeartbeat): Refusal | undefined {
    const last = this.lastSigned.get(key);
    if (last === undefined || signed.timestamp > last) return undefined;
    return { code: 'replay', reason: `\`ts\` ${signed.timestamp} is not newer than the last accepted from ${key} (${last})` };
  }

  /** A signed heartbeat of `key` was accepted. */
  accepted(key: string, signed: SignedHeartbeat): void {
    this.lastSigned.set(key, signed.timestamp);
    // A `ts` stays within maxSkew for at most 2 × maxSkew of our time; after that the skew check refuses it.
    this.recentSignatures.set(signed.signature, this.settings.clock.monotonic() + 2 * this.settings.maxSkew);
  }

  /** The server with `key` left the table. */
  forget(key: string): void {
    this.lastSigned.delete(key);
  }

  /** Drop signatures too old to pass the skew check anyway. */
  sweep(): void {
    const now = this.settings.clock.monotonic();
    // Insertion order is expiry order (a constant window on a monotonic clock).
    for (const [signature, expiresAt] of this.recentSignatures) {
      if (expiresAt > now) break;
      this.recentSignatures.delete(signature);
    }
  }
}

/** Whether `check` is a refusal (rather than a verified signature). @internal */
export function isRefusal(check: SignedHeartbeat | Refusal): check is Refusal {
  return 'code' in check;
}

/**
 * The extra fields a status carries (frozen), without `ts`/`sig` and within the rule of
 * protocol/extra-fields.ts; undefined when none are left.
 * @internal
 */
export function publishedFields(fields: Readonly<Record<string, string>>): Readonly<Record<string, string>> | undefined {
  return keptFields(Object.entries(fields), UNPUBLISHED_FIELDS);
}
