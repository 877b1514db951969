/**
 * A circuit breaker per deployment, kept in process memory (each gateway process learns on its
 * own, which is what a breaker is for: stop sending this process's traffic to an upstream that is
 * failing for it right now).
 *
 * closed ──(failureThreshold consecutive failures)──▶ open ──(cooldownMs)──▶ half-open
 * half-open lets exactly one probe through: success → closed, failure → open for another cooldown.
 */
import type { Clock } from '../util/clock.js';
import type { BreakerState } from './gateway-types.js';

/**
 * Leave to make one attempt. A `probe` is the single attempt a half-open breaker lets through;
 * its verdict alone decides whether the breaker closes.
 */
export type BreakerPermit = 'normal' | 'probe';

/** How an attempt ended, for the breaker: `neutral` says nothing about the upstream's health. */
export type BreakerVerdict = 'success' | 'failure' | 'neutral';

/** One deployment's breaker. */
export interface CircuitBreaker {
  readonly deployment: string;
  /** Leave to attempt now, or undefined when open (or half-open with its probe already out). */
  tryAcquire(): BreakerPermit | undefined;
  /**
   * Reports how a permitted attempt ended. Failures count only for provider-side faults (5xx,
   * 408, timeouts, resets, unreadable answers, a refused deployment key), never for what the
   * request caused (400, 413, 422...: they say nothing about the upstream's health) nor for 429s
   * (a quota with its own wait; see `decideOnFailure` in retry-policy.ts).
   */
  settle(permit: BreakerPermit, verdict: BreakerVerdict): void;
  /** When an open breaker lets its probe through (epoch ms of the injected clock), else undefined. */
  retryAt(): number | undefined;
  state(): BreakerState;
}

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  deployment: string;
  failureThreshold: number;
  cooldownMs: number;
  clock: Clock;
}

/** Creates a closed breaker. */
export function createCircuitBreaker({
  deployment,
  failureThreshold,
  cooldownMs,
  clock,
}: CircuitBreakerOptions): CircuitBreaker {
  let mode: 'closed' | 'open' | 'half-open' = 'closed';
  let consecutiveFailures = 0;
  let openUntil = 0;

  const open = () => {
    mode = 'open';
    openUntil = clock.now() + cooldownMs;
  };

  return {
    deployment,

    tryAcquire() {
      if (mode === 'closed') return 'normal';
      if (mode === 'open' && clock.now() >= openUntil) {
        mode = 'half-open';
        return 'probe';
      }
      return undefined;
    },

    settle(permit, verdict) {
      if (permit === 'probe') {
        // Only the probe's verdict moves a half-open breaker; a neutral end frees the probe slot.
        if (mode !== 'half-open') return;
        if (verdict === 'success') {
          mode = 'closed';
          consecutiveFailures = 0;
        } else if (verdict === 'failure') {
          consecutiveFailures++;
          open();
        } else {
          mode = 'open';
          openUntil = clock.now();
        }
        return;
      }
      // A normal permit was granted while closed; its late verdict must not move an open or
      // half-open breaker (that is the probe's job).
      if (mode !== 'closed') return;
      if (verdict === 'success') consecutiveFailures = 0;
      else if (verdict === 'failure' && ++consecutiveFailures >= failureThreshold) open();
    },

    retryAt() {
      return mode === 'open' ? openUntil : undefined;
    },

    state() {
      if (mode === 'closed') return { deployment, state: 'closed', consecutiveFailures };
      if (mode === 'open' && clock.now() < openUntil) {
        return { deployment, state: 'open', consecutiveFailures, retryAt: openUntil };
      }
      // Open past its cooldown is half-open in effect: the next attempt is the probe.
      return { deployment, state: 'half-open', consecutiveFailures };
    },
  };
}
