import type { SerializedError } from '../errors/keel-error.js';
import type { Usage } from '../model/model.js';

/**
 * Lifecycle of a run. `queued` and `running` are live; `waiting` holds no worker (approvals,
 * timers; later issues); the last three are terminal and always carry a stop reason.
 */
export type RunStatus = 'queued' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled';

export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

/** Why a run ended. Every terminal run has exactly one. */
export type StopReason =
  | 'completed'
  | 'max_steps'
  | 'budget'
  | 'deadline'
  | 'loop_detected'
  | 'cancelled'
  | 'error'
  | 'guard_blocked'
  | 'rejected';

/** The status a run ends in for a given stop reason. */
export function statusForStopReason(reason: StopReason): RunStatus {
  if (reason === 'completed') return 'completed';
  if (reason === 'cancelled') return 'cancelled';
  return 'failed';
}

/** A run as stored. Usage and cost are the totals of its steps, written when it ends. */
export interface RunRecord {
  id: string;
  tenantId: string;
  agent: string;
  status: RunStatus;
  stopReason: StopReason | null;
  input: unknown;
  output: unknown;
  error: SerializedError | null;
  sessionId: string | null;
  metadata: Record<string, unknown>;
  idempotencyKey: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  /** Fencing token: increases with every claim. Journal writes carry it and fail when stale. */
  fence: number;
  /** How many times the run has been claimed (1 on a first execution, +1 per recovery). */
  attempts: number;
  cancelRequested: boolean;
  usage: Usage;
  costUsd: number;
  stepCount: number;
  createdAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  updatedAt: Date;
}

/** Step kinds. Later issues add `guard`, `approval`, `memory`, `agent`. */
export type StepKind = 'model' | 'tool' | (string & {});

export type StepStatus = 'started' | 'completed' | 'failed';

/** One journal entry. The hot row stays small: outputs live in the payload table. */
export interface StepRecord {
  runId: string;
  seq: number;
  parentSeq: number | null;
  kind: StepKind;
  name: string;
  inputHash: string;
  status: StepStatus;
  attempt: number;
  startedAt: Date;
  endedAt: Date | null;
  usage: Usage | null;
  costUsd: number | null;
  /** Reference to the step's output payload, or null (no output yet, or none). */
  outputRef: string | null;
  error: SerializedError | null;
  /** Small, non-payload facts about the step (model id, tools offered, finish reason). */
  meta: Record<string, unknown> | null;
  /** The output payload, present when loaded with `withOutputs`. */
  output?: unknown;
}

/** Proof of ownership of a claimed run; every journal write presents it. */
export interface Lease {
  runId: string;
  owner: string;
  fence: number;
}

export interface NewRun {
  /** Optional caller-chosen id; generated otherwise. */
  id?: string;
  tenantId?: string;
  agent: string;
  input: unknown;
  sessionId?: string | null;
  metadata?: Record<string, unknown>;
  /** Deduplicates submissions: a second run with the same tenant and key returns the first. */
  idempotencyKey?: string | null;
}

export interface RunFilter {
  tenantId?: string;
  agent?: string;
  status?: RunStatus;
  sessionId?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Page size, 1..500 (default 50). */
  limit?: number;
  /** Opaque cursor from a previous page: runs strictly older than it. */
  cursor?: string;
}

export interface StepStart {
  seq: number;
  parentSeq: number | null;
  kind: StepKind;
  name: string;
  inputHash: string;
  attempt: number;
  startedAt: Date;
  meta?: Record<string, unknown> | null;
}

export interface StepEnd extends StepStart {
  status: 'completed' | 'failed';
  endedAt: Date;
  output?: unknown;
  error?: SerializedError | null;
  usage?: Usage | null;
  costUsd?: number | null;
}

export interface RunEnd {
  stopReason: StopReason;
  output?: unknown;
  error?: SerializedError | null;
  usage: Usage;
  costUsd: number;
  stepCount: number;
}

export interface HeartbeatResult {
  runId: string;
  /** False when the lease is gone (another worker claimed the run): stop working on it. */
  held: boolean;
  cancelRequested: boolean;
}
