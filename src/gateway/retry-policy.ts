/**
 * The gateway is the one retry owner (adapters never retry, and an agent calling through the
 * gateway should not either). This file decides, for an attempt that failed, what happens next:
 * retry the same deployment after a wait, move to the next deployment now, or stop and give the
 * error to the caller. Waits are exponential backoff with full jitter, or the upstream's
 * Retry-After when it asked for one (429/503) and the wait is short enough.
 */
import { isKeelError } from '../errors/keel-error.js';
import { ProviderError } from '../errors/model-errors.js';
import type { GatewayConfig } from './gateway-config.js';

/** The retry settings of a gateway config. */
export type RetrySettings = GatewayConfig['retry'];

/**
 * What to do after a failed attempt.
 * - `retry`: the same deployment may succeed later (5xx, 408/409/429, network failures, timeouts,
 *   unreadable output); wait `retryAfterMs` when the upstream named a wait (429/503).
 * - `next`: this deployment is unusable, another may work: 401/403 (a revoked or wrong key is one
 *   deployment's problem, not the request's).
 * - `stop`: the request itself is bad (400, 404, 422, other 4xx) and would fail everywhere; or an
 *   error the gateway cannot judge (a bug, a custom model's unknown error).
 */
export type FailureAction = 'retry' | 'next' | 'stop';

/** The policy's reading of one failure. */
export interface FailureDecision {
  action: FailureAction;
  /**
   * Whether the failure counts against the deployment's breaker: only faults of the provider's
   * side (5xx, 408, timeouts, resets and refused connections, unreadable answers) and a refused
   * deployment key (401/403), never what a request caused (400, 404, 409, 413, 422...) nor a
   * 429, which is a quota signal with its own wait: one tenant's flood must not open the breaker
   * for every tenant (the gateway's per-key `rpm`/`tpm` are the tool against it).
   */
  breakerFailure: boolean;
  /** The wait the upstream asked for (429/503 `retry-after-ms` / `retry-after`), if any. */
  retryAfterMs: number | undefined;
}

/** Classifies a failed attempt's error. Caller aborts are handled before this is asked. */
export function decideOnFailure(error: unknown): FailureDecision {
  if (error instanceof ProviderError && error.status !== undefined) {
    const status = error.status;
    if (status === 401 || status === 403)
      return { action: 'next', breakerFailure: true, retryAfterMs: undefined };
    if (!error.retryable) return { action: 'stop', breakerFailure: false, retryAfterMs: undefined };
    const honorsRetryAfter = status === 429 || status === 503;
    return {
      action: 'retry',
      breakerFailure: status >= 500 || status === 408,
      retryAfterMs: honorsRetryAfter ? error.retryAfterMs : undefined,
    };
  }
  if (isKeelError(error) && error.retryable)
    return { action: 'retry', breakerFailure: error.fault !== 'caller', retryAfterMs: undefined };
  return { action: 'stop', breakerFailure: false, retryAfterMs: undefined };
}

/**
 * Exponential backoff with full jitter: uniform in [0, min(capMs, baseMs · 2^retry)), `retry`
 * counting from 0 for the first retry. Full jitter spreads the retries of many callers so they do
 * not hit a recovering upstream in lockstep.
 */
export function backoffDelay({
  retry,
  baseMs,
  capMs,
  random,
}: {
  retry: number;
  baseMs: number;
  capMs: number;
  random: () => number;
}): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, retry));
  return Math.floor(random() * ceiling);
}

/**
 * The wait before retrying the same deployment after attempt number `attempt` (0-based) failed,
 * or undefined to move on to the next deployment now: when the deployment's attempts are used,
 * when its Retry-After exceeds `maxRetryAfterMs` (another deployment is faster than that wait), or
 * when the error asks for no retry here.
 */
export function retryDelay({
  decision,
  attempt,
  retry,
  random,
}: {
  decision: FailureDecision;
  attempt: number;
  retry: RetrySettings;
  random: () => number;
}): number | undefined {
  if (decision.action !== 'retry' || attempt + 1 >= retry.attemptsPerDeployment) return undefined;
  if (decision.retryAfterMs !== undefined) {
    return decision.retryAfterMs <= retry.maxRetryAfterMs ? decision.retryAfterMs : undefined;
  }
  return backoffDelay({ retry: attempt, baseMs: retry.baseMs, capMs: retry.capMs, random });
}
