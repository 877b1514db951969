import type { RunRecord, StepRecord } from '../journal/types.js';
import type { Usage, UsageInvalidReason } from '../model/model.js';
import type { RunFeedbackRecord } from '../feedback/feedback.js';
import type { RunOutcome } from '../feedback/outcomes.js';

/** Token usage as the API shows it (runs, steps, events). */
export function usageView(usage: Usage) {
  return { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens };
}

/** A run as the API returns it (snake_case, no lease internals). */
export function runView(run: RunRecord) {
  return {
    id: run.id,
    agent: run.agent,
    status: run.status,
    stop_reason: run.stopReason,
    input: run.input,
    output: run.output,
    error: run.error,
    session_id: run.sessionId,
    metadata: run.metadata,
    user_id: run.userId,
    trigger: run.trigger,
    created_by: run.createdBy,
    prompt_version: run.promptVersion,
    retry_of: run.retryOf,
    retried_by: run.retriedBy,
    attempts: run.attempts,
    waiting:
      run.wait === null
        ? null
        : {
            reason: run.wait.reason,
            message: run.wait.message,
            until: run.wait.until.toISOString(),
            seq: run.wait.seq,
            attempts: run.wait.attempts,
          },
    usage: usageView(run.usage),
    cost_usd: run.costUsd,
    step_count: run.stepCount,
    created_at: run.createdAt.toISOString(),
    started_at: run.startedAt?.toISOString() ?? null,
    ended_at: run.endedAt?.toISOString() ?? null,
  };
}

export type RunView = ReturnType<typeof runView>;

/** A journal step as the API returns it. */
export function stepView(step: StepRecord) {
  return {
    seq: step.seq,
    parent_seq: step.parentSeq,
    kind: step.kind,
    name: step.name,
    status: step.status,
    attempt: step.attempt,
    input_hash: step.inputHash,
    started_at: step.startedAt.toISOString(),
    ended_at: step.endedAt?.toISOString() ?? null,
    usage: step.usage ? usageView(step.usage) : null,
    usage_source: usageSourceOf(step),
    usage_invalid: usageInvalidOf(step),
    cost_usd: step.costUsd,
    error: step.error,
    meta: step.meta,
    output: step.output,
  };
}

export type StepView = ReturnType<typeof stepView>;

/**
 * Where a model step's usage comes from: `reported` by the provider or `estimated` by Keel's
 * tokenizer (the answer carried no usage, or impossible counts). Null for steps without usage
 * and for model steps journaled before Keel recorded it.
 */
function usageSourceOf(step: StepRecord): 'reported' | 'estimated' | null {
  const source = step.meta?.usageSource;
  return source === 'reported' || source === 'estimated' ? source : null;
}

/** Why a provider's counts were replaced by the estimate (trusted-usage.ts), or null. */
function usageInvalidOf(step: StepRecord): UsageInvalidReason | null {
  const reason = step.meta?.usageInvalid;
  return reason === 'negative' || reason === 'not_finite' || reason === 'too_large' ? reason : null;
}

/** A run's outcome as the API returns it; null while the run is speculative. */
export function outcomeView(outcome: RunOutcome | undefined) {
  if (!outcome) return null;
  return { status: outcome.status, value: outcome.value, decided_at: outcome.decidedAt.toISOString() };
}

/** A piece of a run's feedback as the API returns it. */
export function feedbackView(feedback: RunFeedbackRecord) {
  return {
    id: feedback.id,
    run_id: feedback.runId,
    thumbs: feedback.thumbs,
    score: feedback.score,
    comment: feedback.comment,
    user_id: feedback.userId,
    created_by: feedback.createdBy,
    created_at: feedback.createdAt.toISOString(),
  };
}
