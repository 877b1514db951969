/**
 * Budgets at the gateway's HTTP edge: a call reserves its worst case against the budgets of the
 * calling key's tenant, the key itself, and the end user and session it is attributed to
 * (`gateway/http/call-attribution.ts`), before any provider is called,
 * and settles what the gateway priced after (a cache hit costs nothing). The worst case is priced
 * at the dearest deployment the route may fall back to, so a fallback cannot overspend.
 */
import type { KeelGateway } from '../gateway/gateway.js';
import type { CallMeta, Caller } from '../gateway/gateway-types.js';
import type { ModelRequest } from '../model/model.js';
import { priceFor, type PriceTable } from '../model/prices.js';
import { estimateRequestTokens, estimateTextTokens } from '../model/token-estimate.js';
import { silentLogger, type Logger } from '../util/logger.js';
import type { BudgetStore, PricedModel } from './budget-store.js';

/** One gateway call to reserve: a chat/messages request, or the inputs of an embeddings call. */
export interface GatewayBudgetCall {
  caller: Caller;
  /** The end user (a developer) the call is attributed to (`gateway/http/call-attribution.ts`). */
  userId?: string;
  /** The session the call is attributed to (a coding agent's conversation). */
  sessionId?: string;
  route: string;
  request?: ModelRequest;
  embeddingInput?: readonly string[];
}

/** A reserved gateway call. */
export interface GatewayBudgetHold {
  /** What to send as the call's `maxOutputTokens` (undefined for embeddings). */
  maxOutputTokens: number | undefined;
  /** Settles with the call's meta (its usage and cost), or releases when nothing is known. Once. */
  settle(meta: CallMeta | undefined): Promise<void>;
}

export interface GatewayBudgets {
  /** Throws `budget_exhausted` (429 at the edge), `model_price_unknown`, or a database error. */
  reserve(call: GatewayBudgetCall): Promise<GatewayBudgetHold>;
}

/** Options of {@link createGatewayBudgets}. */
export interface GatewayBudgetsOptions {
  budgets: BudgetStore;
  gateway: Pick<KeelGateway, 'routeTargets'>;
  priceTable?: PriceTable;
  /** Reserved for a call that names no max output tokens (the gateway's own default). Default 1024. */
  defaultMaxOutputTokens?: number;
  logger?: Logger;
}

const EXACT_TOKENIZER_PROVIDERS = new Set(['openai', 'builtin']);
const FOREIGN_TOKENIZER_MARGIN = 1.25;

/** Creates the gateway's budget reservations over the shared budget store. */
export function createGatewayBudgets({
  budgets,
  gateway,
  priceTable,
  defaultMaxOutputTokens = 1024,
  logger = silentLogger,
}: GatewayBudgetsOptions): GatewayBudgets {
  /** The route's dearest deployment; an unpriced one makes the whole route unpriced. */
  const dearest = (route: string): PricedModel => {
    let chosen: PricedModel | undefined;
    let chosenCost = -1;
    for (const target of gateway.routeTargets(route)) {
      const model = {
        provider: target.pricingProvider,
        modelId: target.model,
        ...(priceTable ? { priceTable } : {}),
      };
      const price = priceFor(model.provider, model.modelId, priceTable);
      if (price === undefined) return model;
      const cost = price.output * 1_000 + price.input;
      if (cost > chosenCost) {
        chosen = model;
        chosenCost = cost;
      }
    }
    return chosen ?? { provider: 'gateway', modelId: route };
  };

  return {
    async reserve({ caller, userId, sessionId, route, request, embeddingInput }) {
      // A tenant without a budget: nothing to hold, so nothing to count or price. Asked before
      // counting, waiting for the look-up when the cache has no fresh answer: counting a coding
      // agent's 100 KB prompt took most of the gateway's CPU per call.
      const budgetless = budgets.isBudgetless?.(caller.tenantId) ?? false;
      if (budgetless === true || (budgetless !== false && (await budgetless)))
        return { maxOutputTokens: request?.maxOutputTokens, settle: async () => {} };
      const model = dearest(route);
      const counted =
        request !== undefined
          ? estimateRequestTokens(request, { model: model.modelId })
          : (embeddingInput ?? []).reduce((sum, text) => sum + estimateTextTokens(text), 0);
      const promptTokens = EXACT_TOKENIZER_PROVIDERS.has(model.provider)
        ? counted
        : Math.ceil(counted * FOREIGN_TOKENIZER_MARGIN);
      const asked = request === undefined ? 0 : (request.maxOutputTokens ?? defaultMaxOutputTokens);
      const reservation = await budgets.reserve({
        tenantId: caller.tenantId,
        apiKeyId: caller.keyId,
        ...(userId === undefined ? {} : { userId }),
        ...(sessionId === undefined ? {} : { sessionId }),
        holder: `key:${caller.keyId}`,
        model,
        promptTokens,
        maxOutputTokens: asked,
        minOutputTokens: request === undefined ? 0 : 1,
      });
      let settled = false;
      return {
        // Without a budget, the call goes as asked: no cap it did not have.
        maxOutputTokens:
          request === undefined || !reservation.held
            ? request?.maxOutputTokens
            : reservation.grantedOutputTokens,
        async settle(meta) {
          if (settled || !reservation.held) return;
          settled = true;
          try {
            if (meta?.usage === undefined) {
              await budgets.release([reservation.id]);
              return;
            }
            await budgets.settle(reservation.id, {
              ...(meta.costUsd === undefined ? {} : { costUsd: meta.costUsd }),
              tokens: meta.usage.inputTokens + meta.usage.outputTokens,
            });
          } catch (error) {
            // The answer is on its way; the hold stays until `releaseOlderThan` sweeps it.
            logger.error('could not settle a gateway budget reservation', {
              reservationId: reservation.id,
              error: String(error),
            });
          }
        },
      };
    },
  };
}
