import type { SqlClient } from '../journal/sql-client.js';
import { TenantPausedError } from './control-errors.js';
import type { KeelMetrics } from '../metrics/keel-metrics.js';
import type { StepPolicy } from '../runtime/step-policy.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { environmentOf, type SpendBreakerRule, type ToolPolicyConfig } from './controls-config.js';
import { createControlPolicy } from './control-policy.js';
import { createControls, type Controls } from './controls.js';
import { createSpendBreakers, type BreakerTrip, type Spend, type SpendBreakers } from './spend-breaker.js';
import { createToolPolicy } from './tool-policy.js';

/** Everything a Keel process needs of runtime controls, built and started together. */
export interface RuntimeControls {
  /** Started: pass to `createServer({ controls })`. */
  controls: Controls;
  breakers: SpendBreakers;
  /** Pass to `createWorker({ policies: [..., policy] })` (and `runAgent`). */
  policy: StepPolicy;
  /** Spread into `createGatewayService` / `createGateway` options. */
  gateway: {
    isDeploymentDisabled(deployment: string): boolean;
    onSpend(spend: { tenantId: string; costUsd: number }): void;
    /** Refuses the calls of a paused tenant (by hand or by its spend breaker). */
    tenantHold(tenantId: string): TenantPausedError | undefined;
  };
  /** Stops listening and polling (not the client). */
  close(): Promise<void>;
}

/** Options of {@link startRuntimeControls}. */
export interface RuntimeControlsOptions {
  client: SqlClient;
  schema?: string;
  /** The loaded config's `toolPolicy` and `spendBreakers` (`loadConfig` validated them). */
  toolPolicy?: ToolPolicyConfig;
  spendBreakers?: readonly SpendBreakerRule[];
  /** `KEEL_ENV` (the tool policy's environment) and `KEEL_DISABLED_TOOLS`. */
  env?: Readonly<Record<string, string | undefined>>;
  logger?: Logger;
  /** Counts refusals and breaker trips (`keel_tool_refusals_total`, `keel_spend_breaker_trips_total`). */
  metrics?: Pick<KeelMetrics, 'toolRefused' | 'breakerTripped'>;
  /** The alert hook of a breaker trip (besides the warn log line and the counter). */
  onTrip?: (trip: BreakerTrip) => void;
  /** How often the controls cache is reloaded besides notifications (default 500 ms). */
  pollMs?: number;
}

/**
 * Builds and starts a process's runtime controls: the controls service (cached, NOTIFY plus
 * poll), the spend breakers of the config, the control step policy with the environment's tool
 * policy, and the gateway's hooks. `keel serve`, `keel worker` and `keel gateway` each start one.
 */
export async function startRuntimeControls({
  client,
  schema,
  toolPolicy,
  spendBreakers = [],
  env = process.env,
  logger = silentLogger,
  metrics,
  onTrip,
  pollMs,
}: RuntimeControlsOptions): Promise<RuntimeControls> {
  const shared = schema === undefined ? { client } : { client, schema };
  const controls = createControls({ ...shared, env, logger, ...(pollMs === undefined ? {} : { pollMs }) });
  await controls.start();
  const breakers = createSpendBreakers({
    ...shared,
    controls,
    rules: spendBreakers,
    logger,
    onTrip(trip) {
      metrics?.breakerTripped(trip);
      onTrip?.(trip);
    },
  });
  const policy = createControlPolicy({
    ...shared,
    controls,
    breakers,
    toolPolicy: createToolPolicy({
      ...(toolPolicy === undefined ? {} : { config: toolPolicy }),
      environment: environmentOf(env),
    }),
    ...(metrics === undefined ? {} : { onToolRefused: (refusal) => metrics.toolRefused(refusal) }),
    logger,
  });
  const recordSpend = (spend: Spend) => {
    // Off the gateway's answer path: a breaker acts after a call anyway.
    breakers
      .record(spend)
      .catch((error: unknown) =>
        logger.warn('gateway spend not fed to the spend breakers', { error: String(error) }),
      );
  };
  return {
    controls,
    breakers,
    policy,
    gateway: {
      isDeploymentDisabled: (deployment) => controls.deploymentDisabled(deployment) !== undefined,
      onSpend: recordSpend,
      tenantHold(tenantId) {
        const paused = controls.tenantPaused(tenantId);
        return paused === undefined ? undefined : new TenantPausedError(tenantId, paused);
      },
    },
    close: () => controls.close(),
  };
}
