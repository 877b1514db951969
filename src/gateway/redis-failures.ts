import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

/**
 * What the gateway does when its Redis does not answer in time (or refuses): `closed` refuses
 * the call (`rate_limiter_unavailable`, 503 with Retry-After), the SQL limiter's behaviour, so a
 * limit is never exceeded; `open` admits it without a limit, so an outage of Redis costs limits,
 * not traffic. The response cache always fails open (a miss, a skipped write).
 */
export type RedisFailurePolicy = 'open' | 'closed';

/** One Redis operation that failed, and what was done instead. */
export interface RedisFailure {
  operation: 'reserve' | 'settle' | 'get' | 'set';
  /**
   * `admitted`: a reserve let through without a limit (policy `open`); `refused`: a reserve
   * refused (policy `closed`); `skipped`: a settle, cache read (a miss) or cache write not done.
   */
  outcome: 'admitted' | 'refused' | 'skipped';
}

/** Options of {@link createRedisFailureReporter}. */
export interface RedisFailureReporterOptions {
  logger: Logger;
  /** Told of every failure (Prometheus: `keel_gateway_redis_failures_total`). */
  onFailure?: (failure: RedisFailure) => void;
  clock?: Clock;
  /** At most one log line per this many ms; the lines between are counted in the next (default 10 s). */
  logEveryMs?: number;
}

/** Counts every failure and logs them at a bounded rate (an outage must not flood the log). */
export type RedisFailureReporter = (failure: RedisFailure, error: unknown) => void;

/** Creates a reporter; one per Redis client, shared by its limiter and cache. */
export function createRedisFailureReporter({
  logger,
  onFailure,
  clock = { now: () => Date.now() },
  logEveryMs = 10_000,
}: RedisFailureReporterOptions): RedisFailureReporter {
  let loggedAt = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (failure, error) => {
    try {
      onFailure?.(failure);
    } catch {
      // A metrics hook must never turn a handled failure into an unhandled one.
    }
    const now = clock.now();
    if (now - loggedAt < logEveryMs) {
      suppressed++;
      return;
    }
    loggedAt = now;
    logger.warn('gateway redis failed', {
      ...failure,
      error: error instanceof Error ? error.message : String(error),
      suppressed,
    });
    suppressed = 0;
  };
}
