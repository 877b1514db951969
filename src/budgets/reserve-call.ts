/**
 * One reservation as the database functions take it and give it back: the parameters of
 * `budget_reserve` (named as `budget_reserve_batch` reads them) and the reservation, or the
 * error, its result row means.
 */
import { BudgetExhaustedError, ModelPriceUnknownError } from '../errors/budget-errors.js';
import { callPricing, worstCaseUsd } from './budget-pricing.js';
import { periodResetMs } from './budget-periods.js';
import type { BudgetReservation, ReserveRequest } from './budget-store.js';

/** The row `budget_reserve` (and `budget_reserve_batch`, per entry) answers. */
export interface ReserveRow {
  status: 'ok' | 'none' | 'exhausted' | 'price_unknown';
  granted_output: string | number;
  usd: string | number;
  tokens: string | number;
  budget_id: string | null;
  scope: string | null;
  scope_id: string | null;
  period: string | null;
  limit_usd: string | number | null;
  limit_tokens: string | number | null;
  spent_usd: string | number | null;
  reserved_usd: string | number | null;
  spent_tokens: string | number | null;
  reserved_tokens: string | number | null;
}

/** One reservation's parameters, named as `budget_reserve_batch` reads them. */
export interface ReserveCall {
  id: string;
  tenant: string;
  agent: string | null;
  user: string | null;
  session: string | null;
  api_key: string | null;
  run: string | null;
  fence: number | null;
  holder: string;
  hour: string;
  day: string;
  month: string;
  input_per_m: string;
  output_per_m: string;
  price_known: boolean;
  prompt: number;
  max_output: number;
  min_output: number;
  run_remaining_usd: string | null;
  run_remaining_tokens: number | null;
  run_limit_usd: string | null;
  run_limit_tokens: number | null;
}

/** A request's parameters, priced. */
export function reserveCall(
  request: ReserveRequest,
  id: string,
  keys: { hour: string; day: string; month: string },
): ReserveCall {
  const pricing = callPricing({
    provider: request.model.provider,
    modelId: request.model.modelId,
    promptTokens: request.promptTokens,
    ...(request.model.priceTable === undefined ? {} : { table: request.model.priceTable }),
  });
  const runLimit = request.runLimit;
  return {
    id,
    tenant: request.tenantId,
    agent: request.agent ?? null,
    user: request.userId ?? null,
    session: request.sessionId ?? null,
    api_key: request.apiKeyId ?? null,
    run: request.runId ?? null,
    fence: request.fence ?? null,
    holder: request.holder,
    hour: keys.hour,
    day: keys.day,
    month: keys.month,
    input_per_m: pricing.inputPerMillion,
    output_per_m: pricing.outputPerMillion,
    price_known: pricing.known,
    prompt: Math.max(0, Math.ceil(request.promptTokens)),
    max_output: Math.max(0, Math.floor(request.maxOutputTokens)),
    min_output: Math.max(0, Math.floor(request.minOutputTokens ?? 1)),
    run_remaining_usd:
      runLimit?.limitUsd === undefined ? null : numericOrNull(runLimit.limitUsd - runLimit.spentUsd),
    run_remaining_tokens:
      runLimit?.limitTokens === undefined ? null : Math.floor(runLimit.limitTokens - runLimit.spentTokens),
    run_limit_usd: numericOrNull(runLimit?.limitUsd ?? null),
    run_limit_tokens: runLimit?.limitTokens ?? null,
  };
}

/** The reservation a result row grants, or the error it refuses with. */
export function reservationOf(
  request: ReserveRequest,
  call: ReserveCall,
  row: ReserveRow,
  now: number,
): BudgetReservation {
  if (row.status === 'ok' || row.status === 'none') {
    return {
      id: call.id,
      held: row.status === 'ok',
      grantedOutputTokens: Number(row.granted_output),
      reservedUsd: Number(row.usd),
      reservedTokens: Number(row.tokens),
    };
  }
  const budget = {
    budgetId: row.budget_id ?? '',
    scope: row.scope ?? '',
    scopeId: row.scope_id ?? '',
    period: row.period ?? '',
  };
  if (row.status === 'price_unknown') throw new ModelPriceUnknownError(request.model, budget);
  throw new BudgetExhaustedError(
    {
      ...budget,
      limitUsd: numberOrNull(row.limit_usd),
      limitTokens: numberOrNull(row.limit_tokens),
      spentUsd: Number(row.spent_usd ?? 0),
      reservedUsd: Number(row.reserved_usd ?? 0),
      spentTokens: Number(row.spent_tokens ?? 0),
      reservedTokens: Number(row.reserved_tokens ?? 0),
    },
    periodResetMs(budget.period, now),
  );
}

/** A reservation that holds nothing (no budget applies), as `budget_reserve` answers `none`. */
export function unheld(call: ReserveCall): BudgetReservation {
  return {
    id: call.id,
    held: false,
    grantedOutputTokens: call.max_output,
    reservedUsd: worstCaseUsd(
      { known: call.price_known, inputPerMillion: call.input_per_m, outputPerMillion: call.output_per_m },
      call.prompt,
      call.max_output,
    ),
    reservedTokens: call.prompt + call.max_output,
  };
}

/** A numeric column (pg returns numeric and bigint as strings) as a number, null kept. */
export function numberOrNull(value: string | number | null | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** A JS number as a decimal string Postgres' numeric parses exactly as written (no exponent). */
export function numericOrNull(value: number | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value);
  return /e/i.test(text) ? value.toFixed(20) : text;
}
