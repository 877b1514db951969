/**
 * Every agent's model, checked when the config loads rather than when a run first calls it: a
 * known provider, its key variable set, an existing `gateway:` route, and a known price when a
 * dollar cap (the agent's `limits.maxCostUsd`, or a config budget's `limitUsd` that applies to the
 * agent) needs one. `keel serve` and `keel worker` refuse to start on a problem (exit 3),
 * `/readyz` reports the result, and `keel doctor` lists it.
 */
import { ConfigError } from '../errors/config-errors.js';
import { isKeelError } from '../errors/keel-error.js';
import { priceFor } from '../model/prices.js';
import { resolveModel } from '../model/resolve-model.js';
import type { LoadedConfig } from './load-config.js';
import { PASSTHROUGH_MODEL, routeAnswering } from '../gateway/route-patterns.js';

/** One reason an agent's model cannot be used. */
export interface ModelProblem {
  agent: string;
  /** The agent's field at fault: `model`, `limits.maxCostUsd`, or the budget's `budgets[i].limitUsd`. */
  field: string;
  /** `model_config_invalid` (provider, key, base URL), `gateway_route_unknown`, `model_price_unknown`. */
  code: string;
  message: string;
}

/** What the check found for one agent. */
export interface AgentModelStatus {
  agent: string;
  /** The model reference (`openai:gpt-4o-mini`), or `provider:modelId` of a model object. */
  model: string;
  ok: boolean;
  problems: ModelProblem[];
}

/** A gateway deployment's provider → the provider its calls are priced as (deployment-models.ts). */
const DEPLOYMENT_PRICING_PROVIDERS: Readonly<Record<string, string>> = {
  gemini: 'google',
  'azure-openai': 'openai',
};

/** The prefix of models that go through the config's gateway. */
const GATEWAY_PREFIX = 'gateway';

/** Checks each agent's model of a loaded config; never throws. */
export function checkAgentModels(
  config: Pick<LoadedConfig, 'agents' | 'gateway' | 'budgets'>,
  { env = process.env }: { env?: Readonly<Record<string, string | undefined>> } = {},
): AgentModelStatus[] {
  const routes = new Set((config.gateway?.routes ?? []).map((route) => route.name));
  return [...config.agents.values()].map((agent) => {
    const problems: ModelProblem[] = [];
    const problem = (field: string, code: string, message: string) =>
      problems.push({ agent: agent.name, field, code, message });
    let pricing: { provider: string; modelId: string } | undefined;
    let label: string;
    if (typeof agent.model !== 'string') {
      label = `${agent.model.provider}:${agent.model.modelId}`;
      pricing = { provider: agent.model.provider, modelId: agent.model.modelId };
    } else {
      label = agent.model;
      const colon = agent.model.indexOf(':');
      if (colon !== -1 && agent.model.slice(0, colon).trim() === GATEWAY_PREFIX) {
        const route = agent.model.slice(colon + 1).trim();
        // The agent loop prices a gateway model as its route's first deployment (gateway-model.ts).
        // An exact route, else the pattern (`claude-*`) that answers the name.
        const matched = routeAnswering([...routes], route);
        const first = config.gateway?.routes.find((candidate) => candidate.name === matched)?.deployments[0];
        const deployment = config.gateway?.deployments.find((candidate) => candidate.name === first);
        if (deployment !== undefined)
          pricing = {
            provider: DEPLOYMENT_PRICING_PROVIDERS[deployment.provider] ?? deployment.provider,
            // A passthrough deployment runs the name the agent gave.
            modelId: deployment.model === PASSTHROUGH_MODEL ? route : deployment.model,
          };
        if (matched === undefined)
          problem(
            'model',
            'gateway_route_unknown',
            config.gateway === undefined
              ? `model "${agent.model}" goes through the gateway, but the config has no gateway section.`
              : `model "${agent.model}" names no gateway route. Routes: ${[...routes].join(', ') || '(none)'}.`,
          );
      } else {
        try {
          const model = resolveModel(agent.model, { env });
          pricing = { provider: model.provider, modelId: model.modelId };
        } catch (error) {
          problem(
            'model',
            isKeelError(error) ? error.code : 'model_config_invalid',
            error instanceof Error ? error.message : String(error),
          );
        }
      }
    }
    if (pricing !== undefined && priceFor(pricing.provider, pricing.modelId) === undefined) {
      for (const field of dollarCapsOf(agent.name, agent.limits.maxCostUsd, config.budgets))
        problem(
          field,
          'model_price_unknown',
          `${field} caps dollars, but the price table has no price for ${pricing.provider}:${pricing.modelId}: ` +
            `use a priced model, pass a model with a known price, or cap tokens (limits.maxTokens) instead.`,
        );
    }
    return { agent: agent.name, model: label, ok: problems.length === 0, problems };
  });
}

/** The fields capping this agent's dollars: its own limit and each config budget that applies to it. */
function dollarCapsOf(
  agent: string,
  maxCostUsd: number | undefined,
  budgets: LoadedConfig['budgets'],
): string[] {
  const fields = maxCostUsd === undefined ? [] : ['limits.maxCostUsd'];
  (budgets ?? []).forEach((budget, index) => {
    if (budget.limitUsd === undefined || budget.limitUsd === null) return;
    // An agent budget caps its agent only; the other scopes (tenant, user, key...) cap every agent.
    if (budget.scope === 'agent' && budget.scopeId !== agent) return;
    fields.push(`budgets[${index}].limitUsd`);
  });
  return fields;
}

/** Throws `config_invalid` (exit 3) listing every problem, naming agent and field; returns the statuses otherwise. */
export function assertAgentModels(
  config: Pick<LoadedConfig, 'agents' | 'gateway' | 'budgets' | 'path'>,
  options: { env?: Readonly<Record<string, string | undefined>> } = {},
): AgentModelStatus[] {
  const statuses = checkAgentModels(config, options);
  const problems = statuses.flatMap((status) => status.problems);
  if (problems.length > 0) {
    throw new ConfigError(
      'config_invalid',
      `${config.path}: ${problems.length === 1 ? 'an agent model cannot' : `${problems.length} agent models cannot`} be used:\n` +
        problems.map((p) => `  - agent "${p.agent}" ${p.field}: ${p.message}`).join('\n'),
      { path: config.path, problems },
    );
  }
  return statuses;
}
