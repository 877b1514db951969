import type { BudgetStore } from '../budgets/budget-store.js';
import { createBudgetPolicy } from '../budgets/budget-policy.js';
import { openBudgets } from '../budgets/open-budgets.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { KeelError } from '../errors/keel-error.js';
import type { Controls } from '../controls/controls.js';
import { startRuntimeControls } from '../controls/runtime-controls.js';
import type { SpendBreakers } from '../controls/spend-breaker.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { KeelMetrics } from '../metrics/keel-metrics.js';
import { createPromptPolicy } from '../runtime/prompt-policy.js';
import { createPromptRegistry, type PromptRegistry } from '../prompts/prompt-registry.js';
import type { StepPolicy } from '../runtime/step-policy.js';
import type { Logger } from '../util/logger.js';

/** What governs a process's runs and gateway calls, opened once per process. */
export interface Governance {
  budgets: BudgetStore;
  /** Kill switches, pauses (by hand and by spend breakers), the environment's tool policy. */
  controls: Controls;
  prompts: PromptRegistry;
  /** The config's spend breakers (shown by `GET /v1/spend-breakers`). */
  breakers: SpendBreakers;
  /**
   * The step policies of every run, in the order they must act: the prompt registry (the run's
   * instructions), the controls (a pause stops before anything is reserved; disabled tools are
   * withheld), then the budgets (the reservation is made for the request as it will be sent).
   */
  policies: StepPolicy[];
  /** The controls and budget policies alone (for `runAgent`, which adds the registry's itself). */
  governing: StepPolicy[];
  /** Spread into the gateway's options: budgets, disabled deployments, paused tenants, spend for the breakers. */
  gateway: {
    budgets: BudgetStore;
    isDeploymentDisabled(deployment: string): boolean;
    onSpend(spend: { tenantId: string; costUsd: number }): void;
    tenantHold(tenantId: string): KeelError | undefined;
  };
  /** Stops the controls' listener and poll (not the client). */
  close(): Promise<void>;
}

/**
 * Opens the governance of a process (`keel serve`, `keel worker`, `keel gateway`, `keel run`):
 * the budget store with the config's budgets upserted, the runtime controls with the config's
 * tool policy and spend breakers (and `KEEL_ENV`, `KEEL_DISABLED_TOOLS`), the prompt registry,
 * and the step policies built from them.
 */
export async function openGovernance({
  client,
  config,
  env,
  logger,
  metrics,
}: {
  client: SqlClient;
  config: Pick<LoadedConfig, 'budgets' | 'toolPolicy' | 'spendBreakers'>;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  metrics?: KeelMetrics;
}): Promise<Governance> {
  const budgets = await openBudgets({ client, logger, declared: config.budgets ?? [] });
  const runtime = await startRuntimeControls({
    client,
    env,
    logger,
    ...(config.toolPolicy === undefined ? {} : { toolPolicy: config.toolPolicy }),
    ...(config.spendBreakers === undefined ? {} : { spendBreakers: config.spendBreakers }),
    ...(metrics === undefined ? {} : { metrics }),
  });
  const prompts = createPromptRegistry({ client });
  const governing = [runtime.policy, createBudgetPolicy({ budgets })];
  return {
    budgets,
    controls: runtime.controls,
    prompts,
    breakers: runtime.breakers,
    policies: [createPromptPolicy(prompts), ...governing],
    governing,
    gateway: { budgets, ...runtime.gateway },
    close: () => runtime.close(),
  };
}
