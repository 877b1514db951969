import { raceAbort } from '../util/race-abort.js';
import { isKeelError, KeelError, serializeError, type SerializedError } from '../errors/keel-error.js';
import { ModelAttemptsExhaustedError, ModelTimeoutError } from '../errors/model-errors.js';
import { RunCancelledError, ToolError } from '../errors/runtime-errors.js';
import type { RunEnd, RunRecord, StopReason } from '../journal/types.js';
import type {
  AssistantMessage,
  LanguageModel,
  Message,
  ModelRequest,
  ModelResponse,
  ToolCall,
  ToolMessage,
  Usage,
} from '../model/model.js';
import type { Tool } from '../tools/tool.js';
import { hashCanonical } from '../util/canonical-hash.js';
import { canonicalJson } from '../util/canonical-hash.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { DEFAULT_LIMITS, type Agent } from './agent.js';
import { fullJitterDelay } from './backoff.js';
import { sleep } from '../util/sleep.js';
import type { DurableRun, StepContext, StepOutcome, StepRequest, StepResult } from './durable-run.js';
import type { FaultHook } from './fault-points.js';
import { countableUsage, modelStepOutcome } from './model-step-outcome.js';
import { createConversationDigest } from './conversation-digest.js';
import { createLoopDetector } from './loop-detector.js';
import { storedModelResponseSchema } from './stored-model-response.js';
import { combineSignals, DeadlineExceededError, RunWaitingError } from './run-signals.js';
import type { RunEventListener } from './run-events.js';
import { needsApproval, rejectionOf, resolveApprovals, type GatedCall } from './approval-gate.js';
import { promptVersionOf } from './prompt-version.js';

/** Backoff between model call attempts without a Retry-After: full jitter, base and ceiling. */
const MODEL_RETRY_BASE_MS = 250;
const MODEL_RETRY_CAP_MS = 30_000;
/**
 * The shortest wait before calling again a model that retries itself (the gateway): it already
 * retried and fell back within its own budget, so an immediate call would only multiply attempts.
 */
const OWNED_RETRY_MIN_WAIT_MS = 1_000;
/** Retries a model step keeps in its meta (the newest). */
const MAX_RECORDED_RETRIES = 20;

export interface AgentLoopOptions {
  run: RunRecord;
  agent: Agent;
  model: LanguageModel;
  durable: DurableRun;
  /** Aborts on cancellation, lost lease or drain; the reason says which. */
  signal: AbortSignal;
  clock: Clock;
  logger: Logger;
  onEvent?: RunEventListener;
  faultHook?: FaultHook;
  /** Call models with `stream` and emit `text-delta` events (for live output). Default false. */
  streamText?: boolean;
  /**
   * Earlier exchanges of the run's session, placed between the instructions and the run's input
   * (see `loadSessionHistory`). Must be the same on every execution of the run.
   */
  history?: readonly Message[];
}

/**
 * The agent loop, an explicit state machine: `model` (call the model) → `tools` (run the calls
 * it asked for, in parallel) → `model` ... until the model answers without tool calls or a
 * limit stops the run. Every transition goes through the journal, so re-running this function
 * after a crash replays recorded steps and continues where the run stopped.
 *
 * A tool call that needs approval suspends the run (see approval-gate.ts): this execution then
 * throws `RunSuspendedError` and the run waits, holding no worker, until a decision requeues it.
 *
 * Returns how the run ended; throws only when this execution must not end the run (lease lost,
 * worker draining, suspended), leaving it to the next owner.
 */
export async function runAgentLoop(options: AgentLoopOptions): Promise<RunEnd> {
  const { run, agent, model, durable, clock, logger, onEvent, faultHook, streamText = false } = options;
  const { history = [] } = options;
  const limits = { ...DEFAULT_LIMITS, ...agent.limits };
  const tools = new Map(agent.tools.map((tool) => [tool.name, tool]));
  const toolSpecs = agent.tools.map((tool) => tool.spec);
  const messages: Message[] = [
    { role: 'system', content: agent.instructions },
    ...history,
    { role: 'user', content: typeof run.input === 'string' ? run.input : JSON.stringify(run.input) },
  ];
  const conversation = createConversationDigest();
  conversation.push(...messages);
  const toolsHash = hashCanonical(toolSpecs);
  // The version of the code that decides now (a run resumed by newer code records the newer one).
  const promptVersion = promptVersionOf(agent);
  const usage: Usage = { inputTokens: 0, outputTokens: 0 };
  let costUsd = 0;
  let modelCalls = 0;
  const loopDetector = createLoopDetector({ threshold: limits.loopThreshold });

  // The deadline counts from the run's first start, so a recovered run does not get a new one;
  // time spent awaiting approvals does not count (a person may take days), waiting for a
  // provider does.
  const startedAt = run.startedAt?.getTime() ?? clock.now();
  const deadlineAt = startedAt + run.waitedMs + limits.deadlineMs;
  const deadline = combineSignals({
    signals: [options.signal],
    timeoutMs: deadlineAt - clock.now(),
    onTimeout: () => new DeadlineExceededError(run.id, limits.deadlineMs),
  });
  const signal = deadline.signal;

  const end = (
    stopReason: StopReason,
    extra: { output?: unknown; error?: SerializedError } = {},
  ): RunEnd => ({
    stopReason,
    output: extra.output ?? null,
    error: extra.error ?? null,
    usage,
    costUsd,
    stepCount: durable.stepCount,
  });
  const addUsage = (stepUsage: Usage | undefined, stepCost: number | undefined) => {
    const step = countableUsage(stepUsage, stepCost);
    usage.inputTokens += step.inputTokens;
    usage.outputTokens += step.outputTokens;
    costUsd += step.costUsd;
  };

  try {
    for (;;) {
      throwIfAborted(signal);
      if (modelCalls >= limits.maxSteps) {
        return end('max_steps', {
          error: limitError('max_steps', `reached maxSteps (${limits.maxSteps} model calls)`),
        });
      }
      if (limits.maxTokens !== undefined && usage.inputTokens + usage.outputTokens >= limits.maxTokens) {
        return end('budget', {
          error: limitError(
            'budget',
            `used ${usage.inputTokens + usage.outputTokens} tokens of maxTokens ${limits.maxTokens}`,
          ),
        });
      }
      if (limits.maxCostUsd !== undefined && costUsd >= limits.maxCostUsd) {
        return end('budget', {
          error: limitError('budget', `spent $${costUsd.toFixed(6)} of maxCostUsd $${limits.maxCostUsd}`),
        });
      }

      const request: ModelRequest = {
        messages: [...messages],
        ...(toolSpecs.length > 0 ? { tools: toolSpecs } : {}),
        ...(agent.responseFormat ? { responseFormat: agent.responseFormat } : {}),
        ...(agent.temperature !== undefined ? { temperature: agent.temperature } : {}),
        ...(agent.maxOutputTokens !== undefined ? { maxOutputTokens: agent.maxOutputTokens } : {}),
      };
      const seq = durable.allocateSeq();
      const modelStep: StepRequest = {
        seq,
        kind: 'model',
        name: `${model.provider}:${model.modelId}`,
        // Everything the call depends on, hashed incrementally (see conversation-digest.ts).
        input: {
          conversation: conversation.value(),
          tools: toolsHash,
          responseFormat: request.responseFormat,
          temperature: request.temperature,
          maxOutputTokens: request.maxOutputTokens,
        },
        // Journaled as started before the call: a crash mid-call leaves a row, so the execution
        // that replaces it is counted (the lost call as a model call, its spend as hidden
        // recompute) and the trace shows both executions.
        journalStart: true,
        meta: { provider: model.provider, model: model.modelId, tools: toolSpecs.map((spec) => spec.name) },
      };
      const modelResult = await durable.step(modelStep, async (context) => {
        const tally = startTally(context);
        const outcome = await callModel({
          model,
          request,
          seq,
          limits,
          signal,
          runId: run.id,
          tenantId: run.tenantId,
          onEvent: streamText ? onEvent : undefined,
          faultHook,
          logger,
          tally,
          promptVersion,
          retry: { durable, step: modelStep, clock, deadlineAt },
        });
        return withAttempts(outcome, tally);
      });
      modelCalls++;
      addUsage(modelResult.usage, modelResult.costUsd);
      if (modelResult.status === 'failed') return endOfFailedModelStep(modelResult, seq);
      if (limits.maxCostUsd !== undefined && modelResult.meta?.priced === false) {
        // A dollar cap that cannot be computed is not a cap: stop rather than spend blind.
        return end('budget', {
          error: limitError(
            'budget',
            `no price is known for model ${model.provider}:${model.modelId}, so maxCostUsd cannot be enforced`,
          ),
        });
      }

      const response = storedModelResponseSchema.parse(modelResult.output) as ModelResponse;
      const assistant: AssistantMessage = response.message;
      messages.push(assistant);
      conversation.push(assistant);
      const calls = assistant.toolCalls ?? [];
      if (calls.length === 0) return end('completed', { output: finalOutput(agent, assistant.content) });

      // Seqs are allocated before any tool starts so parallel calls get deterministic positions;
      // a call that needs approval gets its `approval` step right before its tool step.
      const planned = calls.map((call) => {
        const args = parseArguments(call);
        const tool = tools.get(call.name);
        const approvalSeq =
          tool && args.ok && needsApproval(tool, args.value) ? durable.allocateSeq() : undefined;
        return { call, args, tool, approvalSeq, seq: durable.allocateSeq() };
      });
      for (const { call, args } of planned) {
        if (args.ok && loopDetector.record(call.name, args.value)) {
          return end('loop_detected', {
            error: limitError(
              'loop_detected',
              `tool "${call.name}" was called ${limits.loopThreshold} times with the same arguments`,
            ),
          });
        }
      }
      // Each call's steps (approval and tool) name the model step that asked for them.
      const gated: GatedCall[] = planned.flatMap(({ call, args, tool, approvalSeq }) =>
        tool && args.ok && approvalSeq !== undefined
          ? [{ call, tool, args: args.value, approvalSeq, parentSeq: seq }]
          : [],
      );
      const rejections = new Map<number, KeelError>();
      if (gated.length > 0) {
        throwIfAborted(signal);
        const outcomes = await resolveApprovals({ gated, durable, run, onEvent });
        for (const entry of planned) {
          const outcome = entry.approvalSeq === undefined ? undefined : outcomes.get(entry.approvalSeq);
          if (outcome && outcome.status !== 'approved' && entry.tool)
            rejections.set(entry.seq, rejectionOf(entry.tool, outcome));
        }
        // A rejection under `end_run` ends the run before any call of this turn runs.
        const ending = planned.find(
          (entry) => rejections.has(entry.seq) && entry.tool?.onReject === 'end_run',
        );
        if (ending) {
          const rejection = rejections.get(ending.seq)!;
          await recordRejectedCall({
            durable,
            call: ending.call,
            seq: ending.seq,
            parentSeq: seq,
            tool: ending.tool,
            error: rejection,
          });
          return end('rejected', { error: rejection.toJSON() });
        }
      }
      const results = await Promise.all(
        planned.map(({ call, seq: toolSeq, args, tool }) =>
          runToolCall({
            call,
            seq: toolSeq,
            parentSeq: seq,
            args,
            tool,
            rejection: rejections.get(toolSeq),
            durable,
            limits,
            signal,
            run,
            logger,
            faultHook,
          }),
        ),
      );
      messages.push(...results);
      conversation.push(...results);
    }
  } catch (error) {
    // Released to wait for a provider: not an end, whatever happened to the signal since.
    if (isKeelError(error) && error.code === 'run_waiting') throw error;
    const reason = signal.aborted ? signal.reason : error;
    if (reason instanceof RunCancelledError) return end('cancelled', { error: reason.toJSON() });
    if (reason instanceof DeadlineExceededError) return end('deadline', { error: reason.toJSON() });
    if (isKeelError(reason) && (reason.code === 'lease_lost' || reason.code === 'worker_draining'))
      throw reason;
    if (
      isKeelError(error) &&
      (error.code === 'lease_lost' || error.code === 'database_unavailable' || error.code === 'run_suspended')
    )
      throw error;
    logger.error('run failed', { runId: run.id, error: serializeError(error) });
    return end('error', { error: serializeError(error) });
  } finally {
    deadline.dispose();
  }

  /**
   * How a failed model step ends the run, read from its record (so a replay ends the same way):
   * a non-retryable error ends it with that error; giving up on a retryable one ends it with
   * `deadline` or `model_attempts_exhausted`, the provider error as the cause.
   */
  function endOfFailedModelStep(result: StepResult & { status: 'failed' }, seq: number): RunEnd {
    const attempts = Number(result.meta?.attempts ?? result.attempt);
    if (result.meta?.gaveUp === 'deadline') {
      const cause = { error: result.error, attempts };
      return end('deadline', { error: new DeadlineExceededError(run.id, limits.deadlineMs, cause).toJSON() });
    }
    if (result.meta?.gaveUp === 'attempts') {
      const error = new ModelAttemptsExhaustedError({ seq, attempts, cause: result.error });
      return end('error', { error: error.toJSON() });
    }
    return end('error', { error: result.error });
  }
}

type Limits = typeof DEFAULT_LIMITS;

/** A failed model call that was retried, as the model step's meta keeps it. */
interface RetryRecord {
  /** The model call that failed (1, 2...). */
  attempt: number;
  code: string;
  /** The wait before the next call. */
  waitMs: number;
  /** True when the run was released to wait (status `waiting`), false for a wait in place. */
  released: boolean;
}

/** The model calls of one model step, counted across in-place retries and waits. */
interface AttemptTally {
  /** Model calls made so far, those of earlier executions included. */
  attempts: number;
  /** Retried failures, oldest first (the newest `MAX_RECORDED_RETRIES`). */
  retries: RetryRecord[];
  /** Why the step gave up on a retryable error, if it did. */
  gaveUp?: 'deadline' | 'attempts';
}

/** Picks up the count where an earlier execution (released to wait) left it. */
function startTally({ attempt, recordedMeta }: StepContext): AttemptTally {
  const recorded = recordedMeta?.retries;
  return { attempts: attempt - 1, retries: Array.isArray(recorded) ? (recorded as RetryRecord[]) : [] };
}

/** The step's outcome with its model calls counted: the `attempt` column and, after retries, meta. */
function withAttempts(outcome: StepOutcome, tally: AttemptTally): StepOutcome {
  const meta = { ...outcome.meta, ...attemptsMeta(tally) };
  return { ...outcome, attempt: tally.attempts, meta };
}

function attemptsMeta(tally: AttemptTally): Record<string, unknown> {
  return {
    ...(tally.retries.length > 0 ? { attempts: tally.attempts, retries: tally.retries } : {}),
    ...(tally.gaveUp === undefined ? {} : { gaveUp: tally.gaveUp }),
  };
}

/**
 * The wait before the next model call: the provider's (Retry-After, an open breaker's cooldown)
 * when it named one, and never less than exponential backoff with full jitter over the step's
 * attempts so far.
 */
function retryDelayOf(error: unknown, attempt: number): number {
  const backoff = fullJitterDelay({
    attempt: attempt - 1,
    baseMs: MODEL_RETRY_BASE_MS,
    capMs: MODEL_RETRY_CAP_MS,
  });
  return Math.max(backoff, retryAfterOf(error) ?? 0);
}

/** The wait an error asks for: `retryAfterMs` of a provider error, the gateway's, or in details. */
function retryAfterOf(error: unknown): number | undefined {
  if (!isKeelError(error)) return undefined;
  const own = (error as { retryAfterMs?: unknown }).retryAfterMs;
  const value = typeof own === 'number' ? own : error.details.retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

async function callModel({
  model,
  request,
  seq,
  limits,
  signal,
  runId,
  tenantId,
  onEvent,
  faultHook,
  logger,
  tally,
  promptVersion,
  retry,
}: {
  model: LanguageModel;
  request: ModelRequest;
  seq: number;
  limits: Limits;
  signal: AbortSignal;
  runId: string;
  tenantId: string;
  onEvent?: RunEventListener;
  faultHook?: FaultHook;
  logger: Logger;
  /** Counts the model calls (updated as they happen). */
  tally: AttemptTally;
  /** The agent's prompt version, for the step's decision envelope. */
  promptVersion: string;
  /** What a retry needs: the journal to release the run to, the step, the clock, the deadline. */
  retry: { durable: DurableRun; step: StepRequest; clock: Clock; deadlineAt: number };
}): Promise<StepOutcome> {
  let lastError: SerializedError | undefined;
  // A retryable failure is retried while the deadline allows, up to `modelAttempts` calls: in
  // place for a short wait, by releasing the run (status `waiting`) for a long one. A model that
  // retries itself (the gateway) has already retried and fallen back within its own budget; the
  // loop retries it only after a wait (its Retry-After, an open breaker's cooldown, or backoff).
  for (let attempt = tally.attempts + 1; ; attempt++) {
    throwIfAborted(signal);
    tally.attempts = attempt;
    await faultHook?.('before-model-call', { runId, seq });
    const call = combineSignals({
      signals: [signal],
      timeoutMs: limits.modelTimeoutMs,
      onTimeout: () => new ModelTimeoutError(model.modelId, limits.modelTimeoutMs),
    });
    try {
      const response = onEvent
        ? await streamModel({
            model,
            request,
            signal: call.signal,
            runId,
            tenantId,
            seq,
            attempt,
            onEvent,
          })
        : await model.generate(request, { signal: call.signal, run: { runId, tenantId, stepSeq: seq } });
      await faultHook?.('after-model-call', { runId, seq });
      return modelStepOutcome({ model, request, response, promptVersion });
    } catch (thrown) {
      if (signal.aborted) throw signal.reason;
      const error = call.signal.aborted && !signal.aborted ? call.signal.reason : thrown;
      lastError = serializeError(error);
      const retryable = isKeelError(error) ? error.retryable : false;
      if (!retryable) break;
      if (attempt >= limits.modelAttempts) {
        tally.gaveUp = 'attempts';
        break;
      }
      const delay = Math.max(retryDelayOf(error, attempt), model.retriesOwned ? OWNED_RETRY_MIN_WAIT_MS : 0);
      // No retry can happen before the deadline: give up now rather than wait for nothing.
      if (retry.clock.now() + delay >= retry.deadlineAt) {
        tally.gaveUp = 'deadline';
        break;
      }
      const released = delay > limits.maxInPlaceWaitMs;
      tally.retries = [...tally.retries, { attempt, code: lastError.code, waitMs: delay, released }].slice(
        -MAX_RECORDED_RETRIES,
      );
      logger.warn(released ? 'model call failed; the run waits to retry it' : 'model call failed, retrying', {
        runId,
        seq,
        attempt,
        delayMs: delay,
        code: lastError.code,
      });
      if (released) {
        const waiting = await retry.durable.waitForRetry({
          request: retry.step,
          attempts: attempt,
          meta: attemptsMeta(tally),
          delayMs: delay,
          error: lastError,
        });
        throw new RunWaitingError(runId, {
          reason: lastError.code,
          until: waiting.wait?.until ?? new Date(retry.clock.now() + delay),
          seq,
          attempts: attempt,
        });
      }
      try {
        await sleep(delay, signal);
      } catch (aborted) {
        if (!(signal.reason instanceof DeadlineExceededError)) throw aborted;
        tally.gaveUp = 'deadline';
        break;
      }
    } finally {
      call.dispose();
    }
  }
  return { status: 'failed', error: lastError ?? serializeError(new Error('model call failed')) };
}

async function streamModel({
  model,
  request,
  signal,
  runId,
  tenantId,
  seq,
  attempt,
  onEvent,
}: {
  model: LanguageModel;
  request: ModelRequest;
  signal: AbortSignal;
  runId: string;
  tenantId: string;
  seq: number;
  attempt: number;
  onEvent: RunEventListener;
}): Promise<ModelResponse> {
  for await (const event of model.stream(request, { signal, run: { runId, tenantId, stepSeq: seq } })) {
    if (event.type === 'text-delta') onEvent({ type: 'text-delta', runId, seq, attempt, text: event.text });
    if (event.type === 'finish') return event.response;
  }
  throw new KeelError({
    code: 'model_output_invalid',
    message: `${model.modelId}: stream ended without a finish event`,
    fault: 'model',
    retryable: true,
  });
}

type ParsedArguments = { ok: true; value: unknown } | { ok: false; message: string };

function parseArguments(call: ToolCall): ParsedArguments {
  const text = call.arguments.trim() === '' ? '{}' : call.arguments;
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, message: `arguments are not valid JSON: ${(error as Error).message}` };
  }
}

/** Journals a call that will not run (refused before execution) as a failed tool step. */
function recordRejectedCall({
  durable,
  call,
  seq,
  parentSeq,
  tool,
  error,
}: {
  durable: DurableRun;
  call: ToolCall;
  seq: number;
  /** The model step that asked for the call. */
  parentSeq: number;
  tool: Tool | undefined;
  error: KeelError;
}) {
  const meta = { toolCallId: call.id, effect: tool?.effect ?? 'none' };
  return durable.step(
    {
      seq,
      parentSeq,
      kind: 'tool',
      name: call.name,
      input: { arguments: call.arguments },
      journalStart: false,
      meta,
    },
    async () => ({ status: 'failed', error: error.toJSON() }),
  );
}

async function runToolCall({
  call,
  seq,
  parentSeq,
  args,
  tool,
  rejection,
  durable,
  limits,
  signal,
  run,
  logger,
  faultHook,
}: {
  call: ToolCall;
  seq: number;
  /** The model step that asked for the call. */
  parentSeq: number;
  args: ParsedArguments;
  tool: Tool | undefined;
  /** Set when a person rejected the call (or its approval expired): it does not run. */
  rejection?: KeelError;
  durable: DurableRun;
  limits: Limits;
  signal: AbortSignal;
  run: RunRecord;
  logger: Logger;
  faultHook?: FaultHook;
}): Promise<ToolMessage> {
  const meta = { toolCallId: call.id, effect: tool?.effect ?? 'none' };
  // Rejected calls are journaled too (as failed steps) so traces and counters see them.
  const reject = (error: KeelError) => recordRejectedCall({ durable, call, seq, parentSeq, tool, error });

  let result;
  if (rejection) {
    result = await reject(rejection);
  } else if (!tool) {
    result = await reject(
      new ToolError(
        'tool_unknown',
        call.name,
        `Unknown tool "${call.name}". Available tools are listed in the request.`,
      ),
    );
  } else if (!args.ok) {
    result = await reject(new ToolError('tool_invalid_arguments', call.name, args.message));
  } else {
    const parsed = tool.input.safeParse(args.value);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; ');
      result = await reject(
        new ToolError('tool_invalid_arguments', call.name, `invalid arguments: ${issues}`),
      );
    } else {
      result = await durable.step(
        {
          seq,
          parentSeq,
          kind: 'tool',
          name: call.name,
          input: { arguments: args.value },
          journalStart: tool.effect !== 'none',
          meta,
        },
        ({ attempt, idempotencyKey }) =>
          executeTool({
            tool,
            args: parsed.data,
            attempt,
            idempotencyKey,
            call,
            seq,
            limits,
            signal,
            run,
            logger,
            faultHook,
          }),
      );
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

async function executeTool({
  tool,
  args,
  attempt,
  idempotencyKey,
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
  call: ToolCall;
  seq: number;
  limits: Limits;
  signal: AbortSignal;
  run: RunRecord;
  logger: Logger;
  faultHook?: FaultHook;
}): Promise<StepOutcome> {
  const timeoutMs = tool.timeoutMs ?? limits.toolTimeoutMs;
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
        async () =>
          tool.run(args, {
            runId: run.id,
            idempotencyKey,
            signal: attemptSignal.signal,
            toolCallId: call.id,
            attempt: attempt + retry,
            logger: logger.child({ runId: run.id, tool: tool.name, seq }),
          }),
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

/**
 * The tool result as the model sees it. Canonical JSON (sorted keys), because a replay rebuilds
 * it from the journal, where jsonb has reordered the keys: plain JSON.stringify would send a
 * different request on replay than the live run did, and fail it as nondeterministic.
 */
function toolContent(output: unknown): string {
  return typeof output === 'string' ? output : canonicalJson(output ?? null);
}

function finalOutput(agent: Agent, content: string): unknown {
  if (agent.responseFormat?.type !== 'json') return content;
  try {
    return JSON.parse(content) as unknown;
  } catch {
    throw new KeelError({
      code: 'model_output_invalid',
      message: `Agent "${agent.name}" asked for JSON but the model's final answer is not valid JSON.`,
      fault: 'model',
    });
  }
}

function limitError(code: StopReason, message: string): SerializedError {
  return { code, message, fault: 'caller', retryable: false };
}
