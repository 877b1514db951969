/**
 * A gateway route as a LanguageModel, so agents call models through the gateway (its fallbacks,
 * breakers, limits, cache and call records) with no change to the agent loop.
 *
 * Pricing: the agent loop prices an answer with the model's `provider` and `modelId`. A gateway
 * model therefore reports its route's FIRST deployment's provider and model (the answer's own
 * `modelId` is whatever the upstream said). Limitation: when a fallback deployment of another
 * provider or price answered, the loop prices it as the first deployment; the gateway's own call
 * meta and records (`CallMeta.costUsd`) have the exact cost. A cached answer comes back with zero
 * usage, since it cost nothing. Every answer says how the gateway served it (`gateway`: the
 * route, the deployment that answered or the cache), which the agent loop records in the model
 * step's decision envelope.
 *
 * Retries: the gateway is the retry owner and has already retried and fallen back within its
 * budget when a call fails; a caller that retries at once multiplies attempts. `retriesOwned` says
 * so: the agent loop calls again only after a wait (the error's `retryAfterMs`, e.g. an open
 * breaker's cooldown, at least 1 s), releasing the run while the wait is long.
 */
import { ModelConfigError } from '../errors/model-errors.js';
import type {
  GatewayServed,
  LanguageModel,
  ModelCallOptions,
  ModelRequest,
  ModelResponse,
  ModelStreamEvent,
} from '../model/model.js';
import { registerModelProvider } from '../model/resolve-model.js';
import type { CallMeta, Gateway, GatewayCallOptions } from './gateway-types.js';
import { routeAnswering } from './route-patterns.js';

/** A cached answer cost nothing: the gateway reports 0 tokens (not an unknown count to estimate). */
const CACHED_USAGE = { inputTokens: 0, outputTokens: 0, source: 'reported' } as const;

/** A LanguageModel backed by a gateway route. */
export interface GatewayModel extends LanguageModel {
  readonly route: string;
  readonly gateway: Gateway;
  /** Always true: the gateway retried already; callers retry its errors only after a wait. */
  readonly retriesOwned: true;
}

/** Options of {@link createGatewayModel}. */
export interface GatewayModelOptions {
  gateway: Gateway;
  route: string;
  /** Passed with every call: the caller (for per-key limits), cache, budget, run and step. */
  callOptions?: Omit<GatewayCallOptions, 'signal'>;
}

/**
 * Creates a model for `route`. Throws ModelConfigError (code `model_config_invalid`) when the
 * gateway has no such route.
 */
export function createGatewayModel({ gateway, route, callOptions = {} }: GatewayModelOptions): GatewayModel {
  const known = gateway.routes();
  if (routeAnswering(known, route) === undefined) {
    throw new ModelConfigError(
      `The gateway has no model "${route}". Known models: ${known.join(', ') || '(none)'}.`,
      {
        route,
        known,
      },
    );
  }
  const target = describe(gateway, route);
  // A run's call is scoped to the run's tenant (cache) and recorded with its run and step.
  const optionsFor = ({ signal, run }: ModelCallOptions): GatewayCallOptions => ({
    ...callOptions,
    ...(signal === undefined ? {} : { signal }),
    ...(run === undefined
      ? {}
      : {
          tenantId: run.tenantId,
          runId: run.runId,
          ...(run.stepSeq === undefined ? {} : { stepSeq: run.stepSeq }),
        }),
  });

  return {
    provider: target.provider,
    modelId: target.model,
    route,
    gateway,
    retriesOwned: true,

    async generate(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
      const { response, meta } = await gateway.generate({ ...request, model: route }, optionsFor(options));
      const answered = { ...response, gateway: servedBy(meta) };
      return meta.cached ? { ...answered, usage: CACHED_USAGE } : answered;
    },

    async *stream(request: ModelRequest, options: ModelCallOptions = {}): AsyncGenerator<ModelStreamEvent> {
      const { events, meta } = await gateway.stream({ ...request, model: route }, optionsFor(options));
      // Breaking out of this loop returns `events`, which aborts the upstream request.
      for await (const event of events) {
        if (event.type !== 'finish') {
          yield event;
          continue;
        }
        const answered = { ...event.response, gateway: servedBy(meta) };
        yield { type: 'finish', response: meta.cached ? { ...answered, usage: CACHED_USAGE } : answered };
      }
    },
  };
}

/**
 * Makes `gateway:<route>` model references resolve through `gateway` (e.g. in an agent's
 * `model: 'gateway:fast'`). Returns the function that undoes the registration.
 */
export function registerGatewayModels(gateway: Gateway): () => void {
  return registerModelProvider('gateway', ({ modelId }) => createGatewayModel({ gateway, route: modelId }));
}

/** How the gateway served a call: the deployment that answered, or its cache. */
function servedBy(meta: Pick<CallMeta, 'route' | 'deployment' | 'cached'>): GatewayServed {
  return { route: meta.route, deployment: meta.cached ? null : meta.deployment, cached: meta.cached };
}

/** The provider and model to price with: the route's first deployment when the gateway can tell. */
function describe(gateway: Gateway, route: string): { provider: string; model: string } {
  const describeRoute = (
    gateway as { describeRoute?: (route: string) => { pricingProvider: string; model: string } }
  ).describeRoute;
  if (describeRoute === undefined) return { provider: 'gateway', model: route };
  const target = describeRoute.call(gateway, route);
  return { provider: target.pricingProvider, model: target.model };
}
