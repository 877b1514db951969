/**
 * A run's trace, derived from its journal: the run's totals and attribution, and its steps as a
 * DAG (`parent_seq` links the tool and approval steps of one model turn to the model step that
 * asked for them). Nothing is kept beside the journal, so a trace is complete whenever the
 * journal is: a run resumed after a crash shows each step's earlier executions, and a run still
 * running is served with its open steps. The endpoint (`GET /v1/runs/{id}/trace`) and the CLI
 * (`keel trace`) share this builder.
 */
import { TERMINAL_STATUSES, type RunRecord, type RunStatus, type StepRecord } from '../journal/types.js';
import { countableUsage } from '../runtime/model-step-outcome.js';
import type { RunOutcome } from '../feedback/outcomes.js';

/** What became of a run's result: `speculative` until someone commits or rejects it. */
export type TraceOutcome = 'speculative' | 'committed' | 'rejected';

/** The span type of a step: `llm` for model steps; other kinds keep their name. */
export type TraceStepType = 'llm' | 'tool' | 'approval' | (string & {});

/** One execution of a step: an earlier one that another replaced, or the current one. */
export interface TraceExecution {
  attempt: number;
  started_at: string;
  /**
   * How it ended: `abandoned` (a crash or lost lease mid-step), `waited` (released to wait for a
   * provider); the current execution `completed` or `failed`, or null while it runs.
   */
  end: 'abandoned' | 'waited' | 'released' | 'completed' | 'failed' | null;
}

/** A step of a trace (seed 003's names). */
export interface TraceStep {
  seq: number;
  parent_seq: number | null;
  type: TraceStepType;
  name: string;
  /** Model steps: the model called; null for other steps. */
  model: string | null;
  tokens_in: number | null;
  tokens_out: number | null;
  cost_usd: number | null;
  /** Of the current execution; null while it runs. */
  latency_ms: number | null;
  /** Null while the step runs. */
  ok: boolean | null;
  error_code: string | null;
  /** The step's attempt number (a model step counts its model calls). */
  attempt: number;
  /** Which execution this is: 1 + the executions it replaced. */
  execution: number;
  /** Every execution, oldest first; the last is the current one. */
  executions: TraceExecution[];
  /** When the current execution started. */
  started_at: string;
  /** Guard steps: what the guard decided; null for other steps. */
  verdict: { stage: string | null; action: string | null; reason: string | null } | null;
}

/** A run's trace (seed 003's names). */
export interface RunTrace {
  /** The run id. */
  trace_id: string;
  user_id: string | null;
  session_id: string | null;
  agent: string;
  /** The model of the run's first model step; null before it has one. */
  model: string | null;
  prompt_version: string | null;
  outcome: TraceOutcome;
  status: RunStatus;
  stop_reason: string | null;
  /** The run's totals once it ended; while it runs, the sums of its steps so far. */
  total_tokens_in: number;
  total_tokens_out: number;
  total_cost_usd: number;
  /** From the run's first start to its end (or to now while it runs); null before it started. */
  duration_ms: number | null;
  /** How many times a worker claimed the run. */
  attempts: number;
  /** Each resume of the run by another agent version (a deploy), oldest first. */
  version_changes: {
    from: string;
    to: string;
    at_seq: number;
    at: string;
    instructions_changed: boolean;
    tools_added: string[];
    tools_removed: string[];
    model_changed: { from: string; to: string } | null;
  }[];
  steps: TraceStep[];
}

/** Builds a run's trace from its record, its steps (without payloads) and its outcome. */
export function buildRunTrace({
  run,
  steps,
  outcome,
  now,
}: {
  run: RunRecord;
  steps: readonly StepRecord[];
  outcome: Pick<RunOutcome, 'status'> | undefined;
  /** The end of a running run's duration so far. */
  now: Date;
}): RunTrace {
  const ended = TERMINAL_STATUSES.includes(run.status);
  const totals = ended
    ? { inputTokens: run.usage.inputTokens, outputTokens: run.usage.outputTokens, costUsd: run.costUsd }
    : sumOfSteps(steps);
  const firstModel = steps.find((step) => step.kind === 'model');
  const end = ended ? (run.endedAt ?? run.updatedAt) : now;
  return {
    trace_id: run.id,
    user_id: run.userId,
    session_id: run.sessionId,
    agent: run.agent,
    model: firstModel ? modelOf(firstModel) : null,
    prompt_version: run.promptVersion,
    outcome: outcome?.status ?? 'speculative',
    status: run.status,
    stop_reason: run.stopReason,
    total_tokens_in: totals.inputTokens,
    total_tokens_out: totals.outputTokens,
    total_cost_usd: totals.costUsd,
    duration_ms: run.startedAt ? Math.max(0, end.getTime() - run.startedAt.getTime()) : null,
    attempts: run.attempts,
    version_changes: run.versionChanges.map((change) => ({
      from: change.from,
      to: change.to,
      at_seq: change.atSeq,
      at: change.at,
      instructions_changed: change.instructionsChanged,
      tools_added: change.toolsAdded,
      tools_removed: change.toolsRemoved,
      model_changed: change.modelChanged ?? null,
    })),
    steps: steps.map(traceStep),
  };
}

/** A journal step as a trace step. */
export function traceStep(step: StepRecord): TraceStep {
  const open = step.status === 'started';
  return {
    seq: step.seq,
    parent_seq: step.parentSeq,
    type: step.kind === 'model' ? 'llm' : step.kind,
    name: step.name,
    model: step.kind === 'model' ? modelOf(step) : null,
    tokens_in: step.usage?.inputTokens ?? null,
    tokens_out: step.usage?.outputTokens ?? null,
    cost_usd: step.costUsd,
    latency_ms: step.endedAt ? Math.max(0, step.endedAt.getTime() - step.startedAt.getTime()) : null,
    ok: open ? null : step.status === 'completed',
    error_code: step.error?.code ?? null,
    attempt: step.attempt,
    execution: step.priorExecutions.length + 1,
    executions: [
      ...step.priorExecutions.map((prior) => ({
        attempt: prior.attempt,
        started_at: prior.startedAt.toISOString(),
        end: prior.end,
      })),
      {
        attempt: step.attempt,
        started_at: step.startedAt.toISOString(),
        end: step.status === 'started' ? null : step.status,
      },
    ],
    started_at: step.startedAt.toISOString(),
    verdict: step.kind === 'guard' ? verdictOf(step) : null,
  };
}

function verdictOf(step: StepRecord): NonNullable<TraceStep['verdict']> {
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  return { stage: text(step.meta?.stage), action: text(step.meta?.action), reason: text(step.meta?.reason) };
}

/** A model step's model: its meta's, else the step name after `provider:`. */
function modelOf(step: StepRecord): string {
  const model = step.meta?.model;
  if (typeof model === 'string') return model;
  const colon = step.name.indexOf(':');
  return colon === -1 ? step.name : step.name.slice(colon + 1);
}

/** The usage and cost of the steps recorded so far, counted as the agent loop counts them. */
function sumOfSteps(steps: readonly StepRecord[]) {
  const totals = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  for (const step of steps) {
    const counted = countableUsage(step.usage ?? undefined, step.costUsd ?? undefined);
    totals.inputTokens += counted.inputTokens;
    totals.outputTokens += counted.outputTokens;
    totals.costUsd += counted.costUsd;
  }
  return totals;
}
