import { defineGuard, DEFAULT_GUARD_MAX_RETRIES, invalidGuardField } from './define-guard.js';
import type { Guard, GuardContext, GuardVerdict } from './guard.js';

/** What a grounding check says about an answer. */
export interface GroundingJudgement {
  grounded: boolean;
  /** Told to the model on a retry: what is not supported by the sources. */
  feedback?: string;
  /** Any measure the check has (recorded in the verdict's details). */
  score?: number;
}

/** The options of `guards.grounding`. */
export interface GroundingOptions {
  /**
   * Judges the answer against the sources: by default the run's tool outputs
   * (`context.toolOutputs`). May call a model (pass `context.signal` on).
   */
  check(input: {
    answer: string;
    sources: readonly string[];
    context: GuardContext;
  }): Promise<GroundingJudgement | boolean> | GroundingJudgement | boolean;
  /** What an ungrounded answer gets. Default `retry` (the model answers again with the feedback). */
  onUngrounded?: 'retry' | 'warn' | 'block';
  maxRetries?: number;
  /** Default `grounding`. */
  name?: string;
}

/** A hook at the output stage for the user's own grounding check (Keel does not judge truth). */
export function grounding({
  check,
  onUngrounded = 'retry',
  maxRetries = DEFAULT_GUARD_MAX_RETRIES,
  name = 'grounding',
}: GroundingOptions): Guard {
  if (typeof check !== 'function') throw invalidGuardField(name, 'check', 'must be a function');
  if (!['retry', 'warn', 'block'].includes(onUngrounded)) {
    throw invalidGuardField(name, 'onUngrounded', "must be 'retry', 'warn' or 'block'");
  }
  return defineGuard({
    name,
    stage: 'output',
    maxRetries,
    check: async (context): Promise<GuardVerdict> => {
      const sources = context.toolOutputs ?? [];
      const raw = await check({ answer: context.text, sources, context });
      const judgement: GroundingJudgement = typeof raw === 'boolean' ? { grounded: raw } : raw;
      const details = {
        sources: sources.length,
        ...(judgement.score === undefined ? {} : { score: judgement.score }),
      };
      if (judgement.grounded) return { action: 'allow', details };
      const feedback =
        judgement.feedback ??
        'Your answer states things the sources do not support. Answer again using only the sources.';
      const reason = 'the answer is not grounded in the sources';
      if (onUngrounded === 'retry') return { action: 'retry', feedback, reason, details };
      return { action: onUngrounded, reason: `${reason}: ${feedback}`, details };
    },
  });
}
