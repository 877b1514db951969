/**
 * The API shapes the approvals, sessions and playground pages read (a subset of each answer: see
 * docs/api.md), and small helpers they share.
 */

export type RunStatus =
  'queued' | 'running' | 'waiting' | 'awaiting_approval' | 'completed' | 'failed' | 'cancelled';

export const ENDED: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

export interface Run {
  id: string;
  agent: string;
  status: RunStatus;
  stop_reason: string | null;
  input: unknown;
  output: unknown;
  error: { code: string; message: string } | null;
  session_id: string | null;
  user_id: string | null;
  cost_usd: number;
  step_count: number;
  created_at: string;
  ended_at: string | null;
}

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled';

export interface Approval {
  id: string;
  run_id: string;
  step_seq: number;
  tool: string;
  arguments: unknown;
  status: ApprovalStatus;
  reason: string | null;
  decided_by: string | null;
  requested_at: string;
  decided_at: string | null;
  expires_at: string | null;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface SessionSummary {
  id: string;
  run_count: number;
  active_run_count: number;
  created_at: string;
  last_run_at: string;
  agent: string;
  first_message: string;
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
  started_at: string;
}

export interface Trace {
  trace_id: string;
  status: RunStatus;
  stop_reason: string | null;
  total_cost_usd: number;
  duration_ms: number | null;
  steps: TraceStep[];
}

export interface AgentSummary {
  name: string;
  model?: string;
  tools?: { name: string; needs_approval?: boolean | string }[];
}

/** A run's input or output as chat text: a string as is, other JSON pretty-printed. */
export function messageText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 2);
}

/** The badge class of a run or approval status. */
export function statusTone(status: string): 'ok' | 'warn' | 'bad' | '' {
  if (status === 'completed' || status === 'approved') return 'ok';
  if (status === 'failed' || status === 'rejected' || status === 'cancelled' || status === 'expired')
    return 'bad';
  if (status === 'awaiting_approval' || status === 'pending' || status === 'waiting') return 'warn';
  return '';
}
