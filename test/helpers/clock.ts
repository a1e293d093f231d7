import type { Clock } from '../../src/index.js';

/** A clock that only moves when the test says so. */
export class FakeClock implements Clock {
  private wall: number;
  private mono = 1_000;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.wall = start;
  }

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  /** Move both clocks forward. */
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
}
