import type { Clock } from '../../src/index.js';

/**
 * The tests' clock: it only moves when the test says so. Its methods are bound, so
 * `clock.now` can be handed on alone.
 */
export class FakeClock implements Clock {
  private wall: number;
  private mono: number;

  /**
   * @param start - the wall clock's first reading (ms since the epoch)
   * @param monotonicStart - the monotonic clock's first reading
   */
  constructor(start = Date.UTC(2026, 0, 1), monotonicStart = 1_000) {
    this.wall = start;
    this.mono = monotonicStart;
  }

  readonly now = (): number => this.wall;

  readonly monotonic = (): number => this.mono;

  /** Move both clocks forward. */
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
}
