/**
 * The LLM gateway: one entry point for model calls that routes a name to deployments, retries and
 * falls back within one time budget, keeps a circuit breaker per deployment, reserves shared rate
 * limits, caches exact repeats, prices every answer and records every call.
 *
 * The pieces, one file each: parse-gateway-config (validation), gateway-deployment (models,
 * timeouts, breaker and limits of a deployment), router (route → ordered plan), call-runner (the
 * attempt loop: breaker, limits, clocks, retry policy, budget), stream-relay (a stream after its
 * first event), wire-relay (the same, its bytes relayed to a caller of the upstream's wire format), response-cache-layers (LRU + shared cache). This file wires them and holds the
 * three kinds of call.
 */
import { ModelOutputError, UnsupportedFieldError } from '../errors/model-errors.js';
import type { ModelRequest, ModelResponse, WireStream } from '../model/model.js';
import { estimateRequestTokens, estimateTextTokens } from '../model/token-estimate.js';
import { systemClock, type Clock } from '../util/clock.js';
import { createId as defaultCreateId, type IdGenerator } from '../util/ids.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { sleep as defaultSleep } from '../util/sleep.js';
import { createCallRunner, type CallState } from './call-runner.js';
import type { GatewayConfig, GatewayConfigInput } from './gateway-config.js';
import { createGatewayDeployment, type GatewayDeployment } from './gateway-deployment.js';
import { attachCallMeta, EmbeddingsUnsupportedError } from './gateway-errors.js';
import type { CallRecorder, RateLimiter, ResponseCache } from './gateway-store.js';
import type {
  CallMeta,
  EmbeddingRequest,
  EmbeddingResult,
  Gateway,
  GatewayCallOptions,
  GatewayRequest,
  GatewayResult,
  GatewayStream,
  GatewayWireStream,
  TokenCount,
} from './gateway-types.js';
import { parseGatewayConfig } from './parse-gateway-config.js';
import { cacheKeyForCall, createResponseCacheLayers } from './response-cache-layers.js';
import { createRouter } from './router.js';
import { cachedStreamEvents, relayStream, type OpenedStream } from './stream-relay.js';
import { openWireAttempt, relayWire, type OpenedWire } from './wire-relay.js';

/** Options of {@link createGateway}. */
export interface CreateGatewayOptions {
  /** What a user writes (validated here), or an already parsed config. */
  config: GatewayConfigInput | GatewayConfig;
  /** Shared rate limits; without one, deployment and key limits are not enforced. */
  limiter?: RateLimiter;
  /** The shared level of the response cache (used when `config.cache.shared`). */
  cache?: ResponseCache;
  /** Where every call is recorded, off the hot path. */
  recorder?: CallRecorder;
  /** Told of every finished call, synchronously (e.g. `KeelMetrics.gatewayCall`); must be cheap. */
  onCall?: (call: CallMeta) => void;
  /** Epoch time for breaker cooldowns, cache expiry and records. Default: the system clock. */
  clock?: Clock;
  /** Uniform in [0, 1): weighted routing and backoff jitter. Default: `Math.random`. */
  random?: () => number;
  /** Where deployments' `apiKeyEnv` variables are read. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Replaces the pooled undici fetch of every deployment (tests, custom transports). */
  fetch?: typeof globalThis.fetch;
  logger?: Logger;
  /** Backoff and Retry-After waits. Default: a timer (tests may record waits instead). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Ids of call records. */
  createId?: IdGenerator;
  /**
   * Runtime kill switch: a deployment this answers true for is skipped from its next attempt on
   * (`(name) => controls.deploymentDisabled(name) !== undefined`); a route whose deployments are
   * all disabled fails with `gateway_unavailable`. Must be cheap (a cached read).
   */
  isDeploymentDisabled?: (deployment: string) => boolean;
  /** Told the cost and tenant of every call made outside a run: feed it to the spend breakers. Must not block. */
  onSpend?: (spend: { tenantId: string; costUsd: number }) => void;
}

/** What a route resolves to first: the provider and model its first deployment runs. */
export interface RouteTarget {
  route: string;
  deployment: string;
  provider: string;
  model: string;
  /** The provider id its answers are priced with (`openai` for `azure-openai`). */
  pricingProvider: string;
}

/** The gateway Keel builds: the Gateway interface plus a look at routes' first deployments. */
export interface KeelGateway extends Gateway {
  /** The first deployment of a route as configured; throws `unknown_model` for an unknown route. */
  describeRoute(route: string): RouteTarget;
  /** Every deployment a route may answer from, in plan order (budgets reserve at the dearest). */
  routeTargets(route: string): RouteTarget[];
}

/** Creates a gateway. Throws ConfigError (`config_invalid`) for an invalid config or a missing key. */
export function createGateway({
  config: configInput,
  limiter,
  cache,
  recorder,
  onCall,
  clock = systemClock,
  random = Math.random,
  env = process.env,
  fetch,
  logger = silentLogger,
  sleep = defaultSleep,
  createId = defaultCreateId,
  isDeploymentDisabled,
  onSpend,
}: CreateGatewayOptions): KeelGateway {
  const config = parseGatewayConfig(configInput);
  const deployments = new Map<string, GatewayDeployment>();
  try {
    for (const deployment of config.deployments) {
      deployments.set(
        deployment.name,
        createGatewayDeployment({
          deployment,
          breaker: config.breaker,
          env,
          clock,
          ...(fetch === undefined ? {} : { fetch }),
        }),
      );
    }
  } catch (error) {
    for (const built of deployments.values()) void built.close();
    throw error;
  }
  const router = createRouter({
    routes: config.routes,
    deployments,
    random,
    forModel: (deployment, model) => deployment.forModel(model),
  });
  const runner = createCallRunner({
    config,
    limiter,
    recorder,
    onCall,
    clock,
    random,
    sleep,
    createId,
    logger: logger.child({ component: 'gateway' }),
    isDeploymentDisabled,
    onSpend,
  });
  const responses = createResponseCacheLayers({
    maxEntries: config.cache.maxEntries,
    ttlMs: config.cache.ttlMs,
    clock,
    logger,
    ...(config.cache.shared && cache !== undefined ? { shared: cache } : {}),
  });

  let closing: Promise<void> | undefined;

  /** Plans the route (throwing `unknown_model` before anything is recorded) and starts the call. */
  const begin = ({
    route,
    options,
    kind,
    estimateTokens,
  }: {
    route: string;
    options: GatewayCallOptions;
    kind: CallState['kind'];
    estimateTokens: () => number;
  }) => {
    const plan = router.plan(route);
    const call = runner.begin({ route, kind, options, firstDeployment: plan[0], estimateTokens });
    return { call, plan };
  };

  // Rate limits admit on a realistic call, not its ceiling: the answer counts as its max tokens up
  // to EXPECTED_OUTPUT_TOKENS, and the reservation settles to the real count after the call. A
  // coding agent's 64,000 max_tokens would otherwise never fit a key's 60,000 tpm.
  const chatEstimate = (request: ModelRequest) => () =>
    estimateRequestTokens(request) +
    Math.min(request.maxOutputTokens ?? DEFAULT_OUTPUT_TOKENS, EXPECTED_OUTPUT_TOKENS);

  const failed = (call: CallState, error: unknown): unknown => {
    const cancelled = call.options.signal?.aborted === true;
    attachCallMeta(error, runner.finish(call, { outcome: cancelled ? 'cancelled' : 'error', error }));
    return error;
  };

  /**
   * The plan's deployments that can honour every field of the request, in plan order; when none
   * can, the first one's refusal (`unsupported_field`, naming the field) is the call's answer.
   */
  const capablePlan = (
    plan: readonly GatewayDeployment[],
    request: ModelRequest,
  ): readonly GatewayDeployment[] => {
    const capable = plan.filter(
      (deployment) => deployment.languageModel.unsupportedField?.(request) === undefined,
    );
    if (capable.length > 0) return capable;
    const first = plan[0];
    const unsupported = first?.languageModel.unsupportedField?.(request);
    if (first === undefined || unsupported === undefined) return plan;
    throw new UnsupportedFieldError({ provider: first.provider, model: first.model, ...unsupported });
  };

  const cacheKeyFor = (request: GatewayRequest, options: GatewayCallOptions): string | undefined =>
    cacheKeyForCall({ request, policy: router.route(request.model).cache, options });

  /** Starts a chat call (plain or streamed), with its plan. */
  const beginChat = (request: GatewayRequest, options: GatewayCallOptions) =>
    begin({ route: request.model, options, kind: 'chat', estimateTokens: chatEstimate(request) });

  /**
   * What a chat call does before any upstream: its capable deployments (or the refusal), its
   * cache key, and the cached answer when there is one.
   */
  const planChat = async (call: CallState, plan: readonly GatewayDeployment[], request: GatewayRequest) => {
    const capable = capablePlan(plan, request);
    const key = cacheKeyFor(request, call.options);
    const hit = key === undefined ? undefined : await responses.get(key);
    return { capable, key, hit };
  };

  /**
   * A streamed call: a cache hit replayed, else the plan tried until a deployment's first event
   * arrived. A deployment whose model speaks `wire` is opened for the byte relay (`wire-relay.ts`),
   * any other for the event relay (`stream-relay.ts`); without `wire`, always the event relay.
   */
  const openStream = async (
    request: GatewayRequest,
    options: GatewayCallOptions,
    wire: WireStream['wire'] | undefined,
  ): Promise<GatewayStream | GatewayWireStream> => {
    const { call, plan } = beginChat(request, options);
    try {
      const { capable, key, hit } = await planChat(call, plan, request);
      if (hit !== undefined) {
        const meta = runner.finish(call, { outcome: 'ok', cached: true, costUsd: 0, ttftMs: 0 });
        // No attempt was made: `attempts` is 0 and `cached` true, as the call's meta says.
        const { route, deployment, provider, model, attempts, cached } = meta;
        return {
          meta: { route, deployment, provider, model, attempts, cached },
          events: asAsync(cachedStreamEvents(hit)),
          done: Promise.resolve(meta),
        };
      }
      const attempt = await runner.open(
        call,
        capable,
        async (deployment, timeouts): Promise<OpenedStream | OpenedWire> => {
          const model = deployment.languageModel;
          if (wire !== undefined && model.wire === wire && model.openWireStream !== undefined) {
            const upstream = await model.openWireStream(request, { signal: timeouts.signal });
            return openWireAttempt(upstream, timeouts.signal);
          }
          const upstream = model.stream(request, { signal: timeouts.signal });
          const iterator = upstream[Symbol.asyncIterator]();
          const first = await iterator.next();
          if (first.done === true) throw emptyStreamError(deployment.name);
          return { iterator, first: first.value };
        },
      );
      const onAnswer =
        key === undefined ? undefined : (response: ModelResponse) => responses.set(key, response);
      const { value } = attempt;
      if ('reader' in value) return relayWire({ runner, call, attempt: { ...attempt, value }, onAnswer });
      return relayStream({ runner, call, attempt: { ...attempt, value }, onAnswer });
    } catch (error) {
      throw failed(call, error);
    }
  };

  return {
    async generate(request, options = {}): Promise<GatewayResult> {
      const { call, plan } = beginChat(request, options);
      try {
        const { capable, key, hit } = await planChat(call, plan, request);
        if (hit !== undefined) {
          return { response: hit, meta: runner.finish(call, { outcome: 'ok', cached: true, costUsd: 0 }) };
        }
        const attempt = await runner.open(call, capable, (deployment, timeouts) =>
          deployment.languageModel.generate(request, { signal: timeouts.signal }),
        );
        const response = attempt.value;
        const meta = runner.succeed(call, attempt, {
          usage: response.usage,
          answeredModelId: response.modelId,
        });
        if (key !== undefined) responses.set(key, response);
        return { response, meta };
      } catch (error) {
        throw failed(call, error);
      }
    },

    stream: (request, options = {}) => openStream(request, options, undefined) as Promise<GatewayStream>,

    streamWire: (request, options, wire) => openStream(request, options, wire),

    async countTokens(request, options = {}): Promise<TokenCount> {
      const plan = capablePlan(router.plan(request.model), request);
      // Only a deployment the gateway would call now counts exactly: not switched off by
      // `keel deployments disable`, its breaker not open. Else Keel's estimate answers.
      const exact = plan.find(
        (deployment) =>
          deployment.languageModel.countTokens !== undefined &&
          isDeploymentDisabled?.(deployment.name) !== true &&
          deployment.breaker.state().state !== 'open',
      );
      if (exact?.languageModel.countTokens !== undefined) {
        const inputTokens = await exact.languageModel.countTokens(request, {
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        return { inputTokens, source: 'exact', deployment: exact.name };
      }
      const first = plan[0] as GatewayDeployment;
      return {
        inputTokens: estimateRequestTokens(request, { model: first.model }),
        source: 'estimated',
        deployment: first.name,
      };
    },

    async embed(request: EmbeddingRequest, options = {}): Promise<EmbeddingResult> {
      const { call, plan } = begin({
        route: request.model,
        options,
        kind: 'embeddings',
        estimateTokens: () => request.input.reduce((sum, text) => sum + estimateTextTokens(text), 0),
      });
      const embeddable = plan.filter((deployment) => deployment.embeddingModel !== undefined);
      try {
        if (embeddable.length === 0) throw new EmbeddingsUnsupportedError({ route: request.model });
        const attempt = await runner.open(call, embeddable, (deployment, timeouts) =>
          (deployment.embeddingModel as NonNullable<GatewayDeployment['embeddingModel']>).embed(
            {
              input: request.input,
              ...(request.dimensions === undefined ? {} : { dimensions: request.dimensions }),
            },
            { signal: timeouts.signal },
          ),
        );
        const { embeddings, usage } = attempt.value;
        const meta = runner.succeed(call, attempt, {
          usage: { inputTokens: usage.inputTokens, outputTokens: 0 },
        });
        return { embeddings, usage, meta };
      } catch (error) {
        throw failed(call, error);
      }
    },

    routes: () => router.routes(),

    breakers: () => [...deployments.values()].map((deployment) => deployment.breaker.state()),

    describeRoute(route) {
      const deployment = router.members(route)[0] as GatewayDeployment;
      return {
        route,
        deployment: deployment.name,
        provider: deployment.provider,
        model: deployment.model,
        pricingProvider: deployment.pricingProvider,
      };
    },

    routeTargets(route) {
      return router.members(route).map((deployment) => ({
        route,
        deployment: deployment.name,
        provider: deployment.provider,
        model: deployment.model,
        pricingProvider: deployment.pricingProvider,
      }));
    },

    close() {
      closing ??= (async () => {
        try {
          await recorder?.flush();
        } finally {
          // Graceful: each pool waits for its requests in flight (their own clocks bound them).
          await Promise.all([...deployments.values()].map((deployment) => deployment.close()));
        }
      })();
      return closing;
    },
  };
}

/** Reserved for the answer when a request names no `maxOutputTokens`. */
const DEFAULT_OUTPUT_TOKENS = 1024;
/**
 * The most a call's answer counts in its rate-limit reservation (docs/gateway.md): enough for a
 * long answer, small enough that any `max_tokens` fits a per-minute limit a person would set.
 */
export const EXPECTED_OUTPUT_TOKENS = 4096;

function emptyStreamError(deployment: string) {
  return new ModelOutputError(`Deployment ${deployment} ended its stream before any event.`, {
    deployment,
    reason: 'stream_truncated',
  });
}

async function* asAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}
