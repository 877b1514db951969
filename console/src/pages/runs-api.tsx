/**
 * The run API's answers as the Runs and Run detail pages read them (docs/api.md: runs, trace,
 * steps), and the labels and badges they share.
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

export const STOP_REASONS = [
  'completed',
  'max_steps',
  'budget',
  'deadline',
  'loop_detected',
  'cancelled',
  'error',
  'guard_blocked',
  'rejected',
  'paused',
] as const;

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

export interface RunPage {
  data: Run[];
  next_cursor: string | null;
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

export interface Envelope {
  prompt_version: string | null;
  provider: string | null;
  model: string | null;
  deployment: string | null;
  cached: boolean;
  tools_offered: string[];
  tool_calls: { id: string; name: string; arguments: unknown }[];
  finish_reason: string | null;
  stated_reason: string | null;
  guards: {
    seq: number;
    guard: string;
    stage: string | null;
    action: string | null;
    reason: string | null;
    guarded_seq: number | null;
    latency_ms: number | null;
  }[];
  retrieved_context_ids: string[];
}

export interface StepDetail {
  seq: number;
  kind: string;
  name: string;
  status: string;
  error: { code?: string; message?: string } | null;
  meta: Record<string, unknown> | null;
  envelope: Envelope | null;
  /** Present only for keys that may read payloads. */
  payload?: unknown;
}

export const TERMINAL: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled']);

/** The badge class of a status: ok, warn (still going or waiting), bad. */
export function statusTone(status: string): 'ok' | 'warn' | 'bad' {
  if (status === 'completed') return 'ok';
  if (status === 'failed' || status === 'cancelled') return 'bad';
  return 'warn';
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${statusTone(status)}`}>{status.replace('_', ' ')}</span>;
}

/** A run's input or output as one line of text. */
export function preview(value: unknown, max = 80): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
