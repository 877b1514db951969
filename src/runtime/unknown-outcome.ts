import type { ApprovalRecord, NewApproval, RunRecord } from '../journal/types.js';
import type { ToolCall } from '../model/model.js';
import type { Tool } from '../tools/tool.js';
import { suspendOnApprovals, type ApprovalOutcome } from './approval-gate.js';
import type { DurableRun, StepRequest } from './durable-run.js';
import type { RunEventListener } from './run-events.js';

/**
 * Effects whose outcome is unknown: a crash left a tool step `started` and unfinished, so its
 * effect may or may not have happened. A tool with `reconcile` finds out by itself (tool-call.ts);
 * a destructive one without it is not re-invoked blindly: a person decides, through an ordinary
 * approval on the tool step's own seq (no new journal position, so replays line up). Approve =
 * invoke `run` again; reject or expiry = skip (the model is told the outcome is unknown).
 */

/** Why an unknown-outcome approval was asked; its `arguments` carry it as `reason`. */
export const UNKNOWN_OUTCOME_REASON = 'unknown_outcome';

/** A tool call that a person must decide on before it is invoked again. */
export interface UnknownOutcomeCall {
  call: ToolCall;
  tool: Tool;
  /** The tool step's seq (the approval is stored at it). */
  seq: number;
  /** The tool step as `runToolCall` journals it (its `started` row already exists). */
  request: StepRequest;
  /** The arguments as journaled (what the approver sees). */
  args: unknown;
}

/** True when a call's earlier execution crashed and only a person may decide to re-invoke it. */
export function needsUnknownOutcomeDecision(tool: Tool, durable: DurableRun, seq: number): boolean {
  return tool.effect === 'destructive' && tool.reconcile === undefined && durable.isUnknownOutcome(seq);
}

/** The approval's `arguments`: why it was asked, the call's arguments, and its idempotency key. */
export function unknownOutcomeArguments(runId: string, seq: number, args: unknown): Record<string, unknown> {
  return { reason: UNKNOWN_OUTCOME_REASON, idempotencyKey: `${runId}:${seq}`, arguments: args };
}

/**
 * The decisions on a turn's unknown-outcome calls, by tool seq. Decided ones are returned (the
 * tool step records the decision in its meta, so a replay needs no lookup); if any is undecided,
 * the missing approvals are requested and the run suspends holding no worker (throws
 * `RunSuspendedError`), as approval-gate.ts does.
 */
export async function resolveUnknownOutcomes({
  calls,
  durable,
  run,
  onEvent,
}: {
  calls: readonly UnknownOutcomeCall[];
  durable: DurableRun;
  run: RunRecord;
  onEvent?: RunEventListener;
}): Promise<Map<number, ApprovalOutcome>> {
  const outcomes = new Map<number, ApprovalOutcome>();
  if (calls.length === 0) return outcomes;
  const stored = new Map<number, ApprovalRecord>();
  for (const approval of await durable.listApprovals()) stored.set(approval.stepSeq, approval);
  const toRequest: NewApproval[] = [];
  const waitingOn: string[] = [];
  for (const entry of calls) {
    const record = stored.get(entry.seq);
    if (record && record.status !== 'pending') {
      outcomes.set(entry.seq, {
        approvalId: record.id,
        status: record.status,
        reason: record.reason,
        decidedBy: record.decidedBy,
      });
      onEvent?.({
        type: 'approval-decision',
        runId: run.id,
        approvalId: record.id,
        seq: entry.seq,
        tool: entry.call.name,
        decision: record.status,
        decidedBy: record.decidedBy,
        reason: record.reason,
      });
      continue;
    }
    if (record) waitingOn.push(record.id);
    else
      toRequest.push({
        stepSeq: entry.seq,
        tool: entry.call.name,
        arguments: unknownOutcomeArguments(run.id, entry.seq, entry.args),
        ttlMs: entry.tool.approvalTtlMs ?? null,
        // Its `started` row exists already and is kept as it is.
        step: durable.stepStart(entry.request),
      });
  }
  if (toRequest.length === 0 && waitingOn.length === 0) return outcomes;

  return suspendOnApprovals({ durable, run, toRequest, waitingOn, ...(onEvent ? { onEvent } : {}) });
}
