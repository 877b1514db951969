/**
 * `GET /v1/spend-breakers`: the config's spend breakers, read-only (they are changed in the config
 * file), with what each watches now: the spend in its window and whether it has tripped (the pause
 * it set, by `system:breaker`, is still on). Scope `admin` or `operator`. A breaker of scope
 * `agent` with no target watches each agent of this server; one of scope `tenant` with no target
 * is shown for the caller's tenant. An agent breaker's spend spans every tenant, so only operator
 * keys see it (`spent_usd` is null for others). A tripped breaker is reset by resuming what it
 * paused.
 */
import { z } from 'zod';
import { ALL_TENANTS } from '../controls/controls.js';
import type { SpendBreakerRule } from '../controls/controls-config.js';
import type { ApiKeyScope } from '../gateway/api-keys.js';
import { sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';

const BREAKER_READ_SCOPES: readonly ApiKeyScope[] = ['admin', 'operator'];

export const spendBreakerListResponse = z
  .object({
    configured: z.boolean().describe('False: this server was given no spend breakers service.'),
    data: z.array(
      z.object({
        scope: z.enum(['agent', 'tenant']),
        window: z.string(),
        window_minutes: z.number(),
        max_usd: z.number(),
        target: z.string().nullable(),
        watched: z.array(
          z.object({
            id: z.string().describe('The agent or tenant.'),
            spent_usd: z
              .number()
              .nullable()
              .describe(
                "Spend in the sliding window now. An agent breaker sums every tenant's spend: shown to operator keys only (null for others).",
              ),
            tripped: z
              .object({ reason: z.string(), set_at: z.string(), tenant_id: z.string() })
              .nullable()
              .describe('The pause this breaker set, while it is on.'),
          }),
        ),
      }),
    ),
  })
  .meta({ id: 'SpendBreakerList' });

export const breakerRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/spend-breakers',
    scopes: BREAKER_READ_SCOPES,
    summary:
      "The config's spend breakers with the spend in their window and whether they tripped (read-only)",
    responses: {
      200: { description: 'Spend breakers', schema: spendBreakerListResponse },
      ...errorResponses(401, 403),
    },
    async handle({ response, key, dependencies }) {
      const { spendBreakers, controls, agents } = dependencies;
      if (spendBreakers === undefined) return sendJson(response, 200, { configured: false, data: [] });
      await controls?.refresh();
      const operator = key.scopes.includes('operator');
      // A tenant's spend is shown to its own keys and to operators only.
      const watchedIds = (rule: SpendBreakerRule): string[] => {
        if (rule.scope === 'agent') return rule.target !== undefined ? [rule.target] : [...agents.keys()];
        const tenant = rule.target ?? key.tenantId;
        return operator || tenant === key.tenantId ? [tenant] : [];
      };
      const trippedFor = (rule: SpendBreakerRule, id: string) =>
        controls
          ?.list()
          .find(
            (control) =>
              control.setBy === 'system:breaker' &&
              control.target === id &&
              (rule.scope === 'agent'
                ? control.kind === 'agent_paused' && control.tenantId === ALL_TENANTS
                : control.kind === 'tenant_paused' && control.tenantId === id),
          );
      const data = await Promise.all(
        spendBreakers.rules.map(async (rule) => ({
          scope: rule.scope,
          window: rule.window,
          window_minutes: rule.windowMinutes,
          max_usd: rule.maxUsd,
          target: rule.target ?? null,
          watched: await Promise.all(
            watchedIds(rule).map(async (id) => {
              const tripped = trippedFor(rule, id);
              return {
                id,
                // An agent's spend spans tenants: only an operator may see that sum.
                spent_usd:
                  rule.scope === 'agent' && !operator
                    ? null
                    : await spendBreakers.spent({
                        scope: rule.scope,
                        id,
                        windowMinutes: rule.windowMinutes,
                      }),
                tripped:
                  tripped === undefined
                    ? null
                    : {
                        reason: tripped.reason,
                        set_at: tripped.setAt.toISOString(),
                        tenant_id: tripped.tenantId,
                      },
              };
            }),
          ),
        })),
      );
      return sendJson(response, 200, { configured: true, data });
    },
  }),
];
