/**
 * The caller's side of a streamed call, once its first upstream event arrived (fallback is over
 * by then: the caller may already have shown that event to a user). The first event is replayed,
 * the rest relayed as they come, under the idle clock. How it can end:
 *
 * - the upstream finished: `done` resolves with outcome `ok`, usage and cost;
 * - the upstream failed (reset, truncated stream, idle timeout, out of budget): the iterator
 *   THROWS, so the HTTP layer sends an explicit error event; a cut-off answer never ends cleanly;
 * - the caller stopped iterating or aborted its signal: the upstream request is aborted at once
 *   (no tokens keep streaming into the void), outcome `cancelled`.
 */
import type { ModelResponse, ModelStreamEvent } from '../model/model.js';
import { tokensOfFailedAttempt, type CallRunner, type CallState, type OpenAttempt } from './call-runner.js';
import { ModelOutputError } from '../errors/model-errors.js';
import { GatewayBudgetExhaustedError } from './gateway-errors.js';
import type { CallMeta, GatewayStream } from './gateway-types.js';

/** What an opened stream attempt holds: the upstream iterator and its first event. */
export interface OpenedStream {
  iterator: AsyncIterator<ModelStreamEvent>;
  first: ModelStreamEvent;
}

/** Options of {@link relayStream}. */
export interface RelayStreamOptions {
  runner: CallRunner;
  call: CallState;
  attempt: OpenAttempt<OpenedStream>;
  /** Called with the complete answer of a stream that finished (to cache it). */
  onAnswer?: ((response: ModelResponse) => void) | undefined;
}

/** How a streamed call ends, once its first event arrived: see {@link streamEnding}. */
export interface StreamEnding {
  /** Time to the first event, ms. */
  readonly ttftMs: number;
  /** Resolves with the call's meta once it ended. */
  readonly done: Promise<CallMeta>;
  /** True once the call ended (succeeded, failed or cancelled). */
  isEnded(): boolean;
  /** The upstream's last event arrived: the call is complete, whatever the caller does next. */
  succeed(answer: ModelResponse): void;
  /** The upstream failed after the first event, or the caller aborted: returns the error to surface. */
  fail(thrown: unknown): unknown;
  /** The caller left early: the upstream is stopped at once, outcome `cancelled`. */
  cancel(): void;
}

/**
 * The end of a streamed call after its first event, shared by the event relay
 * ({@link relayStream}) and the byte relay (`wire-relay.ts`): the attempt's verdict and limits,
 * the call's meta and record, the answer to the cache.
 */
export function streamEnding({
  runner,
  call,
  attempt,
  onAnswer,
}: {
  runner: CallRunner;
  call: CallState;
  attempt: OpenAttempt<unknown>;
  onAnswer?: ((response: ModelResponse) => void) | undefined;
}): StreamEnding {
  const { timeouts } = attempt;
  const ttftMs = performance.now() - call.startedAt;
  let resolveDone!: (meta: CallMeta) => void;
  const done = new Promise<CallMeta>((resolve) => (resolveDone = resolve));
  let ended = false;
  const end = (meta: CallMeta) => {
    ended = true;
    resolveDone(meta);
  };
  return {
    ttftMs,
    done,
    isEnded: () => ended,
    succeed(answer) {
      end(runner.succeed(call, attempt, { usage: answer.usage, ttftMs, answeredModelId: answer.modelId }));
      onAnswer?.(answer);
    },
    fail(thrown) {
      const { signal } = call.options;
      const cancelled = timeouts.stoppedBy === 'caller' || signal?.aborted === true;
      let error = cancelled ? (signal?.reason ?? thrown) : timeouts.errorFor(thrown);
      if (!cancelled && timeouts.stoppedBy === 'budget') {
        call.lastError = error;
        error = new GatewayBudgetExhaustedError({
          route: call.route,
          budgetMs: call.budget.budgetMs,
          attempts: call.attempts,
          lastError: error,
        });
      }
      runner.finishAttempt(
        call,
        attempt,
        cancelled ? 'neutral' : runner.verdictFor(call, attempt, error),
        tokensOfFailedAttempt(attempt, error),
      );
      end(runner.finish(call, { outcome: cancelled ? 'cancelled' : 'error', error, ttftMs }));
      return error;
    },
    cancel() {
      timeouts.cancel();
      runner.finishAttempt(call, attempt, 'neutral', tokensOfFailedAttempt(attempt, undefined));
      end(runner.finish(call, { outcome: 'cancelled', ttftMs }));
    },
  };
}

/** What a stream's caller knows at its first byte. */
export function streamMeta(call: CallState, attempt: OpenAttempt<unknown>): GatewayStream['meta'] {
  const { deployment } = attempt;
  return {
    route: call.route,
    deployment: deployment.name,
    provider: deployment.provider,
    model: deployment.model,
    attempts: call.attempts,
    cached: false,
  };
}

/** Wraps an opened stream attempt as the caller's GatewayStream. */
export function relayStream({ runner, call, attempt, onAnswer }: RelayStreamOptions): GatewayStream {
  const { deployment, timeouts, value } = attempt;
  const { iterator, first } = value;
  const ending = streamEnding({ runner, call, attempt, onAnswer });
  let firstPending = true;
  // Until the caller asks for the first event, the time is the caller's, not the gateway's.
  let yieldedAt = performance.now();

  const deliver = (event: ModelStreamEvent): IteratorResult<ModelStreamEvent> => {
    if (event.type === 'finish') {
      ending.succeed(event.response);
      // The adapter has read its whole body by now; this only closes its generator.
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
    }
    yieldedAt = performance.now();
    return { done: false, value: event };
  };

  // A hand-written iterator rather than an async generator: `return()` must stop the upstream
  // even when the caller leaves before its first `next()`, which a generator would ignore.
  const events: AsyncIterableIterator<ModelStreamEvent> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (ending.isEnded() && !firstPending) return { done: true, value: undefined };
      call.consumerMs += performance.now() - yieldedAt;
      if (firstPending) {
        firstPending = false;
        return deliver(first);
      }
      timeouts.waitStart();
      const began = performance.now();
      let next: IteratorResult<ModelStreamEvent>;
      try {
        next = await iterator.next();
      } catch (thrown) {
        call.upstreamMs += performance.now() - began;
        throw ending.fail(thrown);
      }
      call.upstreamMs += performance.now() - began;
      timeouts.waitEnd();
      if (ending.isEnded()) return { done: true, value: undefined };
      if (next.done === true) {
        // The adapter contract ends every stream with `finish`; one that did not was cut off.
        throw ending.fail(
          new ModelOutputError(`Deployment ${deployment.name} ended its stream without a finish event.`, {
            deployment: deployment.name,
            reason: 'stream_truncated',
          }),
        );
      }
      return deliver(next.value);
    },
    async return() {
      if (!ending.isEnded()) {
        // The caller left early: stop the upstream now (no tokens streaming into the void).
        firstPending = false;
        ending.cancel();
        void Promise.resolve(iterator.return?.()).catch(() => undefined);
      }
      return { done: true, value: undefined };
    },
  };

  return { meta: streamMeta(call, attempt), events, done: ending.done };
}

/** A cached answer replayed as a stream: its text, its tool calls whole, then `finish`. */
export function* cachedStreamEvents(response: ModelResponse): Generator<ModelStreamEvent> {
  if (response.message.content !== '') yield { type: 'text-delta', text: response.message.content };
  for (const [index, call] of (response.message.toolCalls ?? []).entries()) {
    yield { type: 'tool-call-delta', index, id: call.id, name: call.name, argumentsDelta: call.arguments };
  }
  yield { type: 'finish', response };
}
