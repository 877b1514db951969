/**
 * The API shapes the approvals, sessions and playground pages read (a subset of each answer: see
 * docs/api.md), and small helpers they share. Run shapes are the console's own (`api/types.ts`).
 */

export {
  statusTone,
  TERMINAL,
  type Page,
  type Run,
  type RunStatus,
  type Trace,
  type TraceStep,
} from '../api/types';

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled';

export interface Approval {
  id: string;
  run_id: string;
  step_seq: number;
  /** `budget_extension`: a budget with `on_exhausted: 'approval'` ran out (its `tool` is `budget:<id>`). */
  kind: 'tool' | 'budget_extension';
  tool: string;
  arguments: unknown;
  status: ApprovalStatus;
  reason: string | null;
  decided_by: string | null;
  requested_at: string;
  decided_at: string | null;
  expires_at: string | null;
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
