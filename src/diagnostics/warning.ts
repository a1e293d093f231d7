/**
 * Warnings: configurations that run without error but do not do what their author meant.
 * Each is reported once per monitor, never per request.
 * @module
 */

/** Stable codes of {@link HeartMonitorWarning}. */
export type HeartMonitorWarningCode =
  /** Picks fail because no member matches a server in the table, while servers exist. */
  | 'HM_MEMBERS_UNMATCHED'
  /** Several origins share one IP with different ports while `keyBy` is `'ip'`. */
  | 'HM_SHARED_IP'
  /** Every fresh server weighs 0 because of Apache's ready/4 rule for idle servers. */
  | 'HM_ZERO_WEIGHTS'
  /** The multicast group was joined on the default interface: no `interface` was given. */
  | 'HM_DEFAULT_INTERFACE';

/** What the `warning` event carries. */
export interface HeartMonitorWarning {
  /** Which mistake: one of {@link HeartMonitorWarningCode}, stable across versions. */
  readonly code: HeartMonitorWarningCode;
  /** What is wrong, what the table holds instead, and what to change. */
  readonly message: string;
}

/**
 * Delivers each warning code once: to `emit` when it returns true (someone listens to the
 * monitor's `warning` event), else through `process.emitWarning` with the code.
 * @internal
 */
export class WarnOnce {
  private readonly given = new Set<HeartMonitorWarningCode>();

  constructor(private readonly emit: (warning: HeartMonitorWarning) => boolean) {}

  /** Whether `code` was already reported. */
  has(code: HeartMonitorWarningCode): boolean {
    return this.given.has(code);
  }

  warn(code: HeartMonitorWarningCode, message: string): void {
    if (this.given.has(code)) return;
    this.given.add(code);
    const warning: HeartMonitorWarning = { code, message };
    if (!this.emit(warning)) process.emitWarning(message, { type: 'HeartMonitorWarning', code });
  }
}
