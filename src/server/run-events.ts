/**
 * `GET /v1/runs/{id}/events`: a run's progress as server-sent events, read from the journal
 * (so any replica can serve it, whichever one runs the agent) by polling the store until the
 * run ends.
 *
 * Event ids are integers derived from the journal: step `seq` starts as `2*seq+1` and ends as
 * `2*seq+2`; `run-end` is `2*(last seq)+3`. Events are sent in id order and a step's end is
 * sent before any later step's events (a later step that ends first waits for it), so the last
 * id a client saw is a complete cursor: reconnecting with `Last-Event-ID` loses and repeats
 * nothing. Events carry summaries (kind, name, status, usage, cost, error code), never payloads.
 *
 * An `approval` step is sent as `approval-request` when it starts (the run waits on a person)
 * and `approval-decision` when it ends (the decision was journaled as the run resumed), under
 * the same ids a step's start and end would have, with the approval's id, tool, expiry,
 * decision and who took it (read from the approvals of the run).
 */
import type { ServerResponse } from 'node:http';
import { RunNotFoundError } from '../errors/storage-errors.js';
import type { JournalStore } from '../journal/store.js';
import { TERMINAL_STATUSES, type ApprovalRecord, type RunRecord, type StepRecord } from '../journal/types.js';
import { sleep } from '../util/sleep.js';

/** One server-sent event. */
export interface RunEvent {
  id: number;
  event: 'step-start' | 'step-end' | 'approval-request' | 'approval-decision' | 'run-end';
  data: Record<string, unknown>;
}

/** Options of {@link streamRunEvents}. */
export interface RunEventsOptions {
  store: JournalStore;
  runId: string;
  tenantId: string;
  response: ServerResponse;
  /** Events with ids up to this one were received already (`Last-Event-ID`); -1 for none. */
  lastEventId: number;
  /** How often the journal is read while the run is live (default 150 ms). */
  pollIntervalMs?: number;
  /** How often a comment keeps idle connections open through proxies (default 15 s). */
  heartbeatMs?: number;
}

/**
 * The events of a run's journal with ids above `after`, in order. A live run's events stop at
 * the first step that has not ended (see the file comment); an ended run's include them all.
 * `approvals` (the run's, by step seq) give `approval` steps' events their approval details.
 */
export function runEvents(
  run: RunRecord,
  steps: readonly StepRecord[],
  after: number,
  approvals: ReadonlyMap<number, ApprovalRecord> = new Map(),
): RunEvent[] {
  const ended = TERMINAL_STATUSES.includes(run.status);
  const events: RunEvent[] = [];
  let lastSeq = -1;
  for (const step of steps) {
    lastSeq = Math.max(lastSeq, step.seq);
    const startId = 2 * step.seq + 1;
    const approval = step.kind === 'approval' ? approvals.get(step.seq) : undefined;
    if (startId > after) {
      events.push(
        step.kind === 'approval'
          ? { id: startId, event: 'approval-request', data: approvalRequestSummary(step, approval) }
          : { id: startId, event: 'step-start', data: stepSummary(step, true) },
      );
    }
    if (step.status === 'started') {
      if (ended) continue;
      break;
    }
    if (startId + 1 > after) {
      events.push(
        step.kind === 'approval'
          ? { id: startId + 1, event: 'approval-decision', data: approvalDecisionSummary(step, approval) }
          : { id: startId + 1, event: 'step-end', data: stepSummary(step, false) },
      );
    }
  }
  if (ended) {
    const endId = 2 * lastSeq + 3;
    if (endId > after) {
      events.push({
        id: endId,
        event: 'run-end',
        data: {
          run_id: run.id,
          status: run.status,
          stop_reason: run.stopReason,
          usage: { input_tokens: run.usage.inputTokens, output_tokens: run.usage.outputTokens },
          cost_usd: run.costUsd,
          step_count: run.stepCount,
          error_code: run.error?.code ?? null,
        },
      });
    }
  }
  return events;
}

function stepSummary(step: StepRecord, starting: boolean): Record<string, unknown> {
  return {
    run_id: step.runId,
    seq: step.seq,
    kind: step.kind,
    name: step.name,
    status: starting ? 'started' : step.status,
    attempt: step.attempt,
    started_at: step.startedAt.toISOString(),
    ended_at: starting ? null : (step.endedAt?.toISOString() ?? null),
    usage:
      starting || !step.usage
        ? null
        : { input_tokens: step.usage.inputTokens, output_tokens: step.usage.outputTokens },
    cost_usd: starting ? null : step.costUsd,
    error_code: starting ? null : (step.error?.code ?? null),
  };
}

/** Whether some `approval` step's event is still to be sent (only then are approvals read). */
export function needsApprovals(steps: readonly StepRecord[], after: number): boolean {
  return steps.some(
    (step) => step.kind === 'approval' && 2 * step.seq + (step.status === 'started' ? 1 : 2) > after,
  );
}

function metaString(step: StepRecord, key: string): string | null {
  const value = step.meta?.[key];
  return typeof value === 'string' ? value : null;
}

function approvalRequestSummary(
  step: StepRecord,
  approval: ApprovalRecord | undefined,
): Record<string, unknown> {
  return {
    run_id: step.runId,
    seq: step.seq,
    approval_id: approval?.id ?? metaString(step, 'approvalId'),
    tool: approval?.tool ?? step.name,
    status: 'pending',
    requested_at: (approval?.requestedAt ?? step.startedAt).toISOString(),
    expires_at: approval?.expiresAt?.toISOString() ?? null,
  };
}

const DECISIONS = new Set(['approved', 'rejected', 'expired', 'cancelled']);

function approvalDecisionSummary(
  step: StepRecord,
  approval: ApprovalRecord | undefined,
): Record<string, unknown> {
  const journaled = metaString(step, 'decision');
  const decision = approval && approval.status !== 'pending' ? approval.status : journaled;
  return {
    run_id: step.runId,
    seq: step.seq,
    approval_id: approval?.id ?? metaString(step, 'approvalId'),
    tool: approval?.tool ?? step.name,
    decision: decision !== null && DECISIONS.has(decision) ? decision : null,
    decided_by: approval?.decidedBy ?? null,
    reason: approval?.reason ?? null,
    decided_at: approval?.decidedAt?.toISOString() ?? null,
  };
}

/**
 * Streams a run's events to `response` until the run ends (then closes) or the client goes
 * away (then stops polling). Throws `RunNotFoundError` before any byte is sent when the run is
 * not the tenant's; after the headers, a store failure ends the stream (the client resumes).
 */
export async function streamRunEvents({
  store,
  runId,
  tenantId,
  response,
  lastEventId,
  pollIntervalMs = 150,
  heartbeatMs = 15_000,
}: RunEventsOptions): Promise<void> {
  let run = await store.getRun(runId, { tenantId });
  if (!run) throw new RunNotFoundError(runId);

  const controller = new AbortController();
  response.once('close', () => controller.abort());
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  response.write(': connected\n\n');
  const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), heartbeatMs);
  let after = lastEventId;
  try {
    for (;;) {
      const steps = await store.loadSteps(runId);
      const approvals = new Map<number, ApprovalRecord>();
      if (needsApprovals(steps, after)) {
        for (const approval of await store.listApprovals({ tenantId, runId, limit: 500 }))
          approvals.set(approval.stepSeq, approval);
      }
      for (const event of runEvents(run, steps, after, approvals)) {
        response.write(`id: ${event.id}\nevent: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`);
        after = event.id;
      }
      if (TERMINAL_STATUSES.includes(run.status)) break;
      await sleep(pollIntervalMs, controller.signal);
      // The run is read before its steps: once it has ended, the steps read after are final.
      run = await store.getRun(runId, { tenantId });
      if (!run) break;
    }
  } catch {
    if (!controller.signal.aborted) response.write(`: stream interrupted\n\n`);
  } finally {
    clearInterval(heartbeat);
    response.end();
  }
}
