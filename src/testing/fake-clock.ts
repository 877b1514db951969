import type { Clock } from '../util/clock.js';

/** A clock that moves only when told to. */
export interface FakeClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

/** Creates a fake clock starting at `start` (default 2026-01-01T00:00:00Z). */
export function createFakeClock({ start = Date.UTC(2026, 0, 1) }: { start?: number } = {}): FakeClock {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
    set: (ms) => {
      now = ms;
    },
  };
}
