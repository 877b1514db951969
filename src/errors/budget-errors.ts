import { KeelError } from './keel-error.js';

/** The budget a reservation did not fit, as errors and answers name it. */
export interface ExhaustedBudget {
  /** `run:<runId>` for a run's own `maxCostUsd`/`maxTokens`. */
  budgetId: string;
  scope: string;
  scopeId: string;
  period: string;
  limitUsd: number | null;
  limitTokens: number | null;
  spentUsd: number;
  reservedUsd: number;
  spentTokens: number;
  reservedTokens: number;
}

/**
 * A model call does not fit a budget: what it may cost at worst (its prompt and at least one
 * output token) is more than the budget has left once spend and reservations in flight are
 * counted. `retryAfterMs` is the time until the budget's period resets (absent for `total` and
 * `run` periods, which never reset). Retryable only when the period resets.
 */
export class BudgetExhaustedError extends KeelError {
  constructor(budget: ExhaustedBudget, retryAfterMs: number | undefined) {
    const limits = [
      budget.limitUsd === null
        ? undefined
        : `$${budget.spentUsd.toFixed(6)} spent and $${budget.reservedUsd.toFixed(6)} reserved of $${budget.limitUsd}`,
      budget.limitTokens === null
        ? undefined
        : `${budget.spentTokens} tokens spent and ${budget.reservedTokens} reserved of ${budget.limitTokens}`,
    ].filter((part) => part !== undefined);
    const reset = retryAfterMs === undefined ? '' : ` It resets in ${Math.ceil(retryAfterMs / 1000)} s.`;
    super({
      code: 'budget_exhausted',
      message:
        `Budget exhausted: ${budget.scope} "${budget.scopeId}" per ${budget.period} ` +
        `(${budget.budgetId}): ${limits.join('; ')}.${reset}`,
      fault: 'caller',
      retryable: retryAfterMs !== undefined,
      details: { ...budget, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    });
  }
}

/** A model with no known price cannot run under a dollar budget: its spend could not be capped. */
export class ModelPriceUnknownError extends KeelError {
  constructor(
    model: { provider: string; modelId: string },
    budget: { budgetId: string; scope: string; scopeId: string },
  ) {
    super({
      code: 'model_price_unknown',
      message:
        `No price is known for model ${model.provider}:${model.modelId}, so it cannot run under the dollar ` +
        `budget ${budget.scope} "${budget.scopeId}" (${budget.budgetId}). Add its price to the price table ` +
        `or use a priced model.`,
      fault: 'caller',
      details: { ...model, ...budget },
    });
  }
}

/** No budget of that id (in the caller's tenant). */
export class BudgetNotFoundError extends KeelError {
  constructor(id: string) {
    super({ code: 'budget_not_found', message: `Budget ${id} not found.`, fault: 'caller', details: { id } });
  }
}

/** A budget with the same tenant, scope, scope id and period exists already. */
export class BudgetConflictError extends KeelError {
  constructor(identity: { scope: string; scopeId: string; period: string }, existingId: string) {
    super({
      code: 'budget_exists',
      message: `A ${identity.period} budget for ${identity.scope} "${identity.scopeId}" exists already (${existingId}); update it instead.`,
      fault: 'caller',
      details: { ...identity, existingId },
    });
  }
}

/** A budget definition that is not valid (from the API or the CLI; config uses `config_invalid`). */
export class InvalidBudgetError extends KeelError {
  constructor(field: string, message: string) {
    super({
      code: 'invalid_budget',
      message: `Invalid budget: ${field} ${message}`,
      fault: 'caller',
      details: { field },
    });
  }
}

/** A server without a budget store: `/v1/budgets`, and approving a budget extension, answer 503. */
export class BudgetsUnavailableError extends KeelError {
  constructor() {
    super({
      code: 'budgets_unavailable',
      message: 'Budgets are not available on this server (it has no budget store).',
      fault: 'system',
    });
  }
}

/**
 * A budget extension that cannot be applied as asked (`invalid_extension`, 400): an amount on a
 * decision that is not approving a budget extension, or for a limit the budget does not have.
 */
export class InvalidExtensionError extends KeelError {
  constructor(field: string, message: string) {
    super({
      code: 'invalid_extension',
      message: `Invalid budget extension: ${field} ${message}`,
      fault: 'caller',
      details: { field },
    });
  }
}
