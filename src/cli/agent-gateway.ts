import type { Governance } from '../governance/open-governance.js';
import { envGatewayConfig, type EnvProviderRoute } from '../gateway/env-gateway-config.js';
import type { GatewayConfigInput } from '../gateway/gateway-config.js';
import { registerGatewayModels } from '../gateway/gateway-model.js';
import { createGatewayService, type GatewayService } from '../gateway/http/gateway-service.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { KeelMetrics } from '../metrics/keel-metrics.js';
import type { GatewayCallTracer } from '../telemetry/gateway-call-spans.js';
import type { Logger } from '../util/logger.js';

/**
 * Starts the config's gateway (when it has one) on the store's database and makes its routes
 * resolvable as `gateway:<route>` models, so agents' model calls go through the same routing,
 * limits, breakers and records as HTTP callers. `close()` undoes both.
 */
export function openConfiguredGateway({
  config,
  client,
  env,
  logger,
  metrics,
  tracer,
  governance,
}: {
  config: GatewayConfigInput | undefined;
  client: SqlClient;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Counts the gateway's calls and watches its breakers. */
  metrics?: KeelMetrics;
  /** Live spans of the gateway's HTTP calls (OpenTelemetry export, when on). */
  tracer?: GatewayCallTracer;
  /** Budgets every HTTP call reserves against, disabled deployments, spend for the breakers. */
  governance?: Governance['gateway'];
}): { service: GatewayService | undefined; close(): Promise<void> } {
  if (config === undefined) return { service: undefined, close: async () => {} };
  const service = createGatewayService({
    config,
    client,
    env,
    logger,
    ...(metrics === undefined
      ? {}
      : {
          onCall: (call) => metrics.gatewayCall(call),
          onRedisFailure: (failure) => metrics.redisFailure(failure),
        }),
    ...(tracer === undefined ? {} : { tracer }),
    ...governance,
  });
  const unwatch = metrics?.watchBreakers(() => service.gateway.breakers());
  const unregister = registerGatewayModels(service.gateway);
  return {
    service,
    async close() {
      unregister();
      unwatch?.();
      await service.close();
    },
  };
}

/**
 * The gateway config a command runs: the config file's `gateway` section when it has one (the
 * environment's keys then add nothing), else routes built from the provider keys in the
 * environment (`providers` says which, for the start-up banner); undefined when neither.
 */
export function gatewayConfigOf({
  section,
  env,
}: {
  section: GatewayConfigInput | undefined;
  env: NodeJS.ProcessEnv;
}): { config: GatewayConfigInput; providers?: EnvProviderRoute[] } | undefined {
  if (section !== undefined) return { config: section };
  return envGatewayConfig(env);
}
