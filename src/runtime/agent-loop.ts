import { isKeelError, KeelError, serializeError, type SerializedError } from '../errors/keel-error.js';
import { ModelAttemptsExhaustedError } from '../errors/model-errors.js';
import { RunCancelledError } from '../errors/runtime-errors.js';
import type { RunEnd, RunRecord, StopReason } from '../journal/types.js';
import type {
  AssistantMessage,
  LanguageModel,
  Message,
  ModelRequest,
  ModelResponse,
  Usage,
} from '../model/model.js';
import { hashCanonical } from '../util/canonical-hash.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { DEFAULT_LIMITS, type Agent } from './agent.js';
import type { DurableRun, StepResult } from './durable-run.js';
import type { FaultHook } from './fault-points.js';
import { countableUsage } from './model-step-outcome.js';
import { createConversationDigest } from './conversation-digest.js';
import { createLoopDetector } from './loop-detector.js';
import { storedModelResponseSchema } from '../model/stored-model-response.js';
import { combineSignals, DeadlineExceededError } from './run-signals.js';
import type { RunEvent, RunEventListener } from './run-events.js';
import {
  needsApproval,
  policyApprovalOf,
  rejectionOf,
  resolveApprovals,
  resolvePolicyApproval,
  type ApprovalOutcome,
  type GatedCall,
  type PolicyApprovalRequest,
} from './approval-gate.js';
import { promptVersionOf } from './prompt-version.js';
import { runModelStep } from './model-call.js';
import { meterModel } from './metered-model.js';
import { createPolicyRunner } from './policy-runner.js';
import { createLimitPolicy, limitError, type RunLimits } from './run-limits.js';
import type { PolicyRunContext, PolicyStop, StepPolicy } from './step-policy.js';
import {
  parseArguments,
  recordRejectedCall,
  runToolCall,
  toolStepRequest,
  type PlannedToolCall,
} from './tool-call.js';
import { needsUnknownOutcomeDecision, resolveUnknownOutcomes } from './unknown-outcome.js';
import { guardsAt, runGuardSteps, type GuardsOutcome } from './guard-steps.js';
import type { Guard } from '../guards/guard.js';
import { redactMessage, redactValue, type TextRedactor } from './redaction.js';

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
  /**
   * What governs the run besides its own limits (budgets, controls, prompt registry), consulted
   * in this order through the step-policy seam (see step-policy.ts).
   */
  policies?: readonly StepPolicy[];
  /**
   * The run's redaction rules as one function (redaction.ts): the journal stores redacted
   * payloads, so the identities of steps (the conversation, tool arguments, guarded texts) are
   * taken from redacted text, which a replay reads back the same.
   */
  redact?: TextRedactor;
}

/** A tool call as planned for one turn, with the journal positions of its guards. */
interface TurnCall extends PlannedToolCall {
  approvalSeq: number | undefined;
  argGuardSeqs: number[];
  outputGuardSeqs: number[];
}

/**
 * The agent loop, an explicit state machine: `model` (call the model, model-call.ts) → `tools`
 * (run the calls it asked for, in parallel, tool-call.ts) → `model` ... until the model answers
 * without tool calls or something stops the run. Every transition goes through the journal, so
 * re-running this function after a crash replays recorded steps and continues where the run
 * stopped.
 *
 * What governs a run enters through one seam, the step policies (step-policy.ts): the run's own
 * limits first, then budgets, controls and the prompt registry. Guards (guard-steps.ts) check
 * the input, each call's arguments, each tool's output and the final answer, every verdict a
 * journaled `guard` step written before the effect it guards.
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
  const limits: RunLimits = { ...DEFAULT_LIMITS, ...agent.limits };
  const policies = createPolicyRunner([createLimitPolicy(limits), ...(options.policies ?? [])], logger);
  const tools = new Map(agent.tools.map((tool) => [tool.name, tool]));
  const toolSpecs = agent.tools.map((tool) => tool.spec);
  const toolsHash = hashCanonical(toolSpecs);
  const outputGuards = guardsAt(agent.guards, 'output');
  const usage: Usage = { inputTokens: 0, outputTokens: 0 };
  let costUsd = 0;
  let modelCalls = 0;
  const loopDetector = createLoopDetector({ threshold: limits.loopThreshold });
  const retriesByGuard = new Map<string, number>();
  const toolOutputs: string[] = [];

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
  const runContext: PolicyRunContext = { run, agent, model, signal };

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
  const endWith = ({ stop }: PolicyStop) => end(stop.reason, { error: stop.error });
  const addUsage = (stepUsage: Usage | undefined, stepCost: number | undefined) => {
    const step = countableUsage(stepUsage, stepCost);
    usage.inputTokens += step.inputTokens;
    usage.outputTokens += step.outputTokens;
    costUsd += step.costUsd;
  };
  const { redact } = options;
  // A guard's model calls (a classifier) are reserved against the run's budgets like its own,
  // with the run's totals as they stand when the guard runs (they are not added to them).
  const meter = (guardModel: LanguageModel, seq: number) =>
    meterModel(guardModel, {
      policies,
      context: () => ({ ...runContext, model: guardModel, seq, modelCalls, usage: { ...usage }, costUsd }),
    });
  const guardArgs = { durable, run, signal, meter, ...(redact ? { redact } : {}) };
  /** A message as the journal holds it (redacted by the run's rules), and as the model sees it. */
  const stored = (message: Message) => (redact ? redactMessage(message, redact) : message);
  const seen = (message: Message) => (agent.redactFromModel ? stored(message) : message);
  /** A value as journaled: what step identities are computed from. */
  const storedValue = <T>(value: T): T => (redact ? redactValue(value, redact) : value);

  try {
    // The instructions a prompt registry pinned when the run was created, or the agent's own.
    const registered = await policies.instructions(runContext);
    const instructions = registered ?? agent.instructions;
    // The version of the prompt that decides now: the run's registry version, or the code's (a
    // run resumed by newer code records the newer one).
    const promptVersion =
      registered !== undefined && run.promptVersion ? run.promptVersion : promptVersionOf(agent);

    const inputText = typeof run.input === 'string' ? run.input : JSON.stringify(run.input);
    const inputGuards = guardsAt(agent.guards, 'input');
    const checkedInput = await runGuardSteps({
      ...guardArgs,
      guards: inputGuards,
      seqs: inputGuards.map(() => durable.allocateSeq()),
      stage: 'input',
      text: inputText,
      parentSeq: null,
    });
    if (checkedInput.action !== 'pass') return blocked(checkedInput);

    const messages: Message[] = [
      { role: 'system', content: instructions },
      ...history,
      { role: 'user', content: checkedInput.text },
    ];
    const conversation = createConversationDigest();
    conversation.push(...messages);
    const append = (...added: Message[]) => {
      messages.push(...added.map(seen));
      conversation.push(...added.map(stored));
    };

    for (;;) {
      throwIfAborted(signal);
      const seq = durable.allocateSeq();
      const stepContext = { ...runContext, seq, modelCalls, usage: { ...usage }, costUsd };
      if (!durable.isReplay(seq)) {
        const stop = await policies.beforeModelStep(stepContext);
        if (stop) return endWith(stop);
      }

      const request: ModelRequest = {
        messages: [...messages],
        ...(toolSpecs.length > 0 ? { tools: toolSpecs } : {}),
        ...(agent.responseFormat ? { responseFormat: agent.responseFormat } : {}),
        ...(agent.temperature !== undefined ? { temperature: agent.temperature } : {}),
        ...(agent.maxOutputTokens !== undefined ? { maxOutputTokens: agent.maxOutputTokens } : {}),
      };
      // Text streamed by a step whose answer an output guard checks is held until the verdict.
      const held = holdText(streamText ? onEvent : undefined, outputGuards.length > 0);
      const modelResult = await runModelStep({
        seq,
        model,
        request,
        // Everything the call depends on, hashed incrementally (see conversation-digest.ts). What
        // a policy narrows (max tokens, withheld tools) is recorded in the step's meta instead.
        input: {
          conversation: conversation.value(),
          tools: toolsHash,
          responseFormat: request.responseFormat,
          temperature: request.temperature,
          maxOutputTokens: request.maxOutputTokens,
        },
        limits,
        signal,
        runId: run.id,
        tenantId: run.tenantId,
        durable,
        clock,
        deadlineAt,
        logger,
        promptVersion,
        policies,
        policyContext: stepContext,
        onEvent: held.listener,
        faultHook,
      });
      // Held by a policy for a person's decision (a budget to extend): no call was made; once
      // approved, the same request goes again as a new model step.
      const awaiting = modelResult.status === 'failed' ? policyApprovalOf(modelResult.meta) : undefined;
      if (awaiting && modelResult.status === 'failed') {
        // As journaled (the step's meta is redacted), which is what a resumed execution reads.
        const ended = await awaitPolicyApproval(storedValue(awaiting), seq, modelResult.error);
        if (ended) return ended;
        continue;
      }
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
      const calls = assistant.toolCalls ?? [];
      if (calls.length === 0) {
        const checked = await runGuardSteps({
          ...guardArgs,
          guards: outputGuards,
          seqs: outputGuards.map(() => durable.allocateSeq()),
          stage: 'output',
          text: assistant.content,
          parentSeq: seq,
          toolOutputs,
        });
        if (checked.action === 'block') return blocked(checked);
        if (checked.action === 'retry') {
          const retries = (retriesByGuard.get(checked.guard) ?? 0) + 1;
          retriesByGuard.set(checked.guard, retries);
          const guard = outputGuards.find((candidate) => candidate.name === checked.guard) as Guard;
          if (retries > guard.maxRetries) {
            return end('guard_blocked', {
              error: guardBlockedError(
                checked.guard,
                `the answer still failed after ${guard.maxRetries} retries: ${checked.feedback}`,
              ),
            });
          }
          // Asked again with the guard's feedback; the rejected answer never leaves the run.
          const feedback: Message = { role: 'user', content: retryPrompt(checked.guard, checked.feedback) };
          append(assistant, feedback);
          continue;
        }
        held.release(checked.text === assistant.content ? undefined : checked.text);
        return end('completed', { output: finalOutput(agent, checked.text) });
      }
      held.release();
      append(assistant);

      const turn = planTurn(calls, seq);
      for (const { call, args } of turn) {
        if (args.ok && loopDetector.record(call.name, storedValue(args.value))) {
          return end('loop_detected', {
            error: limitError(
              'loop_detected',
              `tool "${call.name}" was called ${limits.loopThreshold} times with the same arguments`,
            ),
          });
        }
      }
      const stopped = await checkCalls(turn);
      if (stopped) return stopped;
      const ended = await resolveTurnApprovals(turn);
      if (ended) return ended;
      await resolveTurnUnknownOutcomes(turn);

      const results = await Promise.all(
        turn.map((planned) =>
          runToolCall({
            planned,
            durable,
            limits,
            signal,
            run,
            logger,
            faultHook,
            ...(redact ? { redact } : {}),
            afterRun: (outcome) =>
              planned.tool && planned.args.ok
                ? policies.afterToolCall({
                    ...runContext,
                    seq: planned.seq,
                    parentSeq: seq,
                    tool: planned.tool,
                    toolCallId: planned.call.id,
                    args: planned.args.value,
                    ...outcome,
                  })
                : Promise.resolve(),
          }),
        ),
      );
      // Every result of a known tool passes its guards (in call order) before the model sees it:
      // refusals too, so that a replay, which cannot tell a refusal from a failure, guards the
      // same messages.
      for (const [index, result] of results.entries()) {
        const planned = turn[index]!;
        const guards = planned.tool ? guardsAt(agent.guards, 'tool_output') : [];
        const checked = await runGuardSteps({
          ...guardArgs,
          guards,
          seqs: planned.outputGuardSeqs,
          stage: 'tool_output',
          text: result.content,
          parentSeq: planned.seq,
          toolName: planned.call.name,
        });
        if (checked.action !== 'pass') return blocked(checked);
        result.content = checked.text;
        if (!result.isError) toolOutputs.push(checked.text);
      }
      append(...results);
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

  /** Positions in the journal for one turn's calls, allocated before anything runs. */
  function planTurn(calls: NonNullable<AssistantMessage['toolCalls']>, parentSeq: number): TurnCall[] {
    // Seqs are allocated before any tool starts so parallel calls get deterministic positions:
    // a call's argument guards, its approval (when it needs one), the call, its output guards.
    return calls.map((call) => {
      const args = parseArguments(call);
      const tool = tools.get(call.name);
      const argGuardSeqs =
        tool && args.ok ? guardsAt(agent.guards, 'tool_args').map(() => durable.allocateSeq()) : [];
      // Decided on the arguments as journaled, which is what a replay sees.
      const approvalSeq =
        tool && args.ok && needsApproval(tool, storedValue(args.value)) ? durable.allocateSeq() : undefined;
      const seq = durable.allocateSeq();
      const outputGuardSeqs = tool
        ? guardsAt(agent.guards, 'tool_output').map(() => durable.allocateSeq())
        : [];
      return { call, args, tool, approvalSeq, seq, parentSeq, argGuardSeqs, outputGuardSeqs };
    });
  }

  /**
   * Each call's argument guards, then the policies (not for a call the journal already holds):
   * a refusal is journaled as the call's result; a block or a stop ends the run before any call
   * of the turn runs.
   */
  async function checkCalls(turn: TurnCall[]): Promise<RunEnd | undefined> {
    for (const planned of turn) {
      const { tool, args } = planned;
      if (!tool || !args.ok) continue;
      const checked = await runGuardSteps({
        ...guardArgs,
        guards: guardsAt(agent.guards, 'tool_args'),
        seqs: planned.argGuardSeqs,
        stage: 'tool_args',
        text: JSON.stringify(args.value),
        parentSeq: planned.seq,
        toolName: tool.name,
      });
      if (checked.action === 'block') {
        const error = guardBlockedError(checked.guard, checked.reason);
        await recordRejectedCall({ ...planned, durable, error, ...(redact ? { redact } : {}) });
        return end('guard_blocked', { error });
      }
      if (checked.action === 'pass' && checked.text !== JSON.stringify(args.value)) {
        planned.args = redactedArguments(checked.text);
      }
      // Not for a call the journal holds, nor one an earlier execution started: its effect may
      // have happened, so it is re-invoked with its idempotency key, never refused now.
      if (durable.isReplay(planned.seq) || durable.isStarted(planned.seq) || !planned.args.ok) continue;
      const parsed = tool.input.safeParse(planned.args.value);
      if (!parsed.success) continue;
      const verdict = await policies.beforeToolCall({
        ...runContext,
        seq: planned.seq,
        parentSeq: planned.parentSeq,
        tool,
        toolCallId: planned.call.id,
        args: parsed.data,
      });
      if (verdict?.stop) return endWith({ stop: verdict.stop });
      if (verdict?.refuse) {
        planned.refusal = verdict.refuse;
        planned.refusedByPolicy = true;
      }
    }
    return undefined;
  }

  /**
   * Approvals of the turn's calls (see approval-gate.ts). A call refused by a policy asks for
   * none; nor does one the journal holds as refused before its approval (its replay).
   */
  async function resolveTurnApprovals(turn: TurnCall[]): Promise<RunEnd | undefined> {
    const gated: GatedCall[] = turn.flatMap(({ call, args, tool, approvalSeq, seq, parentSeq, refusal }) =>
      tool && args.ok && approvalSeq !== undefined && !refusal && !refusedBeforeApproval(seq, approvalSeq)
        ? [{ call, tool, args: storedValue(args.value), approvalSeq, parentSeq }]
        : [],
    );
    if (gated.length === 0) return undefined;
    throwIfAborted(signal);
    const outcomes = await resolveApprovals({ gated, durable, run, onEvent });
    for (const entry of turn) {
      const outcome = entry.approvalSeq === undefined ? undefined : outcomes.get(entry.approvalSeq);
      if (outcome && outcome.status !== 'approved' && entry.tool)
        entry.refusal = rejectionOf(entry.tool, outcome).toJSON();
    }
    // A rejection under `end_run` ends the run before any call of this turn runs.
    const ending = turn.find(
      (entry) =>
        entry.refusal &&
        !entry.refusedByPolicy &&
        entry.approvalSeq !== undefined &&
        entry.tool?.onReject === 'end_run',
    );
    if (!ending) return undefined;
    await recordRejectedCall({ ...ending, durable, error: ending.refusal!, ...(redact ? { redact } : {}) });
    return end('rejected', { error: ending.refusal! });
  }

  /**
   * The approval a policy asked for before a model call, on an `approval` step right after the
   * held model step (suspends the run while undecided). Approved: the loop calls again. Otherwise
   * the run ends with the policy's stop reason and its error, saying what became of the request.
   */
  async function awaitPolicyApproval(
    request: PolicyApprovalRequest,
    parentSeq: number,
    error: SerializedError,
  ): Promise<RunEnd | undefined> {
    throwIfAborted(signal);
    const approvalSeq = durable.allocateSeq();
    const outcome = await resolvePolicyApproval({
      request,
      approvalSeq,
      parentSeq,
      durable,
      run,
      ...(onEvent ? { onEvent } : {}),
    });
    if (outcome.status === 'approved') return undefined;
    return end(request.stopReason as StopReason, { error: notApprovedError(error, outcome) });
  }

  /**
   * Decisions on the turn's destructive calls whose outcome a crash left unknown (see
   * unknown-outcome.ts); suspends the run while one is undecided, before any call of the turn runs.
   */
  async function resolveTurnUnknownOutcomes(turn: TurnCall[]): Promise<void> {
    const calls = turn.flatMap((planned) => {
      const { call, tool, args, seq, parentSeq, refusal } = planned;
      if (!tool || !args.ok || refusal || !needsUnknownOutcomeDecision(tool, durable, seq)) return [];
      const journaled = storedValue(args.value);
      const request = toolStepRequest({ call, seq, parentSeq, tool, args: journaled });
      return [{ call, tool, seq, request, args: journaled }];
    });
    if (calls.length === 0) return;
    throwIfAborted(signal);
    const outcomes = await resolveUnknownOutcomes({ calls, durable, run, ...(onEvent ? { onEvent } : {}) });
    for (const planned of turn) {
      const outcome = outcomes.get(planned.seq);
      if (outcome) planned.unknownOutcome = outcome;
    }
  }

  function refusedBeforeApproval(seq: number, approvalSeq: number): boolean {
    return durable.isReplay(seq) && !durable.isReplay(approvalSeq);
  }

  /** A stage's guards stopped the text (`retry` is an output-stage verdict: elsewhere it blocks). */
  function blocked(outcome: Exclude<GuardsOutcome, { action: 'pass' }>): RunEnd {
    const reason = outcome.action === 'block' ? outcome.reason : outcome.feedback;
    return end('guard_blocked', { error: guardBlockedError(outcome.guard, reason) });
  }

  /**
   * How a failed model step ends the run, read from its record (so a replay ends the same way):
   * a policy's stop ends it with the policy's reason; a non-retryable error with that error;
   * giving up on a retryable one with `deadline` or `model_attempts_exhausted`, the provider
   * error as the cause.
   */
  function endOfFailedModelStep(result: StepResult & { status: 'failed' }, seq: number): RunEnd {
    const stopReason = result.meta?.stopReason;
    if (typeof stopReason === 'string') return end(stopReason as StopReason, { error: result.error });
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

/**
 * Routes a model step's `text-delta` events: straight on, or (`hold`) kept until the loop has
 * the output guards' verdict, then released as streamed, replaced by the redacted text, or
 * dropped (a block, a retry: what the guard rejected never reaches the caller).
 */
function holdText(
  onEvent: RunEventListener | undefined,
  hold: boolean,
): { listener: RunEventListener | undefined; release(replacement?: string): void } {
  if (!onEvent || !hold) return { listener: onEvent, release: () => {} };
  const events: Extract<RunEvent, { type: 'text-delta' }>[] = [];
  return {
    listener: (event) => {
      if (event.type === 'text-delta') events.push(event);
      else onEvent(event);
    },
    release(replacement) {
      const last = events.at(-1);
      if (!last) return;
      // Only the last model call's text is the answer (an earlier attempt's was retried).
      const answer = events.filter((event) => event.attempt === last.attempt);
      if (replacement === undefined) for (const event of answer) onEvent(event);
      else onEvent({ ...last, text: replacement });
    },
  };
}

/** Arguments as a guard redacted them; text that is no longer JSON refuses the call. */
function redactedArguments(text: string): PlannedToolCall['args'] {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, message: 'arguments redacted by a guard are not valid JSON' };
  }
}

/** A policy's error, saying that the approval that could have lifted it was not given. */
function notApprovedError(error: SerializedError, outcome: ApprovalOutcome): SerializedError {
  const how =
    outcome.status === 'rejected'
      ? `rejected${outcome.decidedBy ? ` by ${outcome.decidedBy}` : ''}${outcome.reason ? `: ${outcome.reason}` : ''}`
      : outcome.status;
  return {
    ...error,
    message: `${error.message} The request to go on (approval ${outcome.approvalId}) was ${how}.`,
    retryable: false,
    details: { ...error.details, approvalId: outcome.approvalId, approvalStatus: outcome.status },
  };
}

function retryPrompt(guard: string, feedback: string): string {
  return `Your previous answer was rejected by the "${guard}" check: ${feedback}\nAnswer again, fixing this.`;
}

function guardBlockedError(guard: string, reason: string): SerializedError {
  return {
    code: 'guard_blocked',
    message: `Guard "${guard}" blocked the run: ${reason}`,
    fault: 'caller',
    retryable: false,
    details: { guard },
  };
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
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
