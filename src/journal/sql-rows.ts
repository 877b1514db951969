import type { SerializedError } from '../errors/keel-error.js';
import type { Usage } from '../model/model.js';
import type {
  AgentVersion,
  AgentVersionChange,
  PriorStepExecution,
  ApprovalRecord,
  ApprovalStatus,
  RunRecord,
  RunStatus,
  StepRecord,
  StepStatus,
  StopReason,
} from './types.js';
import { TERMINAL_STATUSES } from './types.js';
import { fromStorableJson, fromStorableText, toStorableJson } from './storable-json.js';
import { unpackStepMeta } from './step-meta-codec.js';

/** The terminal statuses as a SQL list, for "still live" and "ended" checks. */
export const TERMINAL_SQL = `(${TERMINAL_STATUSES.map((status) => `'${status}'`).join(', ')})`;

/**
 * The id of the run that retried run `outer` (a column reference such as `run.id`), as a scalar
 * subquery over the unique `runs_retry_of` index: select it `AS retried_by`.
 */
export function retriedBySql(runs: string, outer: string): string {
  return `(SELECT retry.id FROM ${runs} AS retry WHERE retry.retry_of = ${outer})`;
}

/**
 * Rows of the journal tables as the SQL drivers return them, and their mapping to records.
 * Kept apart from the store so the store reads as its queries.
 */

export interface RunRow {
  id: string;
  tenant_id: string;
  agent: string;
  status: RunStatus;
  stop_reason: StopReason | null;
  input: unknown;
  output: unknown;
  error: SerializedError | null;
  session_id: string | null;
  metadata: Record<string, unknown> | null;
  user_id?: string | null;
  trigger?: string | null;
  created_by?: string | null;
  prompt_version?: string | null;
  /** Migration 28. */
  retry_of?: string | null;
  /** Selected by the queries that read the link back (`retriedBySql`); absent elsewhere. */
  retried_by?: string | null;
  idempotency_key: string | null;
  lease_owner: string | null;
  lease_expires_at: Date | string | null;
  fence: number | string;
  attempts: number;
  cancel_requested: boolean;
  waited_ms: number | string;
  available_at?: Date | string;
  wait_reason?: string | null;
  wait_detail?: { message?: unknown; seq?: unknown; attempts?: unknown } | null;
  input_tokens: number | string;
  output_tokens: number | string;
  cached_input_tokens: number | string | null;
  reasoning_tokens: number | string | null;
  cost_usd: number | string;
  step_count: number;
  agent_version?: unknown;
  version_changes?: unknown;
  created_at: Date | string;
  started_at: Date | string | null;
  ended_at: Date | string | null;
  updated_at: Date | string;
}

/** A `text_deltas` row (`fence` is a bigint: pg returns it as a string). */
export interface TextDeltaRow {
  run_id: string;
  seq: number;
  idx: number;
  fence: string | number;
  attempt: number;
  name: string | null;
  text: string;
  created_at: Date | string;
}

export interface StepRow {
  run_id: string;
  seq: number;
  parent_seq: number | null;
  kind: string;
  name: string;
  input_hash: string;
  status: StepStatus;
  attempt: number;
  started_at: Date | string;
  ended_at: Date | string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cached_input_tokens: number | null;
  reasoning_tokens: number | null;
  cost_usd: number | string | null;
  output_ref: string | null;
  error: SerializedError | null;
  meta: Record<string, unknown> | null;
  /** Earlier executions (migration 14); absent from rows of queries that do not select it. */
  prior_executions?: unknown;
  output?: unknown;
}

export function toRunRecord(row: RunRow): RunRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    agent: row.agent,
    status: row.status,
    stopReason: row.stop_reason,
    input: fromStorableJson(row.input),
    output: fromStorableJson(row.output),
    error: fromStorableJson(row.error),
    sessionId: row.session_id,
    metadata: fromStorableJson(row.metadata) ?? {},
    userId: row.user_id ?? null,
    trigger: row.trigger ?? null,
    createdBy: row.created_by ?? null,
    promptVersion: row.prompt_version ?? null,
    retryOf: row.retry_of ?? null,
    retriedBy: row.retried_by ?? null,
    idempotencyKey: row.idempotency_key,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: toDateOrNull(row.lease_expires_at),
    fence: Number(row.fence),
    attempts: Number(row.attempts),
    cancelRequested: row.cancel_requested,
    waitedMs: Number(row.waited_ms ?? 0),
    wait: toRunWait(row),
    usage: toUsage(row),
    costUsd: Number(row.cost_usd),
    stepCount: Number(row.step_count),
    agentVersion: (fromStorableJson(row.agent_version) as AgentVersion | null | undefined) ?? null,
    versionChanges: (fromStorableJson(row.version_changes) as AgentVersionChange[] | null | undefined) ?? [],
    createdAt: toDate(row.created_at),
    startedAt: toDateOrNull(row.started_at),
    endedAt: toDateOrNull(row.ended_at),
    updatedAt: toDate(row.updated_at),
  };
}

/** The wait of a `waiting` run (see migration 0008); null for any other status. */
function toRunWait(row: RunRow): RunRecord['wait'] {
  if (row.status !== 'waiting' || !row.wait_reason || row.available_at === undefined) return null;
  const detail = fromStorableJson(row.wait_detail ?? {});
  return {
    reason: row.wait_reason,
    message: typeof detail.message === 'string' ? detail.message : '',
    until: toDate(row.available_at),
    seq: Number(detail.seq ?? 0),
    attempts: Number(detail.attempts ?? 0),
  };
}

export interface ApprovalRow {
  id: string;
  tenant_id: string;
  run_id: string;
  step_seq: number;
  tool: string;
  arguments: unknown;
  status: ApprovalStatus;
  reason: string | null;
  decided_by: string | null;
  requested_at: Date | string;
  decided_at: Date | string | null;
  expires_at: Date | string | null;
}

export function toApprovalRecord(row: ApprovalRow): ApprovalRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    runId: row.run_id,
    stepSeq: Number(row.step_seq),
    tool: fromStorableText(row.tool),
    arguments: fromStorableJson(row.arguments),
    status: row.status,
    reason: row.reason === null ? null : fromStorableText(row.reason),
    decidedBy: row.decided_by,
    requestedAt: toDate(row.requested_at),
    decidedAt: toDateOrNull(row.decided_at),
    expiresAt: toDateOrNull(row.expires_at),
  };
}

export function toStepRecord(row: StepRow, withOutputs: boolean): StepRecord {
  const hasUsage = row.input_tokens !== null || row.output_tokens !== null;
  const name = fromStorableText(row.name);
  const record: StepRecord = {
    runId: row.run_id,
    seq: row.seq,
    parentSeq: row.parent_seq,
    kind: row.kind,
    name,
    inputHash: row.input_hash,
    status: row.status,
    attempt: row.attempt,
    startedAt: toDate(row.started_at),
    endedAt: toDateOrNull(row.ended_at),
    usage: hasUsage ? toUsage(row) : null,
    costUsd: row.cost_usd === null ? null : Number(row.cost_usd),
    outputRef: toOutputRef(row.run_id, row.output_ref),
    error: fromStorableJson(row.error),
    meta: unpackStepMeta(name, row.meta),
    priorExecutions: toPriorExecutions(row.prior_executions),
  };
  // A stored JSON null is an output; "no payload" leaves the key out.
  if (withOutputs && row.output_ref !== null) record.output = fromStorableJson(row.output);
  return record;
}

function toPriorExecutions(value: unknown): PriorStepExecution[] {
  if (!Array.isArray(value)) return [];
  return value.map((entry: { attempt: number; started_at: string; end: PriorStepExecution['end'] }) => ({
    attempt: Number(entry.attempt),
    startedAt: new Date(entry.started_at),
    end: entry.end,
  }));
}

export function toUsage(row: {
  input_tokens: number | string | null;
  output_tokens: number | string | null;
  cached_input_tokens: number | string | null;
  reasoning_tokens: number | string | null;
}): Usage {
  return {
    inputTokens: Number(row.input_tokens ?? 0),
    outputTokens: Number(row.output_tokens ?? 0),
    ...(row.cached_input_tokens === null ? {} : { cachedInputTokens: Number(row.cached_input_tokens) }),
    ...(row.reasoning_tokens === null ? {} : { reasoningTokens: Number(row.reasoning_tokens) }),
  };
}

export function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

export function toDateOrNull(value: Date | string | null): Date | null {
  return value === null ? null : toDate(value);
}

/**
 * JSON text for a jsonb parameter; `undefined` (not JSON) is stored as JSON null. Strings that
 * Postgres refuses (NUL, lone surrogates) are escaped: read rows back through the `to*Record`s.
 */
export function toJson(value: unknown): string {
  return toStorableJson(value);
}

/**
 * A step's `outputRef` as the API has always named it, `<run id>:<seq>`. Rows written since
 * migration 27 store the payload key within its run (the seq's digits: the row already holds
 * the run id); older rows store the full form (it always has a `:`), which passes as it is.
 */
function toOutputRef(runId: string, stored: string | null): string | null {
  return stored !== null && /^\d+$/.test(stored) ? `${runId}:${stored}` : stored;
}
