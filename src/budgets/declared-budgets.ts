import { ConfigError } from '../errors/config-errors.js';
import { checkBudgetDefinition } from './budget-definition.js';
import type { BudgetDefinition } from './budget-types.js';

/** A budget as a config file declares it (`budgets: [...]` in `defineConfig`). */
export interface BudgetConfig extends BudgetDefinition {
  /** The tenant the budget belongs to. Default: `scopeId` for a `tenant` budget, else `default`. */
  tenantId?: string;
  /** Required, except for a `tenant` budget (then the tenant itself). */
  scopeId: string;
}

/** A declared budget, checked and with its tenant resolved: what `BudgetStore.upsertDeclared` takes. */
export type DeclaredBudget = BudgetDefinition & { tenantId: string; scopeId: string };

/**
 * Checks a config file's `budgets` list. Throws `config_invalid` naming the field at fault
 * (`budgets[1].limitUsd`) and the file.
 */
export function parseDeclaredBudgets(list: unknown, path: string): DeclaredBudget[] {
  if (list === undefined || list === null) return [];
  const fail = (field: string, reason: string) =>
    new ConfigError('config_invalid', `${path}: ${field} ${reason}.`, { path, field });
  if (!Array.isArray(list)) throw fail('budgets', 'must be an array of budgets');
  const seen = new Set<string>();
  return list.map((entry: unknown, index) => {
    const at = `budgets[${index}]`;
    const { tenantId, ...rest } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<
      string,
      unknown
    >;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw fail(at, 'must be an object');
    const checked = checkBudgetDefinition(rest, (field, reason) =>
      fail(field ? `${at}.${field}` : at, reason),
    );
    if (tenantId !== undefined && (typeof tenantId !== 'string' || tenantId.trim() === ''))
      throw fail(`${at}.tenantId`, 'must be a non-empty string');
    const scopeId = checked.scopeId;
    if (scopeId === undefined && checked.scope !== 'tenant')
      throw fail(`${at}.scopeId`, `is required for a ${checked.scope} budget`);
    const resolvedTenant =
      (tenantId as string | undefined) ?? (checked.scope === 'tenant' ? scopeId : undefined) ?? 'default';
    const declared = {
      ...(checked as BudgetDefinition),
      tenantId: resolvedTenant,
      scopeId: scopeId ?? resolvedTenant,
    };
    const identity = `${declared.tenantId}/${declared.scope}/${declared.scopeId}/${declared.period}`;
    if (seen.has(identity))
      throw fail(
        at,
        `declares the ${declared.period} budget of ${declared.scope} "${declared.scopeId}" twice`,
      );
    seen.add(identity);
    return declared;
  });
}
