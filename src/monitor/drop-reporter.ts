/**
 * Turns a stream of "store full, server dropped" facts into few reports: the first drop
 * at once, then at most one report per interval carrying the count, so a flood of new
 * source addresses never becomes an event storm.
 * @module
 */

/** A summary handed to the report callback. */
export interface DropReport {
  /** Drops since the previous report. */
  readonly dropped: number;
  /** Key of the latest dropped server. */
  readonly lastDropped: string;
}

/** Rate-limited reporting of dropped servers. */
export class DropReporter {
  private pending = 0;
  private lastDropped = '';
  private lastReportAt = -Infinity;
  /** Every drop ever counted. */
  total = 0;

  /**
   * @param interval - least time between two reports, in ms
   * @param now - monotonic clock in ms
   * @param report - called with each summary
   */
  constructor(
    private readonly interval: number,
    private readonly now: () => number,
    private readonly report: (summary: DropReport) => void,
  ) {}

  /** Count one dropped server; reports at once when the last report is old enough. */
  drop(key: string): void {
    this.total++;
    this.pending++;
    this.lastDropped = key;
    this.tick();
  }

  /** Report pending drops if the interval has passed (call it from a periodic timer). */
  tick(): void {
    const now = this.now();
    if (this.pending === 0 || now - this.lastReportAt < this.interval) return;
    const summary = { dropped: this.pending, lastDropped: this.lastDropped };
    this.pending = 0;
    this.lastReportAt = now;
    this.report(summary);
  }
}
