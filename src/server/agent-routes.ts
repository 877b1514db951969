/**
 * `GET /v1/agents`: the agents this server runs, as a console or a client needs them to choose
 * one and explain it: model, tools (with their effect, whether they need an approval, and
 * whether a kill switch has them off), guards, limits, the prompt version runs get now (the
 * pinned one, else the code's), and what holds the agent (disabled or paused) in the caller's
 * tenant.
 */
import type { Agent } from '../runtime/agent.js';
import { promptVersionOf } from '../runtime/prompt-version.js';
import { READ_SCOPES } from './authenticate.js';
import { sendJson } from './http-io.js';
import { defineRoute, errorResponses, type RouteDependencies } from './route-table.js';
import { agentListResponse } from './console-schemas.js';

/** One agent as `GET /v1/agents` shows it. */
export type AgentView = Awaited<ReturnType<typeof agentView>>;

async function agentView(agent: Agent, tenantId: string, { controls, prompts }: RouteDependencies) {
  const codeVersion = promptVersionOf(agent);
  const pinned = await prompts?.pinnedVersion({ tenantId, agent: agent.name });
  const hold = controls?.agentHold({ agent: agent.name, tenantId });
  const model =
    typeof agent.model === 'string' ? agent.model : `${agent.model.provider}:${agent.model.modelId}`;
  return {
    name: agent.name,
    model,
    tools: agent.tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      effect: tool.effect,
      needs_approval:
        typeof tool.needsApproval === 'function' ? 'conditional' : (tool.needsApproval ?? false),
      disabled: controls?.toolDisabled({ tool: tool.name, agent: agent.name, tenantId }) !== undefined,
    })),
    guards: (agent.guards ?? []).map((guard) => ({ name: guard.name, stages: [...guard.stages] })),
    limits: {
      max_steps: agent.limits.maxSteps ?? null,
      max_tokens: agent.limits.maxTokens ?? null,
      max_cost_usd: agent.limits.maxCostUsd ?? null,
    },
    prompt: {
      code_version: codeVersion,
      pinned_version: pinned ?? null,
      current_version: pinned ?? codeVersion,
    },
    hold:
      hold === undefined
        ? null
        : { code: hold.code, reason: hold.control.reason, set_by: hold.control.setBy },
  };
}

export const agentRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/agents',
    scopes: READ_SCOPES,
    summary: 'The agents this server runs: model, tools, guards, limits, prompt version and hold',
    responses: { 200: { description: 'The agents', schema: agentListResponse }, ...errorResponses(401, 403) },
    async handle({ response, key, dependencies }) {
      const data = await Promise.all(
        [...dependencies.agents.values()].map((agent) => agentView(agent, key.tenantId, dependencies)),
      );
      sendJson(response, 200, { data });
    },
  }),
];
