/**
 * `/v1/budgets`: budgets over HTTP, in the caller's tenant, with the `admin` scope. Bodies and
 * answers are snake_case; answers carry the current period's `spent_usd` and `reserved_usd`.
 * Every change is audited with the caller's key (`key:<id>`) in the same transaction.
 *
 * - `POST /v1/budgets` `{scope, scope_id?, period, limit_usd?, limit_tokens?, soft_pct?, on_exhausted?}`
 *   → 201 the budget (`scope_id` defaults to the caller's tenant for scope `tenant`);
 * - `GET /v1/budgets` → `{data: [...]}`; `GET /v1/budgets/{id}` → the budget;
 * - `PATCH /v1/budgets/{id}` `{limit_usd?, limit_tokens?, soft_pct?, on_exhausted?}` → the budget;
 * - `DELETE /v1/budgets/{id}` → the deleted budget.
 */
import { z } from 'zod';
import { BudgetNotFoundError, BudgetsUnavailableError, InvalidBudgetError } from '../errors/budget-errors.js';
import type { ApiKeyScope } from '../gateway/api-keys.js';
import { decodeId, sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';
import { checkBudgetDefinition } from '../budgets/budget-definition.js';
import { BUDGET_PERIODS } from '../budgets/budget-periods.js';
import type { BudgetStore } from '../budgets/budget-store.js';
import {
  BUDGET_SCOPES,
  ON_EXHAUSTED,
  type BudgetDefinition,
  type BudgetWithUsage,
} from '../budgets/budget-types.js';

/** Budgets are managed with the `admin` scope, in the key's own tenant. */
export const BUDGET_SCOPES_REQUIRED: readonly ApiKeyScope[] = ['admin'];

const limitUsd = z.number().min(0).max(1e9).nullable();
const limitTokens = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable();
const softPct = z.number().int().min(1).max(100);

export const createBudgetRequest = z
  .strictObject({
    scope: z.enum(BUDGET_SCOPES),
    scope_id: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe("Default: the caller's tenant, for scope tenant"),
    period: z.enum(BUDGET_PERIODS),
    limit_usd: limitUsd.optional(),
    limit_tokens: limitTokens.optional(),
    soft_pct: softPct.optional().describe('Percent of a limit whose crossing raises an alert (default 80)'),
    on_exhausted: z.enum(ON_EXHAUSTED).optional(),
  })
  .meta({ id: 'CreateBudgetRequest' });

export const updateBudgetRequest = z
  .strictObject({
    limit_usd: limitUsd.optional(),
    limit_tokens: limitTokens.optional(),
    soft_pct: softPct.optional(),
    on_exhausted: z.enum(ON_EXHAUSTED).optional(),
  })
  .meta({ id: 'UpdateBudgetRequest' });

export const budgetResponse = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    scope: z.enum(BUDGET_SCOPES),
    scope_id: z.string(),
    period: z.enum(BUDGET_PERIODS),
    limit_usd: z.number().nullable(),
    limit_tokens: z.number().nullable(),
    soft_pct: z.number(),
    on_exhausted: z.enum(ON_EXHAUSTED),
    source: z.enum(['api', 'config']),
    period_key: z.string().nullable(),
    spent_usd: z.number(),
    reserved_usd: z.number(),
    spent_tokens: z.number(),
    reserved_tokens: z.number(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Budget' });

/** A budget as the API shows it. */
export type BudgetView = z.infer<typeof budgetResponse>;

export function budgetView(budget: BudgetWithUsage): BudgetView {
  return {
    id: budget.id,
    tenant_id: budget.tenantId,
    scope: budget.scope,
    scope_id: budget.scopeId,
    period: budget.period,
    limit_usd: budget.limitUsd,
    limit_tokens: budget.limitTokens,
    soft_pct: budget.softPct,
    on_exhausted: budget.onExhausted,
    source: budget.source,
    period_key: budget.usage.periodKey,
    spent_usd: budget.usage.spentUsd,
    reserved_usd: budget.usage.reservedUsd,
    spent_tokens: budget.usage.spentTokens,
    reserved_tokens: budget.usage.reservedTokens,
    created_at: budget.createdAt.toISOString(),
    updated_at: budget.updatedAt.toISOString(),
  };
}

/** Budget management in the API's shapes: over the database, or over HTTP (the CLI). */
export interface BudgetAdmin {
  create(body: z.infer<typeof createBudgetRequest>): Promise<BudgetView>;
  list(): Promise<BudgetView[]>;
  get(id: string): Promise<BudgetView>;
  update(id: string, body: z.infer<typeof updateBudgetRequest>): Promise<BudgetView>;
  delete(id: string): Promise<BudgetView>;
}

/**
 * The budget operations for one tenant over `budgets`, acting as `actor` (authorization is the
 * caller's). Throws `invalid_budget` for a body the schema lets through but a budget cannot be
 * (no limit, no scope id), `budget_not_found`, `budget_exists`.
 */
export function budgetAdmin(budgets: BudgetStore, tenantId: string, actor: string): BudgetAdmin {
  const fail = (field: string, reason: string) => new InvalidBudgetError(snake(field), reason);
  const found = (id: string, budget: BudgetWithUsage | undefined) => {
    if (budget === undefined) throw new BudgetNotFoundError(id);
    return budgetView(budget);
  };
  return {
    async create(body) {
      const scopeId = body.scope_id ?? (body.scope === 'tenant' ? tenantId : undefined);
      if (scopeId === undefined) throw fail('scopeId', `is required for a ${body.scope} budget`);
      if (body.scope === 'tenant' && scopeId !== tenantId)
        throw fail('scopeId', `of a tenant budget must be your tenant ("${tenantId}")`);
      const definition = checkBudgetDefinition(
        {
          scope: body.scope,
          scopeId,
          period: body.period,
          ...(body.limit_usd === undefined ? {} : { limitUsd: body.limit_usd }),
          ...(body.limit_tokens === undefined ? {} : { limitTokens: body.limit_tokens }),
          ...(body.soft_pct === undefined ? {} : { softPct: body.soft_pct }),
          ...(body.on_exhausted === undefined ? {} : { onExhausted: body.on_exhausted }),
        },
        fail,
      ) as BudgetDefinition & { scopeId: string };
      return budgetView(await budgets.create(tenantId, definition, actor));
    },
    list: async () => (await budgets.list(tenantId)).map(budgetView),
    get: async (id) => found(id, await budgets.get(tenantId, id)),
    async update(id, body) {
      const patch = {
        ...(body.limit_usd === undefined ? {} : { limitUsd: body.limit_usd }),
        ...(body.limit_tokens === undefined ? {} : { limitTokens: body.limit_tokens }),
        ...(body.soft_pct === undefined ? {} : { softPct: body.soft_pct }),
        ...(body.on_exhausted === undefined ? {} : { onExhausted: body.on_exhausted }),
      };
      if (Object.keys(patch).length === 0)
        throw fail('', 'update names no field (limit_usd, limit_tokens, soft_pct, on_exhausted)');
      const current = await budgets.get(tenantId, id);
      if (current === undefined) throw new BudgetNotFoundError(id);
      const limitUsd = patch.limitUsd === undefined ? current.limitUsd : patch.limitUsd;
      const limitTokens = patch.limitTokens === undefined ? current.limitTokens : patch.limitTokens;
      if (limitUsd === null && limitTokens === null)
        throw fail('limitUsd', 'or limit_tokens must remain set');
      return found(id, await budgets.update(tenantId, id, patch, actor));
    },
    delete: async (id) => found(id, await budgets.delete(tenantId, id, actor)),
  };
}

/** `scopeId` → `scope_id`: the API names fields as its bodies do. */
function snake(field: string): string {
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

const storeOf = (budgets: BudgetStore | undefined): BudgetStore => {
  if (budgets === undefined) throw new BudgetsUnavailableError();
  return budgets;
};

const idOf = (params: Readonly<Record<string, string>>): string => {
  const id = decodeId(params.id);
  if (id === undefined) throw new BudgetNotFoundError(params.id ?? '');
  return id;
};

/** The `/v1/budgets` routes. */
export const budgetRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/budgets',
    scopes: BUDGET_SCOPES_REQUIRED,
    summary: "List the tenant's budgets, with the current period's spend and reservations",
    responses: {
      200: { description: 'Budgets', schema: z.object({ data: z.array(budgetResponse) }) },
      ...errorResponses(401, 403),
    },
    async handle({ response, key, dependencies }) {
      const admin = budgetAdmin(storeOf(dependencies.budgets), key.tenantId, `key:${key.id}`);
      sendJson(response, 200, { data: await admin.list() });
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/budgets',
    scopes: BUDGET_SCOPES_REQUIRED,
    summary: 'Create a budget (audited budget.create)',
    body: createBudgetRequest,
    responses: {
      201: { description: 'The budget', schema: budgetResponse },
      ...errorResponses(400, 401, 403, 413),
    },
    async handle({ response, key, body, dependencies }) {
      const admin = budgetAdmin(storeOf(dependencies.budgets), key.tenantId, `key:${key.id}`);
      sendJson(response, 201, await admin.create(await body()));
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/budgets/:id',
    scopes: BUDGET_SCOPES_REQUIRED,
    summary: 'One budget, with the current period spend and reservations',
    responses: {
      200: { description: 'The budget', schema: budgetResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies }) {
      const admin = budgetAdmin(storeOf(dependencies.budgets), key.tenantId, `key:${key.id}`);
      sendJson(response, 200, await admin.get(idOf(params)));
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: '/v1/budgets/:id',
    scopes: BUDGET_SCOPES_REQUIRED,
    summary: "Change a budget's limits, soft threshold or behaviour (audited budget.update)",
    body: updateBudgetRequest,
    responses: {
      200: { description: 'The budget', schema: budgetResponse },
      ...errorResponses(400, 401, 403, 404, 413),
    },
    async handle({ response, key, params, body, dependencies }) {
      const admin = budgetAdmin(storeOf(dependencies.budgets), key.tenantId, `key:${key.id}`);
      sendJson(response, 200, await admin.update(idOf(params), await body()));
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/budgets/:id',
    scopes: BUDGET_SCOPES_REQUIRED,
    summary: 'Delete a budget and its counters (audited budget.delete)',
    responses: {
      200: { description: 'The deleted budget', schema: budgetResponse },
      ...errorResponses(401, 403, 404),
    },
    async handle({ response, key, params, dependencies }) {
      const admin = budgetAdmin(storeOf(dependencies.budgets), key.tenantId, `key:${key.id}`);
      sendJson(response, 200, await admin.delete(idOf(params)));
    },
  }),
];
