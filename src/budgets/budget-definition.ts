import { BUDGET_PERIODS, type BudgetPeriod } from './budget-periods.js';
import {
  BUDGET_SCOPES,
  ON_EXHAUSTED,
  type BudgetDefinition,
  type BudgetScope,
  type OnExhausted,
} from './budget-types.js';

/** Largest dollar limit a budget takes (a typo guard, not a policy). */
const MAX_LIMIT_USD = 1e9;
const MAX_LIMIT_TOKENS = Number.MAX_SAFE_INTEGER;

/**
 * Checks a budget definition from any edge (config file, API body, CLI flags) and returns it
 * normalized; `fail(field, reason)` builds the edge's own error (`config_invalid` for the config,
 * `invalid_budget` for the API), so the message names the field either way.
 */
export function checkBudgetDefinition(
  input: unknown,
  fail: (field: string, reason: string) => Error,
  { partial = false }: { partial?: boolean } = {},
): Partial<BudgetDefinition> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw fail('', 'must be an object');
  const value = input as Record<string, unknown>;
  const known = new Set(['scope', 'scopeId', 'period', 'limitUsd', 'limitTokens', 'softPct', 'onExhausted']);
  for (const key of Object.keys(value)) if (!known.has(key)) throw fail(key, 'is not a budget field');
  const out: Partial<BudgetDefinition> = {};
  if (value.scope !== undefined || !partial) {
    if (!BUDGET_SCOPES.includes(value.scope as BudgetScope))
      throw fail('scope', `must be one of ${BUDGET_SCOPES.join(', ')}`);
    out.scope = value.scope as BudgetScope;
  }
  if (value.scopeId !== undefined) {
    if (typeof value.scopeId !== 'string' || !isScopeId(value.scopeId))
      throw fail('scopeId', 'must be 1-200 characters without spaces or control characters');
    out.scopeId = value.scopeId;
  }
  if (value.period !== undefined || !partial) {
    if (!BUDGET_PERIODS.includes(value.period as BudgetPeriod))
      throw fail('period', `must be one of ${BUDGET_PERIODS.join(', ')}`);
    out.period = value.period as BudgetPeriod;
  }
  if (value.limitUsd !== undefined) {
    if (value.limitUsd !== null && !isLimit(value.limitUsd, MAX_LIMIT_USD))
      throw fail('limitUsd', `must be a number from 0 to ${MAX_LIMIT_USD}, or null`);
    out.limitUsd = value.limitUsd as number | null;
  }
  if (value.limitTokens !== undefined) {
    if (
      value.limitTokens !== null &&
      (!isLimit(value.limitTokens, MAX_LIMIT_TOKENS) || !Number.isInteger(value.limitTokens))
    )
      throw fail('limitTokens', 'must be a whole number of tokens, 0 or more, or null');
    out.limitTokens = value.limitTokens as number | null;
  }
  if (value.softPct !== undefined) {
    const pct = value.softPct;
    if (typeof pct !== 'number' || !Number.isInteger(pct) || pct < 1 || pct > 100)
      throw fail('softPct', 'must be a whole percent from 1 to 100');
    out.softPct = pct;
  }
  if (value.onExhausted !== undefined) {
    if (!ON_EXHAUSTED.includes(value.onExhausted as OnExhausted))
      throw fail('onExhausted', `must be one of ${ON_EXHAUSTED.join(', ')}`);
    out.onExhausted = value.onExhausted as OnExhausted;
  }
  if (!partial && (out.limitUsd ?? null) === null && (out.limitTokens ?? null) === null)
    throw fail('limitUsd', 'or limitTokens must be given');
  return out;
}

/** A budget's `scope_id`: 1-200 characters without whitespace or control characters. */
export function isScopeId(value: string): boolean {
  if (value.length === 0 || value.length > 200) return false;
  for (const character of value) {
    const code = character.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f || /\s/.test(character)) return false;
  }
  return true;
}

function isLimit(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= max;
}
