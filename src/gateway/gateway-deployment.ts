/**
 * A deployment as the gateway runs it: its config resolved into models, timeouts, a rate-limit
 * scope and a circuit breaker. Built once per gateway; calls only read it.
 *
 * A passthrough deployment (`model: '*'`, serving pattern routes) is made for each model name a
 * caller sends (`forModel`): the same name, limits, breaker and connection pool, so switching it
 * off, its rpm and its breaker cover every model it runs; only the model differs.
 */
import type { EmbeddingModel, LanguageModel } from '../model/model.js';
import type { Clock } from '../util/clock.js';
import { createCircuitBreaker, type CircuitBreaker } from './circuit-breaker.js';
import { createDeploymentFetch } from './deployment-fetch.js';
import { createDeploymentModels } from './deployment-models.js';
import {
  timeoutsSchema,
  type DeploymentConfig,
  type GatewayConfig,
  type TimeoutsConfig,
} from './gateway-config.js';
import type { LimitScope } from './gateway-store.js';
import { PASSTHROUGH_MODEL } from './route-patterns.js';

/** A deployment ready for calls. */
export interface GatewayDeployment {
  readonly name: string;
  readonly weight: number;
  /** As configured (reported in call meta). */
  readonly provider: string;
  readonly model: string;
  /** The provider id answers are priced with. */
  readonly pricingProvider: string;
  readonly languageModel: LanguageModel;
  readonly embeddingModel: EmbeddingModel | undefined;
  readonly timeouts: TimeoutsConfig;
  /** `deployment:{name}` with its rpm/tpm; undefined when it has neither. */
  readonly limitScope: LimitScope | undefined;
  readonly breaker: CircuitBreaker;
  /** This deployment running `model` (a passthrough deployment); itself otherwise. */
  forModel(model: string): GatewayDeployment;
  close(): Promise<void>;
}

/** Options of {@link createGatewayDeployment}. */
export interface GatewayDeploymentOptions {
  deployment: DeploymentConfig;
  breaker: GatewayConfig['breaker'];
  env: Readonly<Record<string, string | undefined>>;
  fetch?: typeof globalThis.fetch;
  clock: Clock;
}

/** Builds a deployment; throws ConfigError when its models cannot be built (missing key...). */
export function createGatewayDeployment({
  deployment,
  breaker,
  env,
  fetch,
  clock,
}: GatewayDeploymentOptions): GatewayDeployment {
  const timeouts = timeoutsSchema.parse(deployment.timeouts ?? {});
  const passthrough = deployment.model === PASSTHROUGH_MODEL && deployment.languageModel === undefined;
  // One pool for every model a passthrough deployment runs (built here, not per model).
  const pool =
    passthrough && fetch === undefined
      ? createDeploymentFetch({ connectTimeoutMs: timeouts.connectMs })
      : undefined;
  const sharedFetch = pool?.fetch ?? fetch;
  const modelsFor = (model: string) =>
    createDeploymentModels({
      deployment: { ...deployment, model },
      timeouts,
      env,
      clock,
      ...(sharedFetch === undefined ? {} : { fetch: sharedFetch }),
    });
  let models;
  try {
    // A passthrough deployment's models are built once at start too: a missing key fails here.
    models = modelsFor(deployment.model);
  } catch (error) {
    void pool?.close();
    throw error;
  }
  const { name, rpm, tpm } = deployment;
  const built: GatewayDeployment = {
    name,
    weight: deployment.weight,
    provider: deployment.provider,
    model: deployment.model,
    pricingProvider: models.pricingProvider,
    languageModel: models.languageModel,
    embeddingModel: models.embeddingModel,
    timeouts,
    limitScope:
      rpm === undefined && tpm === undefined ? undefined : { scope: `deployment:${name}`, rpm, tpm },
    breaker: createCircuitBreaker({
      deployment: name,
      failureThreshold: breaker.failureThreshold,
      cooldownMs: breaker.cooldownMs,
      clock,
    }),
    forModel(model) {
      if (!passthrough) return built;
      const named = modelsFor(model);
      const made: GatewayDeployment = {
        ...built,
        model,
        pricingProvider: named.pricingProvider,
        languageModel: named.languageModel,
        embeddingModel: named.embeddingModel,
        forModel: () => made,
        // The pool is the passthrough deployment's, closed with it.
        close: async () => {},
      };
      return made;
    },
    close: async () => {
      await models.close();
      await pool?.close();
    },
  };
  return built;
}
