/**
 * `/v1/gateway/*`: the gateway as the console's Gateway page reads it. Scope `admin` (its
 * tenant's traffic) or `operator` (every tenant's).
 *
 * - `GET /v1/gateway/deployments` → whether this server runs a gateway, and each configured
 *   deployment with its provider, model, routes, breaker state (this process's breakers) and
 *   kill switch (`deployment_disabled`);
 * - `GET /v1/gateway/usage?window=1h|24h|7d` → the calls made through the gateway's HTTP endpoints
 *   in the window, aggregated in SQL: per deployment (requests, errors, error rate, p95 latency,
 *   spend), per API key (requests, errors, spend) and per time bucket (requests, errors).
 */
import { z } from 'zod';
import { ALL_TENANTS } from '../controls/controls.js';
import type { ApiKeyScope } from '../gateway/api-keys.js';
import type { GatewayConfigInput } from '../gateway/gateway-config.js';
import type { BreakerState, Gateway } from '../gateway/gateway-types.js';
import { configured, sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';

/** Reading the gateway's figures: `admin` (its tenant's traffic), `operator` (all). */
export const GATEWAY_READ_SCOPES: readonly ApiKeyScope[] = ['admin', 'operator'];

/** The gateway this process runs, as the routes describe it. */
export interface GatewayStatus {
  deployments(): { name: string; provider: string; model: string; routes: string[] }[];
  /** The breaker of every deployment, in this process. */
  breakers(): BreakerState[];
}

/** The status of a gateway built from `config` (the config file's `gateway` section). */
export function createGatewayStatus(
  config: GatewayConfigInput,
  gateway: Pick<Gateway, 'breakers'>,
): GatewayStatus {
  return {
    deployments: () =>
      config.deployments.map((deployment) => ({
        name: deployment.name,
        provider: deployment.provider,
        model: deployment.model,
        routes: config.routes
          .filter((route) => route.deployments.includes(deployment.name))
          .map((route) => route.name),
      })),
    breakers: () => gateway.breakers(),
  };
}

/** The windows the usage answers for, with the width of their buckets. */
export const USAGE_WINDOWS = {
  '1h': { ms: 3_600_000, bucketMs: 300_000 },
  '24h': { ms: 86_400_000, bucketMs: 3_600_000 },
  '7d': { ms: 604_800_000, bucketMs: 21_600_000 },
} as const;

const breakerView = z.object({
  state: z.enum(['closed', 'open', 'half-open']),
  consecutive_failures: z.number(),
  retry_at: z.string().nullable().describe('When an open breaker lets a probe through.'),
});

export const gatewayDeploymentsResponse = z
  .object({
    configured: z.boolean().describe('False: this server runs no gateway (no `gateway` in its config).'),
    data: z.array(
      z.object({
        name: z.string(),
        provider: z.string(),
        model: z.string(),
        routes: z.array(z.string()),
        breaker: breakerView.nullable(),
        disabled: z
          .object({ reason: z.string(), set_by: z.string(), set_at: z.string() })
          .nullable()
          .describe('The deployment_disabled control, when one is on.'),
      }),
    ),
  })
  .meta({ id: 'GatewayDeployments' });

export const gatewayUsageQuery = z.object({ window: z.enum(['1h', '24h', '7d']).default('24h') });

export const gatewayUsageResponse = z
  .object({
    window: z.enum(['1h', '24h', '7d']),
    since: z.string(),
    until: z.string(),
    bucket_seconds: z.number(),
    deployments: z.array(
      z.object({
        deployment: z.string(),
        provider: z.string(),
        model: z.string(),
        requests: z.number(),
        errors: z.number(),
        error_rate: z.number(),
        requests_per_minute: z.number(),
        p95_latency_ms: z.number().nullable(),
        cost_usd: z.number(),
      }),
    ),
    keys: z.array(
      z.object({
        tenant_id: z.string().nullable(),
        key_id: z.string().nullable(),
        key_name: z.string().nullable(),
        requests: z.number(),
        errors: z.number(),
        cost_usd: z.number(),
      }),
    ),
    users: z
      .array(
        z.object({
          tenant_id: z.string().nullable(),
          user_id: z.string().nullable(),
          sessions: z.number(),
          requests: z.number(),
          errors: z.number(),
          cost_usd: z.number(),
        }),
      )
      .describe(
        'Per end user (developer) the calls were attributed to; user_id null: calls that named none.',
      ),
    series: z.array(z.object({ at: z.string(), requests: z.number(), errors: z.number() })),
  })
  .meta({ id: 'GatewayUsage' });

export const gatewayRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/gateway/deployments',
    scopes: GATEWAY_READ_SCOPES,
    summary:
      "The gateway's deployments with their breaker state and kill switch (configured: false without one)",
    responses: {
      200: { description: 'Deployments', schema: gatewayDeploymentsResponse },
      ...errorResponses(401, 403),
    },
    async handle({ response, dependencies }) {
      const { gatewayStatus, controls } = dependencies;
      if (gatewayStatus === undefined) return sendJson(response, 200, { configured: false, data: [] });
      await controls?.refresh();
      const breakers = new Map(gatewayStatus.breakers().map((breaker) => [breaker.deployment, breaker]));
      const data = gatewayStatus.deployments().map((deployment) => {
        const breaker = breakers.get(deployment.name);
        const disabled = controls?.deploymentDisabled(deployment.name);
        return {
          ...deployment,
          breaker:
            breaker === undefined
              ? null
              : {
                  state: breaker.state,
                  consecutive_failures: breaker.consecutiveFailures,
                  retry_at: breaker.retryAt === undefined ? null : new Date(breaker.retryAt).toISOString(),
                },
          disabled:
            disabled === undefined || disabled.tenantId !== ALL_TENANTS
              ? null
              : { reason: disabled.reason, set_by: disabled.setBy, set_at: disabled.setAt.toISOString() },
        };
      });
      return sendJson(response, 200, { configured: true, data });
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/gateway/usage',
    scopes: GATEWAY_READ_SCOPES,
    summary:
      "The gateway's HTTP calls in a window: per deployment, per API key, per user and per time bucket",
    description:
      "Aggregated in SQL over the call records of the gateway endpoints (a run's model calls are its steps, not " +
      "counted here). An admin key sees its tenant's calls, an operator key every tenant's. Buckets: 5 minutes " +
      '(1h), 1 hour (24h), 6 hours (7d).',
    query: gatewayUsageQuery,
    responses: {
      200: { description: 'Usage', schema: gatewayUsageResponse },
      ...errorResponses(400, 401, 403),
    },
    async handle({ response, key, query, dependencies }) {
      const stats = configured(dependencies.gatewayStats, 'gateway call records');
      const { window } = query();
      const { ms, bucketMs } = USAGE_WINDOWS[window];
      // Buckets are aligned on their width, so a chart's bars do not shift on every refresh.
      const until = new Date(Math.ceil((Date.now() + 1) / bucketMs) * bucketMs);
      const since = new Date(until.getTime() - ms);
      const usage = await stats.usage({
        tenantId: key.scopes.includes('operator') ? null : key.tenantId,
        since,
        until,
        bucketMs,
      });
      const minutes = ms / 60_000;
      return sendJson(response, 200, {
        window,
        since: since.toISOString(),
        until: until.toISOString(),
        bucket_seconds: bucketMs / 1000,
        deployments: usage.deployments.map((deployment) => ({
          deployment: deployment.deployment,
          provider: deployment.provider,
          model: deployment.model,
          requests: deployment.requests,
          errors: deployment.errors,
          error_rate: deployment.errorRate,
          requests_per_minute: deployment.requests / minutes,
          p95_latency_ms: deployment.p95LatencyMs,
          cost_usd: deployment.costUsd,
        })),
        keys: usage.keys.map((entry) => ({
          tenant_id: entry.tenantId,
          key_id: entry.keyId,
          key_name: entry.keyName,
          requests: entry.requests,
          errors: entry.errors,
          cost_usd: entry.costUsd,
        })),
        users: usage.users.map((entry) => ({
          tenant_id: entry.tenantId,
          user_id: entry.userId,
          sessions: entry.sessions,
          requests: entry.requests,
          errors: entry.errors,
          cost_usd: entry.costUsd,
        })),
        series: usage.series.map((bucket) => ({
          at: bucket.at.toISOString(),
          requests: bucket.requests,
          errors: bucket.errors,
        })),
      });
    },
  }),
];
