import { raceAbort } from '../util/race-abort.js';
import { isKeelError, type SerializedError } from '../errors/keel-error.js';
import { ToolError } from '../errors/runtime-errors.js';
import type { RunRecord } from '../journal/types.js';
import type { ToolCall, ToolMessage } from '../model/model.js';
import type { Tool, ToolContext } from '../tools/tool.js';
import { canonicalJson } from '../util/canonical-hash.js';
import type { Logger } from '../util/logger.js';
import { sleep } from '../util/sleep.js';
import { fullJitterDelay } from './backoff.js';
import type { ApprovalOutcome } from './approval-gate.js';
import type { DurableRun, StepOutcome, StepRequest } from './durable-run.js';
import type { FaultHook } from './fault-points.js';
import type { RunLimits } from './run-limits.js';
import { redactValue, type TextRedactor } from './redaction.js';
import { combineSignals } from './run-signals.js';

/**
 * The `tools` state of the agent loop: one tool call, run with its timeout and retries under the
 * journal (a tool with effects is journaled `started` first and re-invoked with the same
 * idempotency key after a crash), or journaled as refused. Split from agent-loop.ts.
 */

export type ParsedArguments = { ok: true; value: unknown } | { ok: false; message: string };

export function parseArguments(call: ToolCall): ParsedArguments {
  const text = call.arguments.trim() === '' ? '{}' : call.arguments;
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, message: `arguments are not valid JSON: ${(error as Error).message}` };
  }
}

/** Journals a call that will not run (refused before execution) as a failed tool step. */
export function recordRejectedCall({
  durable,
  call,
  seq,
  parentSeq,
  tool,
  error,
  redact,
  input = { arguments: redact ? redact(call.arguments) : call.arguments },
}: {
  durable: DurableRun;
  call: ToolCall;
  seq: number;
  /** The model step that asked for the call. */
  parentSeq: number;
  tool: Tool | undefined;
  error: SerializedError;
  /** The step's identity: the raw arguments unless told otherwise. */
  input?: unknown;
  /** The run's redaction rules: the identity is taken from the arguments as journaled. */
  redact?: TextRedactor;
}) {
  const meta = { toolCallId: call.id, effect: tool?.effect ?? 'none' };
  return durable.step(
    { seq, parentSeq, kind: 'tool', name: call.name, input, journalStart: false, meta },
    async () => ({ status: 'failed', error }),
  );
}

/** A tool call as the loop planned it: where it goes in the journal and whether it may run. */
export interface PlannedToolCall {
  call: ToolCall;
  /** The tool step's position. */
  seq: number;
  /** The model step that asked for the call. */
  parentSeq: number;
  tool: Tool | undefined;
  args: ParsedArguments;
  /** Set when the call must not run: rejected by a person, refused by a policy. */
  refusal?: SerializedError;
  /**
   * True when the refusal came from a policy: the step is then journaled with the same input a
   * run of the tool would have (its arguments), so a replay, which consults no policy, matches.
   */
  refusedByPolicy?: boolean;
  /**
   * A person's decision on a destructive call whose outcome a crash left unknown (see
   * unknown-outcome.ts): approved, the call is invoked again; otherwise it is skipped.
   */
  unknownOutcome?: ApprovalOutcome;
}

/** The journal step of a tool call that runs, as `runToolCall` asks for it. */
export function toolStepRequest({
  call,
  seq,
  parentSeq,
  tool,
  args,
}: {
  call: ToolCall;
  seq: number;
  parentSeq: number;
  tool: Tool;
  /** The arguments as journaled (redacted when the run has rules). */
  args: unknown;
}): StepRequest {
  return {
    seq,
    parentSeq,
    kind: 'tool',
    name: call.name,
    input: { arguments: args },
    journalStart: tool.effect !== 'none',
    meta: { toolCallId: call.id, effect: tool.effect },
  };
}

/**
 * Runs (or replays) one tool call and returns the message the model gets. A call that will not
 * run (unknown tool, bad arguments, rejected, refused) is journaled as a failed tool step, so
 * traces and counters see it and a replay returns the same result. The result is text (JSON for
 * structured results): media in tool results only come from gateway callers.
 */
export async function runToolCall({
  planned,
  durable,
  limits,
  signal,
  run,
  logger,
  faultHook,
  afterRun,
  redact,
}: {
  planned: PlannedToolCall;
  durable: DurableRun;
  limits: RunLimits;
  signal: AbortSignal;
  run: RunRecord;
  logger: Logger;
  faultHook?: FaultHook;
  /** Told of a call this execution ran (not replayed), with how it went. */
  afterRun?: (outcome: { ok: boolean; errorCode?: string }) => Promise<void>;
  /** The run's redaction rules: step identities are taken from the arguments as journaled. */
  redact?: TextRedactor;
}): Promise<ToolMessage & { content: string }> {
  const { call, seq, parentSeq, tool, args, refusal } = planned;
  const journaled = (value: unknown) => (redact ? redactValue(value, redact) : value);
  const reject = (error: SerializedError, input?: unknown) =>
    recordRejectedCall({ durable, call, seq, parentSeq, tool, error, input, redact });

  let result;
  if (refusal) {
    result = await reject(
      refusal,
      planned.refusedByPolicy && args.ok ? { arguments: journaled(args.value) } : undefined,
    );
  } else if (!tool) {
    result = await reject(
      new ToolError(
        'tool_unknown',
        call.name,
        `Unknown tool "${call.name}". Available tools are listed in the request.`,
      ).toJSON(),
    );
  } else if (!args.ok) {
    result = await reject(new ToolError('tool_invalid_arguments', call.name, args.message).toJSON());
  } else {
    const parsed = tool.input.safeParse(args.value);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; ');
      result = await reject(
        new ToolError('tool_invalid_arguments', call.name, `invalid arguments: ${issues}`).toJSON(),
      );
    } else {
      const replayed = durable.isReplay(seq);
      const decision = planned.unknownOutcome;
      result = await durable.step(
        toolStepRequest({ call, seq, parentSeq, tool, args: journaled(args.value) }),
        async ({ attempt, idempotencyKey, unknownOutcome }) => {
          if (decision && decision.status !== 'approved') return skippedCall(tool, decision);
          const outcome = await executeTool({
            tool,
            args: parsed.data,
            attempt,
            idempotencyKey,
            unknownOutcome,
            call,
            seq,
            limits,
            signal,
            run,
            logger,
            faultHook,
          });
          if (!decision) return outcome;
          const unknown = { approvalId: decision.approvalId, decision: decision.status };
          return { ...outcome, meta: { ...outcome.meta, unknownOutcome: unknown } };
        },
      );
      if (!replayed && afterRun) {
        await afterRun(
          result.status === 'completed' ? { ok: true } : { ok: false, errorCode: result.error.code },
        );
      }
    }
  }
  return result.status === 'completed'
    ? { role: 'tool', toolCallId: call.id, name: call.name, content: toolContent(result.output) }
    : {
        role: 'tool',
        toolCallId: call.id,
        name: call.name,
        content: JSON.stringify({ error: { code: result.error.code, message: result.error.message } }),
        isError: true,
      };
}

/**
 * A call whose outcome is unknown that a person chose not to invoke again (rejected, or the
 * approval expired): a failed step telling the model what is known, so it can carry on.
 */
function skippedCall(tool: Tool, decision: ApprovalOutcome): StepOutcome {
  const message =
    `The outcome of this ${tool.name} call is unknown: the worker running it stopped before ` +
    `recording its result, and it was not run again (approval ${decision.approvalId} ${decision.status}` +
    `${decision.reason ? `: ${decision.reason}` : ''}). It may or may not have taken effect.`;
  return {
    status: 'failed',
    error: new ToolError('tool_outcome_unknown', tool.name, message).toJSON(),
    meta: { unknownOutcome: { approvalId: decision.approvalId, decision: decision.status } },
  };
}

async function executeTool({
  tool,
  args,
  attempt,
  idempotencyKey,
  unknownOutcome,
  call,
  seq,
  limits,
  signal,
  run,
  logger,
  faultHook,
}: {
  tool: Tool;
  args: unknown;
  attempt: number;
  idempotencyKey: string;
  /** An earlier execution crashed mid-call: ask `reconcile` first, if the tool has one. */
  unknownOutcome: boolean;
  call: ToolCall;
  seq: number;
  limits: RunLimits;
  signal: AbortSignal;
  run: RunRecord;
  logger: Logger;
  faultHook?: FaultHook;
}): Promise<StepOutcome> {
  const timeoutMs = tool.timeoutMs ?? limits.toolTimeoutMs;
  const context = (toolSignal: AbortSignal, toolAttempt: number) => ({
    runId: run.id,
    idempotencyKey,
    signal: toolSignal,
    toolCallId: call.id,
    attempt: toolAttempt,
    logger: logger.child({ runId: run.id, tool: tool.name, seq }),
  });
  if (unknownOutcome && tool.reconcile) {
    const reconciled = await reconcileCall({ tool, args, signal, timeoutMs, context: context, attempt });
    if (reconciled) return reconciled;
  }
  let lastError: SerializedError | undefined;
  for (let retry = 0; retry <= tool.retries; retry++) {
    throwIfAborted(signal);
    await faultHook?.('before-tool-call', { runId: run.id, seq });
    const attemptSignal = combineSignals({
      signals: [signal],
      timeoutMs,
      onTimeout: () =>
        new ToolError('tool_timeout', tool.name, `Tool "${tool.name}" timed out after ${timeoutMs} ms.`),
    });
    try {
      const output = await raceAbort(
        async () => tool.run(args, context(attemptSignal.signal, attempt + retry)),
        attemptSignal.signal,
      );
      await faultHook?.('after-tool-call', { runId: run.id, seq });
      return { status: 'completed', output: toJsonValue(output) };
    } catch (thrown) {
      if (signal.aborted) throw signal.reason;
      const error = attemptSignal.signal.aborted ? attemptSignal.signal.reason : thrown;
      lastError = isKeelError(error)
        ? error.toJSON()
        : new ToolError(
            'tool_failed',
            tool.name,
            error instanceof Error ? error.message : String(error),
          ).toJSON();
      if (retry < tool.retries)
        await sleep(fullJitterDelay({ attempt: retry, baseMs: 200, capMs: 5_000 }), signal);
    } finally {
      attemptSignal.dispose();
    }
  }
  return {
    status: 'failed',
    error: lastError ?? new ToolError('tool_failed', tool.name, 'tool failed').toJSON(),
  };
}

/**
 * Asks a tool's `reconcile` whether a crashed execution's effect happened, under the tool's
 * timeout: the recorded outcome when it did (meta `reconciled: true`), a failed step when
 * `reconcile` threw, undefined when it did not happen (then `run` is invoked).
 */
async function reconcileCall({
  tool,
  args,
  signal,
  timeoutMs,
  context,
  attempt,
}: {
  tool: Tool;
  args: unknown;
  signal: AbortSignal;
  timeoutMs: number;
  context: (signal: AbortSignal, attempt: number) => ToolContext;
  attempt: number;
}): Promise<StepOutcome | undefined> {
  const reconcile = tool.reconcile!;
  const reconcileSignal = combineSignals({
    signals: [signal],
    timeoutMs,
    onTimeout: () =>
      new ToolError(
        'tool_timeout',
        tool.name,
        `Tool "${tool.name}" reconcile timed out after ${timeoutMs} ms.`,
      ),
  });
  try {
    const answer = await raceAbort(
      async () => reconcile(args, context(reconcileSignal.signal, attempt)),
      reconcileSignal.signal,
    );
    if (answer === undefined || answer === null) return undefined;
    if (typeof answer !== 'object' || typeof answer.done !== 'boolean') {
      throw new Error('reconcile must return { done: true, result }, { done: false } or undefined');
    }
    if (!answer.done) return undefined;
    return { status: 'completed', output: toJsonValue(answer.result), meta: { reconciled: true } };
  } catch (thrown) {
    if (signal.aborted) throw signal.reason;
    const error = reconcileSignal.signal.aborted ? reconcileSignal.signal.reason : thrown;
    const message = error instanceof Error ? error.message : String(error);
    return {
      status: 'failed',
      error: new ToolError(
        'tool_reconcile_failed',
        tool.name,
        `Could not tell whether an interrupted ${tool.name} call took effect: ${message}`,
      ).toJSON(),
      meta: { reconciled: false },
    };
  } finally {
    reconcileSignal.dispose();
  }
}

/**
 * The tool result as the model sees it. Canonical JSON (sorted keys), because a replay rebuilds
 * it from the journal, where jsonb has reordered the keys: plain JSON.stringify would send a
 * different request on replay than the live run did, and fail it as nondeterministic.
 */
export function toolContent(output: unknown): string {
  return typeof output === 'string' ? output : canonicalJson(output ?? null);
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}

/**
 * A tool's output as the journal stores and replays it (its JSON form: a Date becomes a string,
 * `undefined` null), so the live run and a replay build the same messages from it.
 */
function toJsonValue(output: unknown): unknown {
  const text = output === undefined ? undefined : JSON.stringify(output);
  return text === undefined ? null : (JSON.parse(text) as unknown);
}
