/**
 * The run API's answers as the Runs and Run detail pages read them (docs/api.md: runs, trace,
 * steps), and the labels and badges they share.
 */
import { statusTone, type Page, type Run } from '../api/types';

export {
  RUN_STATUSES,
  statusTone,
  TERMINAL,
  type Run,
  type RunStatus,
  type Trace,
  type TraceStep,
} from '../api/types';

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

export type RunPage = Page<Run>;

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

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${statusTone(status)}`}>{status.replace('_', ' ')}</span>;
}

/** A run's input or output as one line of text. */
export function preview(value: unknown, max = 80): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
