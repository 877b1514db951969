import { isKeelError, KeelError, serializeError, type SerializedError } from '../errors/keel-error.js';
import { ModelTimeoutError } from '../errors/model-errors.js';
import type { LanguageModel, ModelRequest, ModelResponse } from '../model/model.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { sleep } from '../util/sleep.js';
import { fullJitterDelay } from './backoff.js';
import type { DurableRun, StepContext, StepOutcome, StepRequest, StepResult } from './durable-run.js';
import type { FaultHook } from './fault-points.js';
import { modelStepOutcome } from './model-step-outcome.js';
import type { PolicyRunner } from './policy-runner.js';
import type { RunEventListener } from './run-events.js';
import type { RunLimits } from './run-limits.js';
import { combineSignals, DeadlineExceededError, RunWaitingError } from './run-signals.js';
import { isPolicyApproval, isPolicyStop, type ModelStepContext } from './step-policy.js';

/**
 * The `model` state of the agent loop: one model step, journaled `started` before the call, with
 * its retries (in place, or by releasing the run to wait) and its policies' reservations around
 * every call. Split from agent-loop.ts, which decides what happens between steps.
 */

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

/** What a model step needs besides the request. */
export interface ModelStepOptions {
  seq: number;
  model: LanguageModel;
  request: ModelRequest;
  /** Identity of the step on replay: everything the call depends on (see agent-loop.ts). */
  input: unknown;
  limits: RunLimits;
  signal: AbortSignal;
  runId: string;
  tenantId: string;
  durable: DurableRun;
  clock: Clock;
  deadlineAt: number;
  logger: Logger;
  promptVersion: string;
  policies: PolicyRunner;
  policyContext: ModelStepContext;
  onEvent?: RunEventListener;
  faultHook?: FaultHook;
}

/**
 * Runs (or replays) one model step. Journaled as started before the call: a crash mid-call
 * leaves a row, so the execution that replaces it is counted (the lost call as a model call, its
 * spend as hidden recompute) and the trace shows both executions.
 */
export function runModelStep(options: ModelStepOptions): Promise<StepResult> {
  const { seq, model, request, durable } = options;
  const step: StepRequest = {
    seq,
    kind: 'model',
    name: `${model.provider}:${model.modelId}`,
    input: options.input,
    journalStart: true,
    meta: {
      provider: model.provider,
      model: model.modelId,
      tools: (request.tools ?? []).map((spec) => spec.name),
    },
  };
  return durable.step(step, async (context) => {
    const tally = startTally(context);
    const outcome = await callModel({
      ...options,
      tally,
      retry: { durable, step, clock: options.clock, deadlineAt: options.deadlineAt },
    });
    return withAttempts(outcome, tally);
  });
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
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
  policies,
  policyContext,
}: {
  model: LanguageModel;
  request: ModelRequest;
  seq: number;
  limits: RunLimits;
  signal: AbortSignal;
  runId: string;
  tenantId: string;
  onEvent?: RunEventListener;
  faultHook?: FaultHook;
  logger: Logger;
  /** Counts the model calls (updated as they happen). */
  tally: AttemptTally;
  /** The run's prompt version, for the step's decision envelope. */
  promptVersion: string;
  /** What a retry needs: the journal to release the run to, the step, the clock, the deadline. */
  retry: { durable: DurableRun; step: StepRequest; clock: Clock; deadlineAt: number };
  policies: PolicyRunner;
  policyContext: ModelStepContext;
}): Promise<StepOutcome> {
  let lastError: SerializedError | undefined;
  // A retryable failure is retried while the deadline allows, up to `modelAttempts` calls: in
  // place for a short wait, by releasing the run (status `waiting`) for a long one. A model that
  // retries itself (the gateway) has already retried and fallen back within its own budget; the
  // loop retries it only after a wait (its Retry-After, an open breaker's cooldown, or backoff).
  for (let attempt = tally.attempts + 1; ; attempt++) {
    throwIfAborted(signal);
    tally.attempts = attempt;
    // Reserved before the call, settled after: a stop here fails the step with the policy's
    // error (journaled, so a replay ends the run the same way) and no provider is called.
    const grant = await policies.reserveModelCall({ ...policyContext, attempt, request });
    if (isPolicyStop(grant)) {
      return {
        status: 'failed',
        error: grant.stop.error,
        meta: { ...attemptsMeta(tally), stopReason: grant.stop.reason },
      };
    }
    // Held for a person's decision: the step fails without a call, recording what to ask (so a
    // replay asks the same); the loop suspends on an `approval` step and calls again in a new one.
    if (isPolicyApproval(grant)) {
      const { tool, arguments: args, stop } = grant.approval;
      return {
        status: 'failed',
        error: stop.error,
        meta: {
          ...attemptsMeta(tally),
          awaitingApproval: { tool, arguments: args, stopReason: stop.reason },
        },
      };
    }
    const sent = grant.request;
    // What policies changed is recorded: their facts, and the tools really offered.
    const policyMeta = {
      ...(Object.keys(grant.meta).length > 0 ? { policy: grant.meta } : {}),
      ...(sent.tools === request.tools ? {} : { tools: (sent.tools ?? []).map((spec) => spec.name) }),
    };
    let settled = false;
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
            request: sent,
            signal: call.signal,
            runId,
            tenantId,
            seq,
            attempt,
            onEvent,
          })
        : await model.generate(sent, { signal: call.signal, run: { runId, tenantId, stepSeq: seq } });
      const outcome = modelStepOutcome({ model, request: sent, response, promptVersion });
      settled = true;
      await grant.settle({ ok: true, usage: outcome.usage, costUsd: outcome.costUsd });
      await faultHook?.('after-model-call', { runId, seq });
      return { ...outcome, meta: { ...outcome.meta, ...policyMeta } };
    } catch (thrown) {
      if (!settled) await grant.settle({ ok: false });
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
