/**
 * A deployment as the gateway runs it: its config resolved into models, timeouts, a rate-limit
 * scope and a circuit breaker. Built once per gateway; calls only read it.
 */
import type { EmbeddingModel, LanguageModel } from '../model/model.js';
import type { Clock } from '../util/clock.js';
import { createCircuitBreaker, type CircuitBreaker } from './circuit-breaker.js';
import { createDeploymentModels } from './deployment-models.js';
import {
  timeoutsSchema,
  type DeploymentConfig,
  type GatewayConfig,
  type TimeoutsConfig,
} from './gateway-config.js';
import type { LimitScope } from './gateway-store.js';

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
  const models = createDeploymentModels({
    deployment,
    timeouts,
    env,
    clock,
    ...(fetch === undefined ? {} : { fetch }),
  });
  const { name, rpm, tpm } = deployment;
  return {
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
    close: models.close,
  };
}
