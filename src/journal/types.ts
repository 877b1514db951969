import type { SerializedError } from '../errors/keel-error.js';
import type { Usage } from '../model/model.js';
import type { SqlExecutor } from './sql-client.js';

/**
 * Lifecycle of a run. `queued` and `running` are live; `awaiting_approval` (a tool call waits
 * for a human decision) and `waiting` (a model step waits out a provider outage until its
 * not-before time, see `RunWait`) hold no worker: a run awaiting approval is never claimed, a
 * waiting one is claimed once its time has come. The last three are terminal and always carry a
 * stop reason.
 */
export const RUN_STATUSES = [
  'queued',
  'running',
  'waiting',
  'awaiting_approval',
  'completed',
  'failed',
  'cancelled',
] as const;
/** One of `RUN_STATUSES`: where a run stands. */
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The run statuses that end a run: `completed`, `failed` and `cancelled`. */
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
  | 'rejected'
  | 'paused';

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
  /** The end user the run acts for, as its submitter named them (null when not given). */
  userId: string | null;
  /** What started the run: `user_explicit`, `cli`, `api`, `eval`, `schedule`... (null before migration 12). */
  trigger: string | null;
  /** Id of the API key that submitted the run over HTTP; null from the CLI or `runAgent`. */
  createdBy: string | null;
  /** The agent's prompt version when the run was created, `code:<sha256 prefix>` (see prompt-version.ts). */
  promptVersion: string | null;
  /** The dead run this run retries (`JournalStore.retryRun`); null for a run submitted afresh. */
  retryOf: string | null;
  /**
   * The run that retried this one, if any. Read by `getRun`, `listRuns` and `retryRun` (an index
   * lookup); null in the records other methods return (claims, finishes), which need no link.
   */
  retriedBy: string | null;
  idempotencyKey: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  /** Fencing token: increases with every claim. Journal writes carry it and fail when stale. */
  fence: number;
  /** How many times the run has been claimed (1 on a first execution, +1 per recovery). */
  attempts: number;
  cancelRequested: boolean;
  /**
   * Time spent awaiting approvals so far, in ms. The run's deadline does not count it: a run may
   * wait days for a human and still get its full working time once resumed.
   */
  waitedMs: number;
  /** Why and until when the run waits; set while its status is `waiting`, null otherwise. */
  wait: RunWait | null;
  usage: Usage;
  costUsd: number;
  stepCount: number;
  /**
   * The agent version whose code produced the run's journal (see `agentVersionOf`), recorded by
   * its first execution; null before then (and for runs of before migration 29).
   */
  agentVersion: AgentVersion | null;
  /** Each resume of the run by another agent version (a deploy), oldest first. */
  versionChanges: AgentVersionChange[];
  createdAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  updatedAt: Date;
}

/** What `JournalStore.retryRun` needs: the dead run, and who retries it. */
export interface RunRetryInput {
  /** The dead run to retry. */
  runId: string;
  /** Only a run of this tenant (another tenant's run is not found); any tenant when omitted. */
  tenantId?: string;
  /** Who retries, for the audit log: `key:<id>`, `cli:<user>`. */
  actor: string;
  /** Optional id of the new run; generated otherwise. */
  id?: string;
  /** Id of the API key that retried it over HTTP (the new run's `createdBy`). */
  createdBy?: string | null;
  /** The agent's prompt version now (the fix may be a new prompt); the dead run's when omitted. */
  promptVersion?: string | null;
}

/** An agent's version as a run records it: the hash and its readable parts. */
export interface AgentVersion {
  /** `agent:<sha256 prefix>` of instructions, tool specs and model. */
  version: string;
  /** Hash prefix of the instructions alone. */
  instructions: string;
  /** The tools' names, in the agent's order. */
  tools: string[];
  /** `provider:model`, or the model reference. */
  model: string;
}

/** A resume of a run by another agent version than the one that recorded its journal. */
export interface AgentVersionChange {
  from: string;
  to: string;
  /** Steps before this seq were recorded by `from` and are served from the journal. */
  atSeq: number;
  /** ISO time of the resume. */
  at: string;
  instructionsChanged: boolean;
  toolsAdded: string[];
  toolsRemoved: string[];
  modelChanged?: { from: string; to: string };
}

/**
 * A run as a claim hands it over: the run (now `running` under the new lease) and what the claim
 * took it from.
 */
export interface ClaimedRun extends RunRecord {
  /**
   * True when the run was `running` under an earlier execution's lease that had expired: this
   * claim recovers it from a worker that died, stalled or lost the database. False for a queued
   * run (new, or handed back by a draining worker) and a waiting one whose not-before time came.
   */
  leaseRecovered: boolean;
  /**
   * True when the claim took the run over before its lease expired, because the worker that
   * held it had died (its liveness lock was gone; see `JournalStore.holdLiveness`).
   */
  ownerGone: boolean;
}

/** A worker's liveness lock (`JournalStore.holdLiveness`). */
export interface LivenessHold {
  /** False while the lock's connection is down (runs claimed then are covered by their lease only). */
  isHeld(): boolean;
  /** Gives the lock up: the owner's remaining running runs become claimable at once. Idempotent. */
  release(): Promise<void>;
}

/**
 * A run released by a model step whose provider failed with a retryable error and asked for (or
 * backed off to) a wait too long to hold a worker for. Waiting counts against the deadline.
 */
export interface RunWait {
  /** The code of the error waited out, e.g. `gateway_unavailable`, `provider_http_429`. */
  reason: string;
  /** That error's message. */
  message: string;
  /** Not before: no worker claims the run earlier (database clock). */
  until: Date;
  /** The waiting model step. */
  seq: number;
  /** Model calls that step has made so far (the next one is `attempts + 1`). */
  attempts: number;
}

/** Step kinds. Later issues add `guard`, `approval`, `memory`, `agent`. */
export type StepKind = 'model' | 'tool' | (string & {});

/** The status of a journaled step: `started`, `completed` or `failed`. */
export type StepStatus = 'started' | 'completed' | 'failed';

/** A slice of the text a model step streamed (see migration 0006). */
export interface TextDeltaRecord {
  runId: string;
  seq: number;
  /** 0, 1, 2... per step, across executions. */
  idx: number;
  /** The run's fence when it was written: one value per claim of the run. */
  fence: number;
  /** The model call's attempt within the step (a retried call streams again). */
  attempt: number;
  /** The step's model (`provider:model`), on a step's first slice only. */
  name: string | null;
  text: string;
  createdAt: Date;
}

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
  /**
   * Earlier executions of this step that never finished, oldest first (empty for a step that ran
   * once): a crash or lost lease mid-step (`abandoned`), a release to wait for a provider
   * (`waited`), or a draining worker's release (`released`). The row's own `attempt` and `startedAt` are the latest execution's.
   */
  priorExecutions: PriorStepExecution[];
}

/** An execution of a step that another execution replaced (see `StepRecord.priorExecutions`). */
export interface PriorStepExecution {
  attempt: number;
  startedAt: Date;
  end: 'abandoned' | 'waited' | 'released';
}

/** Proof of ownership of a claimed run; every journal write presents it. */
export interface Lease {
  runId: string;
  owner: string;
  fence: number;
}

/** A run to create: agent, input, session, tenant, attribution. */
export interface NewRun {
  /** Optional caller-chosen id; generated otherwise. */
  id?: string;
  tenantId?: string;
  agent: string;
  input: unknown;
  sessionId?: string | null;
  metadata?: Record<string, unknown>;
  /** Stored as given: callers validate ids at their edge (no NUL, no unpaired surrogate). */
  userId?: string | null;
  trigger?: string | null;
  createdBy?: string | null;
  promptVersion?: string | null;
  /**
   * The version of the agent the creator knows (see `agentVersionOf`), when it is the one that
   * runs it (`runAgent`): recorded with the row, so neither the claim nor the first execution
   * writes it later.
   */
  agentVersion?: AgentVersion | null;
  /** Deduplicates submissions: a second run with the same tenant and key returns the first. */
  idempotencyKey?: string | null;
}

/** The filter of `JournalStore.listRuns`. */
export interface RunFilter {
  tenantId?: string;
  agent?: string;
  status?: RunStatus;
  sessionId?: string;
  userId?: string;
  trigger?: string;
  stopReason?: string;
  promptVersion?: string;
  /**
   * Only dead runs (`true`): those that ended with stop reason `error` (the agent failed, or its
   * worker died on every claim: `too_many_attempts`), the dead-letter queue an operator retries
   * from. Retried ones stay listed, with `retriedBy` set.
   */
  dead?: boolean;
  /**
   * A run id, a trace id (32 hex digits, as exported to OpenTelemetry) or a user id, matched
   * exactly: the runs any of them names.
   */
  search?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Page size, 1..500 (default 50). */
  limit?: number;
  /** Opaque cursor from a previous page: runs strictly older than it. */
  cursor?: string;
}

/**
 * A session as its runs describe it: a session is the runs of a tenant that share a
 * `sessionId` (no row of its own), so it exists from its first run on.
 */
export interface SessionRecord {
  id: string;
  tenantId: string;
  runCount: number;
  /** When its first run was created. */
  createdAt: Date;
  /** When its latest run was created. */
  lastRunAt: Date;
  /** Its runs not yet ended (queued, running, waiting, awaiting approval), oldest first. */
  activeRunIds: string[];
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

/**
 * A human approval of one tool call. `pending` until decided; `approved`, `rejected` (by a
 * person), `expired` (its ttl passed first) and `cancelled` (the run was cancelled) are final.
 */
export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'expired', 'cancelled'] as const;
/** The status of an approval: `pending`, `approved`, `rejected`, `expired`, `cancelled`. */
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/** The final statuses of an approval: what became of it. */
export const APPROVAL_OUTCOMES = [
  'approved',
  'rejected',
  'expired',
  'cancelled',
] as const satisfies readonly Exclude<ApprovalStatus, 'pending'>[];

/** What a person decides. */
export type ApprovalDecision = 'approve' | 'reject';

/** An approval as stored. `stepSeq` is the journal position of its `approval` step. */
export interface ApprovalRecord {
  id: string;
  tenantId: string;
  runId: string;
  stepSeq: number;
  tool: string;
  /** The tool call's arguments, as the model gave them (validated against the tool's schema). */
  arguments: unknown;
  status: ApprovalStatus;
  reason: string | null;
  /** Who decided (an API key id, a user): recorded with every decision. */
  decidedBy: string | null;
  requestedAt: Date;
  decidedAt: Date | null;
  expiresAt: Date | null;
}

/** An approval to request when a run suspends; `step` is its `approval` step, journaled `started`. */
export interface NewApproval {
  stepSeq: number;
  tool: string;
  arguments: unknown;
  /** Expires this long after the request (database clock); null or absent: never. */
  ttlMs?: number | null;
  step: StepStart;
}

export interface ApprovalFilter {
  tenantId?: string;
  runId?: string;
  status?: ApprovalStatus;
  /** 1..500 (default 100), newest first. */
  limit?: number;
  /** The `nextCursor` of the page before (only `listApprovalsPage` returns one). */
  cursor?: string;
}

export interface ApprovalDecisionInput {
  approvalId: string;
  /** When given, an approval of another tenant is not found. */
  tenantId?: string;
  decision: ApprovalDecision;
  reason?: string | null;
  decidedBy: string;
  /**
   * Runs in the decision's transaction when it approves a pending approval (not on a repeated
   * decision), before the run is woken: what the approval grants (a budget extension) commits
   * with it, and the run never resumes before it. Must use the same database as the store.
   */
  onApprove?: (tx: SqlExecutor, approval: ApprovalRecord) => Promise<void>;
}
