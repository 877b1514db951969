import type { Agent } from '../runtime/agent.js';
import type { PricedModel } from './budget-store.js';

/**
 * The provider and model an agent's calls are priced with, as far as its definition tells before
 * a run: a model instance's own ids, or a `provider:model` reference. Undefined when only the
 * call can tell (a gateway route is priced at its deployment when the call is reserved; a bare
 * model name is resolved at run time).
 */
export function pricedModelOfAgent(agent: Pick<Agent, 'model'>): PricedModel | undefined {
  const { model } = agent;
  if (typeof model !== 'string') {
    return model.provider === 'gateway' ? undefined : { provider: model.provider, modelId: model.modelId };
  }
  const colon = model.indexOf(':');
  if (colon <= 0) return undefined;
  const provider = model.slice(0, colon);
  if (provider === 'gateway') return undefined;
  return { provider, modelId: model.slice(colon + 1) };
}
