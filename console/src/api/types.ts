/**
 * The API's run shapes as the console's pages read them (a subset of each answer: see
 * docs/api.md: runs, trace, lists), shared by every page that shows runs.
 */

export type RunStatus =
  'queued' | 'running' | 'waiting' | 'awaiting_approval' | 'completed' | 'failed' | 'cancelled';

export const RUN_STATUSES: RunStatus[] = [
  'queued',
  'running',
  'waiting',
  'awaiting_approval',
  'completed',
  'failed',
  'cancelled',
];

/** Statuses a run never leaves. */
export const TERMINAL: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled']);

export interface Run {
  id: string;
  agent: string;
  status: RunStatus;
  stop_reason: string | null;
  input: unknown;
  output: unknown;
  error: { code?: string; message?: string } | null;
  session_id: string | null;
  user_id: string | null;
  trigger: string | null;
  prompt_version: string | null;
  attempts: number;
  usage: { input_tokens: number; output_tokens: number };
  cost_usd: number;
  step_count: number;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  outcome?: { status: 'committed' | 'rejected'; value: unknown; decided_at: string } | null;
}

export interface TraceStep {
  seq: number;
  parent_seq: number | null;
  type: string;
  name: string;
  model: string | null;
  tokens_in: number | null;
  tokens_out: number | null;
  cost_usd: number | null;
  latency_ms: number | null;
  ok: boolean | null;
  error_code: string | null;
  attempt: number;
  execution: number;
  executions: { attempt: number; started_at: string; end: string | null }[];
  started_at: string;
  verdict: { stage: string | null; action: string | null; reason: string | null } | null;
}

export interface Trace {
  trace_id: string;
  user_id: string | null;
  session_id: string | null;
  agent: string;
  model: string | null;
  prompt_version: string | null;
  outcome: 'speculative' | 'committed' | 'rejected';
  status: RunStatus;
  stop_reason: string | null;
  total_tokens_in: number;
  total_tokens_out: number;
  total_cost_usd: number;
  duration_ms: number | null;
  attempts: number;
  steps: TraceStep[];
}

/** A cursor page of any list. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** The badge class of a run's or an approval's status: ok, warn (going or waiting), bad. */
export function statusTone(status: string): 'ok' | 'warn' | 'bad' | '' {
  if (status === 'completed' || status === 'approved') return 'ok';
  if (status === 'failed' || status === 'rejected' || status === 'cancelled' || status === 'expired')
    return 'bad';
  if (
    status === 'queued' ||
    status === 'running' ||
    status === 'waiting' ||
    status === 'awaiting_approval' ||
    status === 'pending'
  )
    return 'warn';
  return '';
}

/** An eval as `GET /v1/evals` lists it (src/evals/eval-view.ts, `EvalView` without cases). */
export interface EvalSummary {
  id: string;
  suite: string;
  agent: string;
  prompt_version: string | null;
  status: 'running' | 'completed' | 'interrupted' | 'failed';
  trials: number;
  concurrency: number;
  case_count: number;
  pass_rate: number;
  passed: number;
  failed: number;
  errored: number;
  total: number;
  cost_usd: number;
  judge_cost_usd: number;
  latency_ms: { mean: number; p50: number; p95: number };
  k: number;
  pass_at_k: number;
  pass_hat_k: number;
  created_by: string | null;
  created_at: string;
  ended_at: string | null;
  options: Record<string, unknown>;
}

/** One case trial of an eval (`EvalCaseView`). */
export interface EvalCase {
  id: string;
  trial: number;
  verdict: 'pass' | 'fail' | 'error';
  score: number;
  run_id: string | null;
  cost_usd: number;
  judge_cost_usd: number;
  latency_ms: number;
  stop_reason: string | null;
  tags: string[];
  scores: {
    scorer: string;
    pass: boolean;
    score: number;
    reason: string;
    cost_usd?: number;
    error?: unknown;
  }[];
  error?: { code: string; message: string };
}

/** A page of `GET /v1/evals` (its list is `evals`, not `data`). */
export interface EvalPage {
  data: EvalSummary[];
  next_cursor: string | null;
}

/** `GET /v1/evals/{id}`. */
export interface Eval extends EvalSummary {
  cases: EvalCase[];
}

/** The badge class of an eval's status or a case's verdict. */
export function evalTone(value: string): 'ok' | 'warn' | 'bad' | '' {
  if (value === 'completed' || value === 'pass') return 'ok';
  if (value === 'running' || value === 'interrupted') return 'warn';
  if (value === 'failed' || value === 'fail' || value === 'error') return 'bad';
  return '';
}
