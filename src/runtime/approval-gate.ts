import { z } from 'zod';
import { ApprovalRejectedError } from '../errors/approval-errors.js';
import {
  APPROVAL_OUTCOMES,
  type ApprovalRecord,
  type NewApproval,
  type RunRecord,
} from '../journal/types.js';
import type { ToolCall } from '../model/model.js';
import type { Tool } from '../tools/tool.js';
import type { DurableRun, StepRequest } from './durable-run.js';
import type { RunEventListener } from './run-events.js';
import { RunSuspendedError } from './run-signals.js';

/** A tool call that needs a human decision before it runs. */
export interface GatedCall {
  call: ToolCall;
  tool: Tool;
  /** The arguments as parsed from the model's JSON (what the approver sees). */
  args: unknown;
  /** Journal position of the `approval` step, right before the tool step. */
  approvalSeq: number;
  /** The model step that asked for the call (the approval step's parent). */
  parentSeq: number;
}

/** The decision an `approval` step records as its output, so replays need no lookup. */
const approvalOutcomeSchema = z.object({
  approvalId: z.string(),
  status: z.enum(APPROVAL_OUTCOMES),
  reason: z.string().nullable(),
  decidedBy: z.string().nullable(),
});
export type ApprovalOutcome = z.infer<typeof approvalOutcomeSchema>;

/**
 * Whether a call needs approval. A predicate sees the validated arguments; arguments that fail
 * the schema need none (the call is refused anyway), and a predicate that throws fails closed.
 */
export function needsApproval(tool: Tool, rawArgs: unknown): boolean {
  const policy = tool.needsApproval;
  if (policy === undefined || policy === false) return false;
  if (policy === true) return true;
  const parsed = tool.input.safeParse(rawArgs);
  if (!parsed.success) return false;
  try {
    return policy(parsed.data) === true;
  } catch {
    return true;
  }
}

/**
 * What a policy asked a person before a model call (a budget extension), as the failed model
 * step's meta records it (`awaitingApproval`): replays read it back, so they ask the same.
 */
const policyApprovalRequestSchema = z.object({
  tool: z.string(),
  arguments: z.unknown(),
  stopReason: z.string(),
});
export type PolicyApprovalRequest = z.infer<typeof policyApprovalRequestSchema>;

/** The approval request a model step's meta records, if the step was held for one. */
export function policyApprovalOf(
  meta: Record<string, unknown> | undefined,
): PolicyApprovalRequest | undefined {
  const parsed = policyApprovalRequestSchema.safeParse(meta?.awaitingApproval);
  return parsed.success ? parsed.data : undefined;
}

/** One `approval` step to resolve: a gated tool call's, or a policy's. */
interface ApprovalGate {
  approvalSeq: number;
  parentSeq: number;
  /** The approval's `tool` (the tool's name, `budget:<id>` for a budget extension). */
  tool: string;
  args: unknown;
  ttlMs: number | null;
  meta: Record<string, unknown>;
}

function gateOf(gated: GatedCall): ApprovalGate {
  return {
    approvalSeq: gated.approvalSeq,
    parentSeq: gated.parentSeq,
    tool: gated.call.name,
    args: gated.args,
    ttlMs: gated.tool.approvalTtlMs ?? null,
    meta: { toolCallId: gated.call.id },
  };
}

function approvalStep(gate: ApprovalGate, approvalId?: string): StepRequest {
  return {
    seq: gate.approvalSeq,
    parentSeq: gate.parentSeq,
    kind: 'approval',
    name: gate.tool,
    input: { tool: gate.tool, arguments: gate.args },
    journalStart: false,
    meta: { ...gate.meta, ...(approvalId ? { approvalId } : {}) },
  };
}

/**
 * Resolves the approvals of one model turn's tool calls, before any of them runs. A decision
 * already journaled is replayed; one taken while the run waited is journaled now (completing
 * the `approval` step); if any call is still undecided, the run suspends: the new approvals are
 * requested, the run is set `awaiting_approval` and released, all in one fenced write, and
 * `RunSuspendedError` ends this execution. Returns the outcome per approval step seq.
 */
export function resolveApprovals({
  gated,
  durable,
  run,
  onEvent,
}: {
  gated: readonly GatedCall[];
  durable: DurableRun;
  run: RunRecord;
  onEvent?: RunEventListener;
}): Promise<Map<number, ApprovalOutcome>> {
  return resolveGates({ gates: gated.map(gateOf), durable, run, ...(onEvent ? { onEvent } : {}) });
}

/**
 * Resolves the approval a policy asked for before a model call (see `PolicyApproval`), on its
 * own `approval` step at `approvalSeq`, child of the held model step: replayed when journaled,
 * journaled when decided while the run waited, else requested, suspending the run (throws
 * `RunSuspendedError`). It never expires by itself.
 */
export async function resolvePolicyApproval({
  request,
  approvalSeq,
  parentSeq,
  durable,
  run,
  onEvent,
}: {
  request: PolicyApprovalRequest;
  approvalSeq: number;
  parentSeq: number;
  durable: DurableRun;
  run: RunRecord;
  onEvent?: RunEventListener;
}): Promise<ApprovalOutcome> {
  const gate: ApprovalGate = {
    approvalSeq,
    parentSeq,
    tool: request.tool,
    args: request.arguments,
    ttlMs: null,
    meta: { requestedBy: 'policy' },
  };
  const outcomes = await resolveGates({ gates: [gate], durable, run, ...(onEvent ? { onEvent } : {}) });
  return outcomes.get(approvalSeq) as ApprovalOutcome;
}

async function resolveGates({
  gates: gated,
  durable,
  run,
  onEvent,
}: {
  gates: readonly ApprovalGate[];
  durable: DurableRun;
  run: RunRecord;
  onEvent?: RunEventListener;
}): Promise<Map<number, ApprovalOutcome>> {
  const outcomes = new Map<number, ApprovalOutcome>();
  const live = gated.filter((entry) => !durable.isReplay(entry.approvalSeq));
  const stored = new Map<number, ApprovalRecord>();
  if (live.length > 0) {
    for (const approval of await durable.listApprovals()) stored.set(approval.stepSeq, approval);
  }
  const toRequest: NewApproval[] = [];
  let undecided = false;
  for (const entry of gated) {
    if (durable.isReplay(entry.approvalSeq)) {
      const replayed = await durable.step(approvalStep(entry), () => {
        throw new Error('unreachable: a recorded approval step is replayed');
      });
      outcomes.set(entry.approvalSeq, approvalOutcomeSchema.parse(replayed.output));
      continue;
    }
    const record = stored.get(entry.approvalSeq);
    if (record && record.status !== 'pending') {
      const outcome: ApprovalOutcome = {
        approvalId: record.id,
        status: record.status,
        reason: record.reason,
        decidedBy: record.decidedBy,
      };
      await durable.step(approvalStep(entry, record.id), async () => ({
        status: 'completed',
        output: outcome,
        meta: { approvalId: record.id, decision: record.status },
      }));
      onEvent?.({
        type: 'approval-decision',
        runId: run.id,
        approvalId: record.id,
        seq: entry.approvalSeq,
        tool: entry.tool,
        decision: record.status,
        decidedBy: record.decidedBy,
        reason: record.reason,
      });
      outcomes.set(entry.approvalSeq, outcome);
      continue;
    }
    undecided = true;
    if (!record) {
      toRequest.push({
        stepSeq: entry.approvalSeq,
        tool: entry.tool,
        arguments: entry.args,
        ttlMs: entry.ttlMs,
        step: durable.stepStart(approvalStep(entry)),
      });
    }
  }
  if (!undecided) return outcomes;

  const waitingOn = [...stored.values()].filter((approval) => approval.status === 'pending');
  return suspendOnApprovals({
    durable,
    run,
    toRequest,
    waitingOn: waitingOn.map((approval) => approval.id),
    ...(onEvent ? { onEvent } : {}),
  });
}

/**
 * Suspends the run on approvals: requests `toRequest`, announces each one still pending, and
 * throws `RunSuspendedError` naming them and the ones it already waits on (`waitingOn`).
 */
export async function suspendOnApprovals({
  durable,
  run,
  toRequest,
  waitingOn,
  onEvent,
}: {
  durable: DurableRun;
  run: RunRecord;
  toRequest: NewApproval[];
  waitingOn: string[];
  onEvent?: RunEventListener;
}): Promise<never> {
  const requested = await durable.suspendForApproval(toRequest);
  const pending = requested.filter((approval) => approval.status === 'pending');
  for (const approval of pending) {
    onEvent?.({
      type: 'approval-request',
      runId: run.id,
      approvalId: approval.id,
      seq: approval.stepSeq,
      tool: approval.tool,
      expiresAt: approval.expiresAt?.toISOString() ?? null,
    });
  }
  throw new RunSuspendedError(run.id, [...pending.map((approval) => approval.id), ...waitingOn]);
}

/** The error a call that was not approved gets instead of running. */
export function rejectionOf(tool: Tool, outcome: ApprovalOutcome): ApprovalRejectedError {
  return new ApprovalRejectedError({
    code: outcome.status === 'expired' ? 'approval_expired' : 'approval_rejected',
    tool: tool.name,
    approvalId: outcome.approvalId,
    reason: outcome.reason,
    decidedBy: outcome.decidedBy,
  });
}
