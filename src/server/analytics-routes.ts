/**
 * `/v1/analytics`: the figures of a window of runs (`summary`) and of two samples side by side
 * with significance tests (`compare`), computed in the database by the analytics store. A key
 * sees its own tenant; an `operator` key sees every tenant, or the one it names.
 */
import { resolveCompareSides, resolveWindow } from '../analytics/analytics-query.js';
import { ForbiddenError } from '../errors/auth-errors.js';
import type { ApiKeyRecord, ApiKeyScope } from '../gateway/api-keys.js';
import { compareQuery, compareResponse, summaryQuery, summaryResponse } from './analytics-schemas.js';
import { READ_SCOPES } from './authenticate.js';
import { sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';

/** Who may read analytics: run readers (their tenant) and operators (every tenant). */
export const ANALYTICS_SCOPES: readonly ApiKeyScope[] = [...READ_SCOPES, 'operator'];

/** The tenant a request reads (null: every tenant); another tenant than its own needs `operator`. */
function tenantOf(key: ApiKeyRecord, requested: string | undefined): string | null {
  if (key.scopes.includes('operator')) return requested ?? null;
  if (requested !== undefined && requested !== key.tenantId) throw new ForbiddenError(['operator']);
  return key.tenantId;
}

export const analyticsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/analytics/summary',
    scopes: ANALYTICS_SCOPES,
    summary: 'Figures of the runs created in a window, overall or per group, and gateway calls outside runs',
    description:
      'Runs, success rate, duration percentiles, cost per run, per successful run and per committed outcome, ' +
      'outcomes, stop reasons, tool error rate by tool, loop histogram, hidden recompute and feedback. ' +
      'Bad windows or groups answer 400 `invalid_request` naming the field. See docs/observability.md.',
    query: summaryQuery,
    responses: {
      200: { description: 'The figures', schema: summaryResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key, query, dependencies: { analytics } }) {
      const request = query();
      const summary = await analytics.summary({
        window: resolveWindow({ from: request.from, to: request.to, now: Date.now() }),
        tenantId: tenantOf(key, request.tenant),
        agent: request.agent ?? null,
        ...(request.group_by === undefined ? {} : { groupBy: request.group_by }),
        ...(request.abandoned_after_days === undefined
          ? {}
          : { abandonedAfterDays: request.abandoned_after_days }),
      });
      return sendJson(response, 200, summary);
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/analytics/compare',
    scopes: ANALYTICS_SCOPES,
    summary: 'Two windows, or two prompt versions of an agent, side by side with significance tests',
    description:
      'Give `a_from`, `a_to`, `b_from`, `b_to`, or `agent`, `a_version`, `b_version` (over `from`/`to`). ' +
      'Rates are tested with a two-proportion z-test, per-run cost, steps, model calls and duration with ' +
      'Mann-Whitney U (normal approximation, tie and continuity corrections); two-sided, alpha 0.05.',
    query: compareQuery,
    responses: {
      200: { description: 'A and B with the tests', schema: compareResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key, query, dependencies: { analytics } }) {
      const request = query();
      const comparison = await analytics.compare({
        sides: resolveCompareSides(request, Date.now()),
        tenantId: tenantOf(key, request.tenant),
        agent: request.agent ?? null,
        ...(request.abandoned_after_days === undefined
          ? {}
          : { abandonedAfterDays: request.abandoned_after_days }),
      });
      return sendJson(response, 200, comparison);
    },
  }),
];
