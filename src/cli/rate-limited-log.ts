/**
 * Log lines that may come in floods (malformed datagrams, store errors): the first at once,
 * then at most one per interval carrying how many were folded into it.
 * @module
 */
import { DropReporter } from '../monitor/drop-reporter.js';

/** A rate-limited line writer. */
export class RateLimitedLog {
  private readonly reporter: DropReporter;

  /**
   * @param interval - least time between two lines, in ms
   * @param write - writes one line
   */
  constructor(interval: number, write: (line: string) => void) {
    this.reporter = new DropReporter(interval, () => performance.now(), ({ dropped, lastDropped }) => {
      write(dropped === 1 ? lastDropped : `${lastDropped} (${dropped} messages like this since the last one shown)`);
    });
  }

  /** Log `line`, or count it when a line was written less than an interval ago. */
  log(line: string): void {
    this.reporter.drop(line);
  }

  /** Write the pending summary if the interval has passed (call it periodically). */
  tick(): void {
    this.reporter.tick();
  }
}
