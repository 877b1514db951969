import type { LanguageModel, ModelRequest, ModelResponse, Usage } from '../model/model.js';
import { costOf, PRICE_TABLE_VERSION } from '../model/prices.js';
import { withTrustedUsage } from '../model/trusted-usage.js';
import { decisionEnvelopeOf } from './decision-envelope.js';
import type { StepOutcome } from './durable-run.js';

/**
 * The journaled outcome of a model call that answered: its output, its usage and cost, and the
 * facts the step row keeps. The usage is the trusted figure (trusted-usage.ts): whatever the
 * model reported, what the run sums into `maxTokens`, `maxCostUsd` and its price is never
 * missing, negative or absurd. The meta says where the figure comes from (`usageSource`:
 * `reported` or `estimated`), why a reported one was replaced (`usageInvalid`), whether a
 * price was found (`priced`) and which table gave it (`priceTable`, see prices.ts), and what the model decided (`envelope`, see decision-envelope.ts).
 */
export function modelStepOutcome({
  model,
  request,
  response,
  promptVersion = null,
}: {
  model: LanguageModel;
  request: ModelRequest;
  response: ModelResponse;
  /** The prompt version of the agent that made the call, for the decision envelope. */
  promptVersion?: string | null;
}): StepOutcome {
  const trusted = withTrustedUsage({ response, request, model: model.modelId });
  const { usage } = trusted;
  const cost = costOf({ provider: model.provider, modelId: model.modelId, usage });
  return {
    status: 'completed',
    output: trusted,
    usage,
    costUsd: cost ?? 0,
    meta: {
      finishReason: trusted.finishReason,
      priced: cost !== undefined,
      ...(cost === undefined ? {} : { priceTable: PRICE_TABLE_VERSION }),
      usageSource: usage.source ?? 'reported',
      ...(usage.invalid === undefined ? {} : { usageInvalid: usage.invalid }),
      envelope: decisionEnvelopeOf({ promptVersion, response: trusted }),
    },
  };
}

/**
 * What a step adds to a run's totals: only counts and costs that can be true. Steps journaled
 * before usage was checked may hold negative or non-finite figures; they count as 0, so nothing
 * recorded can lower a run's cost or poison its caps.
 */
export function countableUsage(
  usage: Usage | undefined,
  costUsd: number | undefined,
): { inputTokens: number; outputTokens: number; costUsd: number } {
  return {
    inputTokens: countable(usage?.inputTokens),
    outputTokens: countable(usage?.outputTokens),
    costUsd: countable(costUsd),
  };
}

function countable(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : 0;
}
