/**
 * `GET /v1/runs/{id}/events`: a run's progress as server-sent events, read from the journal
 * (so any replica can serve it, whichever one runs the agent) by polling the store until the
 * run ends.
 *
 * Event ids are integers derived from the journal: every step `seq` owns the id range
 * `seq * 2^20` to `seq * 2^20 + 2^20 - 1`: its start at the bottom, its streamed text slices
 * (`text-delta`, from `text_deltas`) above it in order, its end at the top; `run-end` takes the
 * bottom of the range after the last step. Events are sent in id order and a step's end is sent
 * before any later step's events (a later step that ends first waits for it), so the last id a
 * client saw is a complete cursor: reconnecting with `Last-Event-ID` loses and repeats nothing.
 * Step events carry summaries (kind, name, status, usage, cost, error code), never payloads;
 * `text-delta` carries the text the model streamed, which is what a caller follows a run for.
 *
 * Model steps are journaled once, when they end; while one streams, its first text slice stands
 * for its start (a `step-start` synthesized from it). When it ends, whatever text the slices did
 * not carry (the tail still buffered, or all of it for a step faster than one slice) is sent as a
 * last `text-delta` from the step's output, just before `step-end`: concatenated, a step's deltas
 * are its text. `execution` tells executions apart: a model call retried after a failure, or a
 * run resumed elsewhere after a crash, streams the step again under a new value, and
 * `execution: 0` is the journaled text sent whole (when the slices do not match it); a client
 * shows the text of the latest execution.
 *
 * An `approval` step is sent as `approval-request` when it starts (the run waits on a person)
 * and `approval-decision` when it ends (the decision was journaled as the run resumed), under
 * the same ids a step's start and end would have, with the approval's id, tool, expiry,
 * decision and who took it (read from the approvals of the run).
 */
import type { ServerResponse } from 'node:http';
import { RunNotFoundError } from '../errors/storage-errors.js';
import type { JournalStore } from '../journal/store.js';
import {
  APPROVAL_OUTCOMES,
  TERMINAL_STATUSES,
  type ApprovalRecord,
  type RunRecord,
  type StepRecord,
  type TextDeltaRecord,
} from '../journal/types.js';
import { sleep } from '../util/sleep.js';
import { usageView } from './run-views.js';

/** One server-sent event. */
export interface RunEvent {
  id: number;
  event: 'step-start' | 'text-delta' | 'step-end' | 'approval-request' | 'approval-decision' | 'run-end';
  data: Record<string, unknown>;
}

/** Ids per step (see the file comment). */
const STEP_IDS = 2 ** 20;
/** Offset of the text sent from the output at a step's end. */
const TAIL_OFFSET = STEP_IDS - 2;
/** Offset of a step's end. */
const END_OFFSET = STEP_IDS - 1;
/** Slices beyond this many per step are not sent live (the tail at the step's end carries them). */
const MAX_SLICES = STEP_IDS - 3;

/** The id of a step's start (`offset` 0), of its slice `idx` (`idx + 1`), of its end... */
const eventId = (seq: number, offset: number) => seq * STEP_IDS + offset;

/** The first text slice a client that saw `after` may still need: its step's, from the start. */
export function deltaCursor(after: number): { seq: number; idx: number } {
  return { seq: Math.max(0, Math.floor(after / STEP_IDS)), idx: 0 };
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
  /**
   * Whether the stream's API key still works (not revoked nor expired), asked every
   * `keyCheckMs`: when it says no, the stream sends an `error` event and ends.
   */
  keyValid?: () => Promise<boolean>;
  /** How often `keyValid` is asked (default 1 s). */
  keyCheckMs?: number;
}

/** The `error` event that ends a stream whose API key stopped working. */
const KEY_REVOKED_EVENT = `event: error\ndata: ${JSON.stringify({
  code: 'unauthorized',
  message: 'The API key was revoked or has expired: the stream ends.',
})}\n\n`;

/** What {@link runEvents} reads besides the run and its steps. */
export interface RunEventSources {
  /** The run's approvals, by step seq (for `approval` steps' events). */
  approvals?: ReadonlyMap<number, ApprovalRecord>;
  /** Text slices from `deltaCursor(after)` on, in order. */
  deltas?: readonly TextDeltaRecord[];
  /** The text of ended model steps (their output's message), by seq, for their tails. */
  texts?: ReadonlyMap<number, string>;
}

/**
 * The events of a run's journal with ids above `after`, in order. A live run's events stop at
 * the first step that has not ended (see the file comment); an ended run's include them all.
 */
export function runEvents(
  run: RunRecord,
  steps: readonly StepRecord[],
  after: number,
  { approvals = new Map(), deltas = [], texts = new Map() }: RunEventSources = {},
): RunEvent[] {
  const ended = TERMINAL_STATUSES.includes(run.status);
  const events: RunEvent[] = [];
  const push = (event: RunEvent) => {
    if (event.id > after) events.push(event);
  };
  const slicesOf = new Map<number, TextDeltaRecord[]>();
  for (const delta of deltas) {
    if (delta.idx >= MAX_SLICES) continue;
    let list = slicesOf.get(delta.seq);
    if (list === undefined) slicesOf.set(delta.seq, (list = []));
    list.push(delta);
  }
  const pushSlices = (slices: readonly TextDeltaRecord[]) => {
    for (const slice of slices) {
      push({
        id: eventId(slice.seq, slice.idx + 1),
        event: 'text-delta',
        data: { run_id: run.id, seq: slice.seq, execution: executionOf(slice), text: slice.text },
      });
    }
  };

  let lastSeq = -1;
  let open = false;
  for (const step of steps) {
    lastSeq = Math.max(lastSeq, step.seq);
    const approval = step.kind === 'approval' ? approvals.get(step.seq) : undefined;
    push(
      step.kind === 'approval'
        ? {
            id: eventId(step.seq, 0),
            event: 'approval-request',
            data: approvalRequestSummary(step, approval),
          }
        : { id: eventId(step.seq, 0), event: 'step-start', data: stepSummary(step, true) },
    );
    const slices = slicesOf.get(step.seq) ?? [];
    pushSlices(slices);
    if (step.status === 'started') {
      if (ended) continue;
      open = true;
      break;
    }
    const text = texts.get(step.seq);
    if (step.kind === 'model' && text !== undefined) {
      const tail = tailOf(text, slices);
      if (tail !== undefined)
        push({
          id: eventId(step.seq, TAIL_OFFSET),
          event: 'text-delta',
          data: { run_id: run.id, seq: step.seq, execution: tail.execution, text: tail.text },
        });
    }
    push(
      step.kind === 'approval'
        ? {
            id: eventId(step.seq, END_OFFSET),
            event: 'approval-decision',
            data: approvalDecisionSummary(step, approval),
          }
        : { id: eventId(step.seq, END_OFFSET), event: 'step-end', data: stepSummary(step, false) },
    );
  }
  // A model step streaming now has slices but no record yet: its first slice stands for its start.
  if (!open && !ended) {
    for (const [seq, slices] of slicesOf) {
      const first = slices[0];
      if (seq <= lastSeq || first === undefined) continue;
      push({
        id: eventId(seq, 0),
        event: 'step-start',
        data: {
          run_id: run.id,
          seq,
          kind: 'model',
          name: first.name,
          status: 'started',
          attempt: null,
          started_at: first.createdAt.toISOString(),
          ended_at: null,
          usage: null,
          cost_usd: null,
          error_code: null,
        },
      });
      pushSlices(slices);
      break;
    }
  }
  if (ended) {
    // Slices of a step that never got a record (the run stopped mid-call) count as a step too.
    for (const seq of slicesOf.keys()) lastSeq = Math.max(lastSeq, seq);
    push({
      id: eventId(lastSeq + 1, 0),
      event: 'run-end',
      data: {
        run_id: run.id,
        status: run.status,
        stop_reason: run.stopReason,
        usage: usageView(run.usage),
        cost_usd: run.costUsd,
        step_count: run.stepCount,
        error_code: run.error?.code ?? null,
      },
    });
  }
  return events;
}

/**
 * What a step's slices did not carry of its text: the rest after the latest execution's slices
 * when they are its beginning; the whole text (execution 0) when they are not; nothing when they
 * carried it all.
 */
function tailOf(
  text: string,
  slices: readonly TextDeltaRecord[],
): { execution: number; text: string } | undefined {
  const last = slices.at(-1);
  if (last === undefined) return text === '' ? undefined : { execution: 0, text };
  const execution = executionOf(last);
  const streamed = slices
    .filter((slice) => executionOf(slice) === execution)
    .map((slice) => slice.text)
    .join('');
  if (!text.startsWith(streamed)) return { execution: 0, text };
  return text.length === streamed.length ? undefined : { execution, text: text.slice(streamed.length) };
}

/**
 * Which execution of a step streamed a slice, as one increasing number: the claim (fence) and,
 * within it, the model call's attempt (a failed call retried streams its text again).
 */
function executionOf(slice: TextDeltaRecord): number {
  return slice.fence * 1_000 + Math.min(slice.attempt, 999);
}

/** The text of a model step's output (a ModelResponse), if it has one. */
export function modelStepText(output: unknown): string | undefined {
  if (typeof output !== 'object' || output === null) return undefined;
  const message = (output as { message?: unknown }).message;
  if (typeof message !== 'object' || message === null) return undefined;
  const content = (message as { content?: unknown }).content;
  return typeof content === 'string' ? content : undefined;
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
    usage: starting || !step.usage ? null : usageView(step.usage),
    cost_usd: starting ? null : step.costUsd,
    error_code: starting ? null : (step.error?.code ?? null),
  };
}

/** Whether some `approval` step's event is still to be sent (only then are approvals read). */
export function needsApprovals(steps: readonly StepRecord[], after: number): boolean {
  return steps.some(
    (step) =>
      step.kind === 'approval' && eventId(step.seq, step.status === 'started' ? 0 : END_OFFSET) > after,
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

const DECISIONS: ReadonlySet<string> = new Set(APPROVAL_OUTCOMES);

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
  keyValid,
  keyCheckMs = 1_000,
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
  let keyCheckedAt = performance.now();
  try {
    for (;;) {
      // Outputs only of the steps whose end the client has not seen (a model step's tail comes
      // from its text): the first is the step whose range holds `after + 1`.
      const steps = await store.loadSteps(runId, {
        withOutputs: { fromSeq: Math.floor((after + 1) / STEP_IDS) },
      });
      const approvals = new Map<number, ApprovalRecord>();
      if (needsApprovals(steps, after)) {
        for (const approval of await store.listApprovals({ tenantId, runId, limit: 500 }))
          approvals.set(approval.stepSeq, approval);
      }
      const deltas = await store.listTextDeltas(runId, deltaCursor(after));
      const texts = new Map<number, string>();
      for (const step of steps) {
        const text = step.kind === 'model' ? modelStepText(step.output) : undefined;
        if (text !== undefined) texts.set(step.seq, text);
      }
      for (const event of runEvents(run, steps, after, { approvals, deltas, texts })) {
        response.write(`id: ${event.id}\nevent: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`);
        after = event.id;
      }
      if (TERMINAL_STATUSES.includes(run.status)) break;
      await sleep(pollIntervalMs, controller.signal);
      if (keyValid !== undefined && performance.now() - keyCheckedAt >= keyCheckMs) {
        keyCheckedAt = performance.now();
        if (!(await keyValid())) {
          response.write(KEY_REVOKED_EVENT);
          break;
        }
      }
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
