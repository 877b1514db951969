import type { SerializedError } from '../errors/keel-error.js';
import type { StopReason } from '../journal/types.js';
import type { DEFAULT_LIMITS } from './agent.js';
import type { PolicyStop, StepPolicy } from './step-policy.js';

/** An agent's limits with the defaults filled in. */
export type RunLimits = typeof DEFAULT_LIMITS;

/**
 * The per-run limits that are checked before each model step (model calls, tokens, dollars), as
 * the first policy of every run. The dollar and token caps are also enforced per call by the
 * budget policy's reservation when one is configured; this check is what stops a run whose
 * totals already reached a cap (a replayed run, a model without a reservation).
 */
export function createLimitPolicy(limits: RunLimits): StepPolicy {
  return {
    name: 'limits',
    beforeModelStep({ modelCalls, usage, costUsd }) {
      if (modelCalls >= limits.maxSteps) {
        return limitStop('max_steps', `reached maxSteps (${limits.maxSteps} model calls)`);
      }
      const tokens = usage.inputTokens + usage.outputTokens;
      if (limits.maxTokens !== undefined && tokens >= limits.maxTokens) {
        return limitStop('budget', `used ${tokens} tokens of maxTokens ${limits.maxTokens}`);
      }
      if (limits.maxCostUsd !== undefined && costUsd >= limits.maxCostUsd) {
        return limitStop('budget', `spent $${costUsd.toFixed(6)} of maxCostUsd $${limits.maxCostUsd}`);
      }
      return undefined;
    },
  };
}

export function limitStop(reason: StopReason, message: string): PolicyStop {
  return { stop: { reason, error: limitError(reason, message) } };
}

export function limitError(code: StopReason, message: string): SerializedError {
  return { code, message, fault: 'caller', retryable: false };
}
