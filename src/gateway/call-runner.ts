/**
 * The core of every gateway call, whatever its kind (answer, stream, embeddings): walk the plan,
 * and for each attempt ask the breaker, reserve rate limits, run the attempt under its clocks,
 * then settle limits and breaker and decide (retry-policy.ts) whether to retry, move on or stop,
 * all inside one time budget. It also closes a call: meta, price, record.
 *
 * An attempt is "opened" when the upstream produced its first result: the answer of a plain call,
 * or the first event of a stream. Fallback happens only before that point; the caller finishes an
 * opened attempt (at once for a plain call, at the stream's end for a stream).
 *
 * Rate limits: the caller's key scope is reserved once per call (with the first attempt, in the
 * same atomic reservation as that deployment's scope), each deployment scope once per attempt on
 * it. Each reservation settles when its attempt ends, with the answer's tokens (a failed
 * attempt: see `tokensOfFailedAttempt`), except the one holding the key scope when its attempt
 * failed: it settles at the end of the call, adding the tokens the call finally used, so the key
 * is charged once for the answer it got. (That deployment's scope is then charged the same
 * tokens: conservative, and only on fallback.) A request that reserves more tokens than a whole
 * tpm can never be admitted: over the key's, the call fails at once with `request_exceeds_limit`
 * (not `rate_limited`, whose Retry-After a client would follow forever); over a deployment's, that
 * deployment is skipped, and the call fails the same way when every deployment was.
 */
import { isKeelError, serializeError } from '../errors/keel-error.js';
import { ProviderError } from '../errors/model-errors.js';
import type { Usage } from '../model/model.js';
import { costOf, PRICE_TABLE_VERSION } from '../model/prices.js';
import type { Clock } from '../util/clock.js';
import type { IdGenerator } from '../util/ids.js';
import type { Logger } from '../util/logger.js';
import { createAttemptTimeouts, type AttemptTimeouts } from './attempt-timeouts.js';
import { createCallBudget, MIN_ATTEMPT_MS, type CallBudget } from './call-budget.js';
import type { BreakerPermit, BreakerVerdict } from './circuit-breaker.js';
import type { GatewayConfig } from './gateway-config.js';
import {
  GatewayBudgetExhaustedError,
  GatewayUnavailableError,
  RateLimitedError,
  RequestExceedsLimitError,
} from './gateway-errors.js';
import type { GatewayDeployment } from './gateway-deployment.js';
import type { CallRecorder, LimitScope, RateLimiter, Reservation } from './gateway-store.js';
import type { CallMeta, GatewayCallOptions } from './gateway-types.js';
import { decideOnFailure, retryDelay } from './retry-policy.js';

/** The state of one call while it runs. */
export interface CallState {
  readonly route: string;
  readonly options: GatewayCallOptions;
  /** `chat` or `embeddings`, the default recorded endpoint. */
  readonly kind: 'chat' | 'embeddings';
  readonly budget: CallBudget;
  /** Epoch ms (injected clock), for the record. */
  readonly startedAtEpoch: number;
  /** Monotonic ms. */
  readonly startedAt: number;
  /** Tokens to reserve when a scope has a token limit; computed on first need. */
  readonly estimateTokens: () => number;
  attempts: number;
  /** Time spent waiting on upstreams, backoff waits, and (streams) the consumer. */
  upstreamMs: number;
  waitMs: number;
  consumerMs: number;
  /** The deployment tried last (the plan's first until one is tried). */
  deployment: GatewayDeployment | undefined;
  lastError: unknown;
  /** The call's last deployment stopped because the budget could not fit a wait. */
  stoppedForBudget: boolean;
  keyScope: LimitScope | undefined;
  keyReservation: Reservation | undefined;
  keyReservationDeferred: boolean;
  /** Tokens owed by the deferred key reservation's own attempt (see `tokensOfFailedAttempt`). */
  keyReservationTokens: number;
  skipped: Record<string, 'breaker-open' | 'rate-limited' | 'exceeds-tpm' | 'no-embeddings' | 'disabled'>;
  /** Earliest ms from now when a skipped deployment may accept again. */
  retryAfterMs: number | undefined;
}

/** An attempt whose upstream produced its first result; the caller finishes it. */
export interface OpenAttempt<T> {
  value: T;
  deployment: GatewayDeployment;
  permit: BreakerPermit;
  reservation: Reservation | undefined;
  timeouts: AttemptTimeouts;
}

/** Starts the upstream work of one attempt; resolves with its first result. */
export type StartAttempt<T> = (deployment: GatewayDeployment, timeouts: AttemptTimeouts) => Promise<T>;

/** How a call ended, for its meta and record. */
export interface CallEnd {
  outcome: CallMeta['outcome'];
  cached?: boolean;
  usage?: Usage;
  costUsd?: number;
  ttftMs?: number;
  error?: unknown;
  /** What the answer's provider called its model, for pricing. */
  answeredModelId?: string;
}

/** Runs calls. */
export interface CallRunner {
  begin(options: {
    route: string;
    kind: CallState['kind'];
    options: GatewayCallOptions;
    firstDeployment: GatewayDeployment | undefined;
    estimateTokens: () => number;
  }): CallState;
  /** Tries the plan until an attempt opens; throws the error that ends the call otherwise. */
  open<T>(
    call: CallState,
    plan: readonly GatewayDeployment[],
    start: StartAttempt<T>,
  ): Promise<OpenAttempt<T>>;
  /**
   * Ends an opened attempt: breaker verdict, limit settlement with `tokens` (the answer's usage, or
   * `tokensOfFailedAttempt` for one that failed), clocks off.
   */
  finishAttempt(
    call: CallState,
    attempt: OpenAttempt<unknown>,
    verdict: BreakerVerdict,
    tokens: number,
  ): void;
  /**
   * Ends a call whose opened attempt answered: the attempt succeeds with the answer's tokens
   * (`finishAttempt`), then the call finishes `ok` (`finish`). Returns the call's meta.
   */
  succeed(
    call: CallState,
    attempt: OpenAttempt<unknown>,
    answer: { usage: Usage; ttftMs?: number; answeredModelId?: string },
  ): CallMeta;
  /** Classifies an error that ended an opened attempt (a stream failing mid-way). */
  verdictFor(call: CallState, attempt: OpenAttempt<unknown>, error: unknown): BreakerVerdict;
  /** Ends the call: meta (with price and overhead), deferred settlement, record. */
  finish(call: CallState, end: CallEnd): CallMeta;
}

/** Options of {@link createCallRunner}. */
export interface CallRunnerOptions {
  config: GatewayConfig;
  limiter: RateLimiter | undefined;
  recorder: CallRecorder | undefined;
  /** Told of every finished call, synchronously (Prometheus counters); must not throw or block. */
  onCall?: ((call: CallMeta) => void) | undefined;
  clock: Clock;
  random: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  createId: IdGenerator;
  logger: Logger;
  /** A deployment this answers true for is skipped (a runtime kill switch); asked at every attempt. */
  isDeploymentDisabled?: ((deployment: string) => boolean) | undefined;
  /**
   * Told the cost of every finished call made outside a run (gateway HTTP callers), with its
   * tenant: the spend breakers' feed. Calls of a run are counted by the run's policy instead.
   */
  onSpend?: ((spend: { tenantId: string; costUsd: number }) => void) | undefined;
}

/** Creates the runner shared by a gateway's calls. */
export function createCallRunner({
  config,
  limiter,
  recorder,
  onCall,
  clock,
  random,
  sleep,
  createId,
  logger,
  isDeploymentDisabled,
  onSpend,
}: CallRunnerOptions): CallRunner {
  const { retry } = config;

  const settle = (reservation: Reservation, tokens: number) => {
    if (limiter === undefined) return;
    // Answers carry trusted usage (trusted-usage.ts); a figure that still cannot be true keeps
    // the reservation's estimate rather than refunding it.
    const settled = Number.isFinite(tokens) && tokens >= 0 ? tokens : reservation.tokens;
    // Off the hot path: the answer does not wait for the limiter's bookkeeping.
    Promise.resolve()
      .then(() => limiter.settle(reservation, settled))
      .catch((error: unknown) => logger.warn('gateway rate limit settle failed', { error: String(error) }));
  };

  const noteSkip = (
    call: CallState,
    deployment: GatewayDeployment,
    reason: 'breaker-open' | 'rate-limited',
    retryAfterMs: number | undefined,
  ) => {
    call.skipped[deployment.name] = reason;
    if (retryAfterMs !== undefined) {
      const wait = Math.max(0, retryAfterMs);
      call.retryAfterMs = call.retryAfterMs === undefined ? wait : Math.min(call.retryAfterMs, wait);
    }
  };

  /** Reserves this attempt's limits: a reservation, none needed, or `limited` for the deployment. */
  const reserve = async (
    call: CallState,
    deployment: GatewayDeployment,
  ): Promise<Reservation | undefined | 'limited'> => {
    if (limiter === undefined) return undefined;
    const keyScope = call.keyReservation === undefined ? call.keyScope : undefined;
    const deploymentScope = deployment.limitScope;
    if (keyScope === undefined && deploymentScope === undefined) return undefined;
    // A deployment whose whole tpm is smaller than this request can never serve it: skip it
    // without a round trip (the call fails with request_exceeds_limit if none can).
    if (deploymentScope?.tpm !== undefined && call.estimateTokens() > deploymentScope.tpm) {
      call.skipped[deployment.name] = 'exceeds-tpm';
      return 'limited';
    }
    const scopes =
      keyScope === undefined
        ? [deploymentScope as LimitScope]
        : deploymentScope === undefined
          ? [keyScope]
          : [deploymentScope, keyScope];
    const needsTokens = scopes.some((scope) => scope.tpm !== undefined);
    const result = await limiter.reserve(scopes, needsTokens ? call.estimateTokens() : 0);
    if (result.ok) {
      if (keyScope !== undefined) call.keyReservation = result.reservation;
      return result.reservation;
    }
    if (keyScope !== undefined && result.scope === keyScope.scope) {
      throw new RateLimitedError({
        scope: result.scope,
        limit: result.limit,
        retryAfterMs: result.retryAfterMs,
      });
    }
    noteSkip(call, deployment, 'rate-limited', result.retryAfterMs);
    return 'limited';
  };

  const budgetExhausted = (call: CallState) =>
    new GatewayBudgetExhaustedError({
      route: call.route,
      budgetMs: call.budget.budgetMs,
      attempts: call.attempts,
      lastError: call.lastError,
    });

  const runner: CallRunner = {
    begin({ route, kind, options, firstDeployment, estimateTokens }) {
      const { caller } = options;
      const budgetMs =
        options.budgetMs !== undefined && options.budgetMs > 0
          ? Math.min(options.budgetMs, config.budgetMs)
          : config.budgetMs;
      const startedAt = performance.now();
      let estimate: number | undefined;
      return {
        route,
        options,
        kind,
        budget: createCallBudget({ budgetMs }),
        startedAtEpoch: clock.now(),
        startedAt,
        estimateTokens: () => (estimate ??= estimateTokens()),
        attempts: 0,
        upstreamMs: 0,
        waitMs: 0,
        consumerMs: 0,
        deployment: firstDeployment,
        lastError: undefined,
        stoppedForBudget: false,
        keyScope:
          caller !== undefined && (caller.rpm !== undefined || caller.tpm !== undefined)
            ? { scope: `key:${caller.keyId}`, rpm: caller.rpm, tpm: caller.tpm }
            : undefined,
        keyReservation: undefined,
        keyReservationDeferred: false,
        keyReservationTokens: 0,
        skipped: {},
        retryAfterMs: undefined,
      };
    },

    async open(call, plan, start) {
      const { signal } = call.options;
      const keyTpm = call.keyScope?.tpm;
      if (limiter !== undefined && keyTpm !== undefined && call.estimateTokens() > keyTpm) {
        throw new RequestExceedsLimitError({
          scope: call.keyScope?.scope ?? '',
          tpm: keyTpm,
          requestedTokens: call.estimateTokens(),
          route: call.route,
        });
      }
      for (const deployment of plan) {
        call.stoppedForBudget = false;
        for (let attempt = 0; attempt < retry.attemptsPerDeployment; attempt++) {
          signal?.throwIfAborted();
          if (call.budget.remainingMs() < MIN_ATTEMPT_MS) throw budgetExhausted(call);
          if (isDeploymentDisabled?.(deployment.name) === true) {
            call.skipped[deployment.name] = 'disabled';
            break;
          }
          const permit = deployment.breaker.tryAcquire();
          if (permit === undefined) {
            const retryAt = deployment.breaker.retryAt();
            noteSkip(
              call,
              deployment,
              'breaker-open',
              retryAt === undefined ? undefined : retryAt - clock.now(),
            );
            break;
          }
          let reservation: Reservation | undefined | 'limited';
          try {
            reservation = await reserve(call, deployment);
          } catch (error) {
            deployment.breaker.settle(permit, 'neutral');
            throw error;
          }
          if (reservation === 'limited') {
            deployment.breaker.settle(permit, 'neutral');
            break;
          }
          call.attempts++;
          call.deployment = deployment;
          const timeouts = createAttemptTimeouts({
            deployment: deployment.name,
            timeouts: deployment.timeouts,
            budgetDeadline: call.budget.deadline,
            ...(signal === undefined ? {} : { signal }),
          });
          const opened: OpenAttempt<undefined> = {
            value: undefined,
            deployment,
            permit,
            reservation,
            timeouts,
          };
          timeouts.waitStart();
          const began = performance.now();
          try {
            const value = await start(deployment, timeouts);
            timeouts.waitEnd();
            call.upstreamMs += performance.now() - began;
            return { ...opened, value };
          } catch (thrown) {
            call.upstreamMs += performance.now() - began;
            const stoppedBy = timeouts.stoppedBy;
            if (stoppedBy === 'caller' || signal?.aborted === true) {
              runner.finishAttempt(call, opened, 'neutral', tokensOfFailedAttempt(opened, thrown));
              throw signal?.reason ?? thrown;
            }
            const error = timeouts.errorFor(thrown);
            const decision = decideOnFailure(error);
            // Running out of the call's budget says nothing about the upstream's health.
            const verdict = stoppedBy !== 'budget' && decision.breakerFailure ? 'failure' : 'neutral';
            runner.finishAttempt(call, opened, verdict, tokensOfFailedAttempt(opened, error));
            call.lastError = error;
            if (stoppedBy === 'budget') throw budgetExhausted(call);
            if (decision.action === 'stop') throw error;
            if (decision.action === 'next') break;
            const wait = retryDelay({ decision, attempt, retry, random });
            if (wait === undefined) break;
            if (!call.budget.fits(wait)) {
              call.stoppedForBudget = true;
              break;
            }
            logger.debug('gateway retrying', {
              route: call.route,
              deployment: deployment.name,
              attempt: attempt + 1,
              waitMs: wait,
              code: isKeelError(error) ? error.code : undefined,
            });
            if (wait > 0) {
              const waitBegan = performance.now();
              try {
                await sleep(wait, signal);
              } finally {
                call.waitMs += performance.now() - waitBegan;
              }
            }
          }
        }
      }
      if (call.stoppedForBudget) throw budgetExhausted(call);
      if (call.lastError !== undefined) throw call.lastError;
      const skipped = Object.keys(call.skipped);
      if (skipped.length > 0 && skipped.every((name) => call.skipped[name] === 'exceeds-tpm')) {
        throw exceedsEveryDeployment(call, plan);
      }
      throw new GatewayUnavailableError({
        route: call.route,
        retryAfterMs: call.retryAfterMs,
        skipped: call.skipped,
      });
    },

    finishAttempt(call, attempt, verdict, tokens) {
      attempt.timeouts.dispose();
      attempt.deployment.breaker.settle(attempt.permit, verdict);
      const { reservation } = attempt;
      if (reservation === undefined) return;
      if (reservation === call.keyReservation && verdict !== 'success') {
        call.keyReservationDeferred = true;
        call.keyReservationTokens += tokens;
        return;
      }
      settle(reservation, tokens);
    },

    succeed(call, attempt, { usage, ttftMs, answeredModelId }) {
      runner.finishAttempt(call, attempt, 'success', usage.inputTokens + usage.outputTokens);
      return runner.finish(call, { outcome: 'ok', usage, ttftMs, answeredModelId });
    },

    verdictFor(call, attempt, error) {
      const { stoppedBy } = attempt.timeouts;
      if (stoppedBy === 'caller' || stoppedBy === 'budget' || call.options.signal?.aborted === true)
        return 'neutral';
      return decideOnFailure(error).breakerFailure ? 'failure' : 'neutral';
    },

    finish(call, end) {
      const latencyMs = performance.now() - call.startedAt;
      const tokens = end.usage === undefined ? 0 : end.usage.inputTokens + end.usage.outputTokens;
      if (call.keyReservationDeferred && call.keyReservation !== undefined) {
        call.keyReservationDeferred = false;
        settle(call.keyReservation, call.keyReservationTokens + tokens);
      }
      const deployment = call.deployment;
      const meta: CallMeta = {
        route: call.route,
        deployment: deployment?.name ?? '',
        provider: deployment?.provider ?? '',
        model: deployment?.model ?? '',
        attempts: call.attempts,
        cached: end.cached ?? false,
        latencyMs,
        overheadMs: Math.max(0, latencyMs - call.upstreamMs - call.waitMs - call.consumerMs),
        outcome: end.outcome,
      };
      if (end.usage !== undefined) meta.usage = end.usage;
      if (end.costUsd !== undefined) meta.costUsd = end.costUsd;
      else if (end.usage !== undefined && deployment !== undefined && !meta.cached) {
        const cost = priceOf(deployment, end.usage, end.answeredModelId);
        if (cost !== undefined) {
          meta.costUsd = cost;
          meta.priceTable = PRICE_TABLE_VERSION;
        }
      }
      if (end.ttftMs !== undefined) meta.ttftMs = end.ttftMs;
      if (end.error !== undefined) meta.error = serializeError(end.error);
      if (recorder !== undefined) record(call, meta);
      if (onCall !== undefined) observe(meta);
      if (onSpend !== undefined && meta.costUsd !== undefined && meta.costUsd > 0) spend(call, meta.costUsd);
      return meta;
    },
  };

  const observe = (meta: CallMeta) => {
    try {
      onCall?.(meta);
    } catch (error) {
      // Like recording, observing is best effort: it must not fail calls.
      logger.warn('gateway call observer failed', { error: String(error) });
    }
  };

  const spend = (call: CallState, costUsd: number) => {
    const { options } = call;
    const tenantId = options.tenantId ?? options.caller?.tenantId;
    if (options.runId !== undefined || tenantId === undefined) return;
    try {
      onSpend?.({ tenantId, costUsd });
    } catch (error) {
      logger.warn('gateway spend observer failed', { error: String(error) });
    }
  };

  const record = (call: CallState, meta: CallMeta) => {
    const { options } = call;
    try {
      recorder?.record({
        ...meta,
        id: createId('call'),
        tenantId: options.tenantId ?? options.caller?.tenantId ?? null,
        keyId: options.caller?.keyId ?? null,
        runId: options.runId ?? null,
        stepSeq: options.stepSeq ?? null,
        ...(options.userId === undefined ? {} : { userId: options.userId }),
        ...(options.sessionId === undefined ? {} : { sessionId: options.sessionId }),
        endpoint:
          options.endpoint ?? (call.kind === 'embeddings' ? 'embeddings' : options.runId ? 'agent' : 'chat'),
        startedAt: new Date(call.startedAtEpoch),
      });
    } catch (error) {
      // Recording is best effort by contract; a broken recorder must not fail calls.
      logger.warn('gateway call record failed', { error: String(error) });
    }
  };

  return runner;
}

/** The request is larger than the tpm of every deployment that could serve it: named by the largest. */
function exceedsEveryDeployment(
  call: CallState,
  plan: readonly GatewayDeployment[],
): RequestExceedsLimitError {
  let largest: LimitScope | undefined;
  for (const deployment of plan) {
    const scope = deployment.limitScope;
    if (scope?.tpm !== undefined && (largest?.tpm === undefined || scope.tpm > largest.tpm)) largest = scope;
  }
  return new RequestExceedsLimitError({
    scope: largest?.scope ?? '',
    tpm: largest?.tpm ?? 0,
    requestedTokens: call.estimateTokens(),
    route: call.route,
  });
}

/**
 * What a failed attempt is charged against rate limits. An HTTP error answer was refused before
 * any generation: nothing. Anything else (a timeout, a reset, a cut-off stream, a caller who
 * left) may have been billed by the provider for work it did, unknown to us: the reservation's
 * estimate stands, so limits hold rather than leak through failures.
 */
export function tokensOfFailedAttempt(attempt: OpenAttempt<unknown>, error: unknown): number {
  if (error instanceof ProviderError && error.status !== undefined) return 0;
  return attempt.reservation?.tokens ?? 0;
}

/**
 * The price of an answer: by the model the provider says answered (a dated snapshot may have its
 * own price), else by the deployment's configured model. Undefined when neither is in the table.
 */
function priceOf(
  deployment: GatewayDeployment,
  usage: Usage,
  answeredModelId: string | undefined,
): number | undefined {
  const provider = deployment.pricingProvider;
  if (answeredModelId !== undefined && answeredModelId !== deployment.model) {
    const cost = costOf({ provider, modelId: answeredModelId, usage });
    if (cost !== undefined) return cost;
  }
  return costOf({ provider, modelId: deployment.model, usage });
}
