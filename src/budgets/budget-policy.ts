/**
 * The budget step policy: every model call of a run reserves its worst case against every
 * budget that applies to the run (its tenant, agent, user, session, submitting API key, the run
 * itself) and against the agent's own `limits.maxCostUsd` / `limits.maxTokens` (an implicit
 * `run` budget), in one statement, before the provider is called; the call's `maxOutputTokens`
 * is lowered to what the tightest budget affords; the actual cost is settled after.
 *
 * A call that does not fit stops the run with stop reason `budget` and the `budget_exhausted`
 * (or `model_price_unknown`) error naming the budget; unless the budget it does not fit says
 * `on_exhausted: 'approval'`: the run then waits for a person to extend it (budget-approval.ts).
 * A budget store that cannot be reached throws: the policy runner fails the step, and no call is
 * made unreserved.
 */
import type { ExhaustedBudget } from '../errors/budget-errors.js';
import { isKeelError, serializeError } from '../errors/keel-error.js';
import type { PriceTable } from '../model/prices.js';
import { estimateRequestTokens } from '../model/token-estimate.js';
import type {
  ModelCallContext,
  ModelCallGrant,
  PolicyApproval,
  PolicyStop,
  StepPolicy,
} from '../runtime/step-policy.js';
import { budgetApprovalRequest } from './budget-approval.js';
import { callPricing, roundUsd, worstCaseUsd } from './budget-pricing.js';
import type { BudgetStore } from './budget-store.js';

/** Options of {@link createBudgetPolicy}. */
export interface BudgetPolicyOptions {
  /** The shared budget store (`createBudgetStore`). */
  budgets: BudgetStore;
  /** Prices to reserve with; must be the table the run's costs are computed with. Default: built-in. */
  priceTable?: PriceTable;
  /**
   * Output tokens reserved for a call that names no `maxOutputTokens` (the call is then capped at
   * what was reserved, so it cannot cost more). Default 4096.
   */
  defaultMaxOutputTokens?: number;
  /**
   * Prompt tokens of providers whose tokenizer is not public are counted with `o200k_base` and
   * multiplied by this, since Claude and Gemini count 10-20 % more. Default 1.25 (OpenAI: exact, 1).
   */
  foreignTokenizerMargin?: number;
}

/** Providers whose prompts `estimateRequestTokens` counts exactly (their own tokenizer). */
const EXACT_TOKENIZER_PROVIDERS = new Set(['openai', 'azure-openai', 'builtin']);

/** Creates the budget policy; give it to the worker (`policies`) and to `runAgent`. */
export function createBudgetPolicy({
  budgets,
  priceTable,
  defaultMaxOutputTokens = 4096,
  foreignTokenizerMargin = 1.25,
}: BudgetPolicyOptions): StepPolicy {
  /** Executions (`runId#fence`) whose predecessors' reservations were released already. */
  const released = new Set<string>();
  /**
   * A run claimed again (a reclaimed lease, a resumed wait) releases what earlier executions of it
   * still hold before its first call: a crashed worker's holds never outlive its run's recovery,
   * even where the worker does not call `releaseForRun` on `leaseRecovered` itself.
   */
  const releaseEarlierExecutions = async (runId: string, fence: number, attempts: number) => {
    const execution = `${runId}#${fence}`;
    if (attempts <= 1 || released.has(execution)) return;
    await budgets.releaseForRun(runId, fence);
    released.add(execution);
    if (released.size > 10_000) released.clear();
  };
  return {
    name: 'budgets',
    // Holds of executions that died, and of a run stopped before its next call, go back now.
    async runEnded(run) {
      await budgets.releaseForRun(run.id);
    },
    async reserveModelCall(context: ModelCallContext): Promise<ModelCallGrant | PolicyStop | PolicyApproval> {
      const { run, agent, model, request } = context;
      await releaseEarlierExecutions(run.id, run.fence, run.attempts);
      const counted = estimateRequestTokens(request, { model: model.modelId });
      const promptTokens = EXACT_TOKENIZER_PROVIDERS.has(model.provider)
        ? counted
        : Math.ceil(counted * foreignTokenizerMargin);
      const asked = request.maxOutputTokens ?? defaultMaxOutputTokens;
      const { maxCostUsd, maxTokens } = agent.limits;
      let reservation;
      try {
        reservation = await budgets.reserve({
          tenantId: run.tenantId,
          agent: run.agent,
          ...(run.userId === null ? {} : { userId: run.userId }),
          ...(run.sessionId === null ? {} : { sessionId: run.sessionId }),
          ...(run.createdBy === null ? {} : { apiKeyId: run.createdBy }),
          runId: run.id,
          fence: run.fence,
          holder: `run:${run.id}#${run.fence}`,
          model: { provider: model.provider, modelId: model.modelId, ...(priceTable ? { priceTable } : {}) },
          promptTokens,
          maxOutputTokens: asked,
          ...(maxCostUsd === undefined && maxTokens === undefined
            ? {}
            : {
                runLimit: {
                  ...(maxCostUsd === undefined ? {} : { limitUsd: maxCostUsd }),
                  ...(maxTokens === undefined ? {} : { limitTokens: maxTokens }),
                  spentUsd: context.costUsd,
                  spentTokens: context.usage.inputTokens + context.usage.outputTokens,
                },
              }),
        });
      } catch (error) {
        if (
          !isKeelError(error) ||
          (error.code !== 'budget_exhausted' && error.code !== 'model_price_unknown')
        )
          throw error;
        const stop: PolicyStop['stop'] = { reason: 'budget', error: serializeError(error) };
        if (error.code !== 'budget_exhausted') return { stop };
        // A budget that may be extended holds the call for an approval (a run's own limits never).
        const exhausted = error.details as unknown as ExhaustedBudget;
        const budget = exhausted.budgetId.startsWith('run:')
          ? undefined
          : await budgets.get(run.tenantId, exhausted.budgetId);
        if (budget?.onExhausted !== 'approval') return { stop };
        const pricing = callPricing({
          provider: model.provider,
          modelId: model.modelId,
          promptTokens,
          ...(priceTable ? { table: priceTable } : {}),
        });
        const request = budgetApprovalRequest(exhausted, {
          usd: roundUsd(worstCaseUsd(pricing, promptTokens, asked)),
          tokens: promptTokens + asked,
          prompt_tokens: promptTokens,
          output_tokens: asked,
          model: `${model.provider}:${model.modelId}`,
        });
        return { approval: { ...request, stop } };
      }
      // Without a budget or a run limit, the call goes as asked: no cap it did not have.
      const governed = reservation.held || maxCostUsd !== undefined || maxTokens !== undefined;
      const narrowed =
        governed && (reservation.grantedOutputTokens < asked || request.maxOutputTokens === undefined);
      return {
        ...(narrowed ? { request: { ...request, maxOutputTokens: reservation.grantedOutputTokens } } : {}),
        meta: {
          reservationId: reservation.id,
          reservedUsd: reservation.reservedUsd,
          reservedTokens: reservation.reservedTokens,
          grantedOutputTokens: reservation.grantedOutputTokens,
          ...(narrowed && request.maxOutputTokens !== undefined
            ? { askedOutputTokens: request.maxOutputTokens }
            : {}),
        },
        async settle({ usage, costUsd }) {
          if (!reservation.held) return;
          if (usage === undefined) {
            await budgets.release([reservation.id]);
            return;
          }
          await budgets.settle(reservation.id, {
            ...(costUsd === undefined ? {} : { costUsd }),
            tokens: usage.inputTokens + usage.outputTokens,
          });
        },
      };
    },
  };
}
