/**
 * The gateway's traffic as an operator reads it (`GET /v1/gateway/usage`): per deployment, per
 * API key, per user (developer) and per time bucket, aggregated by SQL over `gateway_calls` (the calls made through the
 * gateway's HTTP endpoints; a run's model calls are journal steps, not rows here). Only the
 * aggregates come back, never the rows.
 */
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';

/** One deployment's calls in the window. */
export interface DeploymentUsage {
  deployment: string;
  provider: string;
  model: string;
  requests: number;
  errors: number;
  /** errors / requests (0 with no request). */
  errorRate: number;
  /** p95 of the calls' latency (ms), null with no call. */
  p95LatencyMs: number | null;
  costUsd: number;
}

/** One API key's calls in the window (`keyId` null: calls with no key, such as embedded ones). */
export interface KeyUsage {
  tenantId: string | null;
  keyId: string | null;
  /** The key's name, when it has one and still exists. */
  keyName: string | null;
  requests: number;
  errors: number;
  costUsd: number;
}

/**
 * One end user's calls in the window (`userId` null: calls attributed to no one), with the
 * distinct sessions they spanned: a developer behind a coding agent, as the HTTP edge attributed it.
 */
export interface UserUsage {
  tenantId: string | null;
  userId: string | null;
  sessions: number;
  requests: number;
  errors: number;
  costUsd: number;
}

/** Requests and errors of one time bucket (starting at `at`). */
export interface UsageBucket {
  at: Date;
  requests: number;
  errors: number;
}

/** What {@link GatewayStats.usage} answers. */
export interface GatewayUsage {
  deployments: DeploymentUsage[];
  keys: KeyUsage[];
  users: UserUsage[];
  /** Every bucket of the window in order, empty ones included. */
  series: UsageBucket[];
}

/** Gateway traffic figures over the shared database. */
export interface GatewayStats {
  /**
   * Calls started in [since, until): per deployment, per key and per user (the `maxKeys` keys,
   * and as many users, that spent most), and per bucket of `bucketMs`. `tenantId` null: every
   * tenant (an operator's view).
   */
  usage(query: {
    tenantId: string | null;
    since: Date;
    until: Date;
    bucketMs: number;
    maxKeys?: number;
  }): Promise<GatewayUsage>;
}

export function createGatewayStats({
  client,
  schema = DEFAULT_SCHEMA,
}: {
  client: SqlClient;
  schema?: string;
}): GatewayStats {
  const calls = `${assertSchemaName(schema)}.gateway_calls`;
  const keys = `${schema}.api_keys`;
  const inWindow = `started_at >= $1::timestamptz AND started_at < $2::timestamptz AND ($3::text IS NULL OR tenant_id = $3::text)`;
  return {
    async usage({ tenantId, since, until, bucketMs, maxKeys = 50 }) {
      const window = [since.toISOString(), until.toISOString(), tenantId];
      const [perDeployment, perKey, perUser, perBucket] = await Promise.all([
        client.query<{
          deployment: string;
          provider: string;
          model: string;
          requests: number;
          errors: number;
          p95: number | null;
          cost_usd: number;
        }>(
          `SELECT deployment, min(provider) AS provider, min(model) AS model,
             count(*)::int AS requests,
             count(*) FILTER (WHERE outcome = 'error')::int AS errors,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)::float8 AS p95,
             coalesce(sum(cost_usd), 0)::float8 AS cost_usd
           FROM ${calls} WHERE ${inWindow}
           GROUP BY deployment ORDER BY requests DESC, deployment`,
          window,
        ),
        client.query<{
          tenant_id: string | null;
          key_id: string | null;
          name: string | null;
          requests: number;
          errors: number;
          cost_usd: number;
        }>(
          `SELECT per_key.*, ${keys}.name FROM (
             SELECT tenant_id, key_id, count(*)::int AS requests,
               count(*) FILTER (WHERE outcome = 'error')::int AS errors,
               coalesce(sum(cost_usd), 0)::float8 AS cost_usd
             FROM ${calls} WHERE ${inWindow}
             GROUP BY tenant_id, key_id
           ) per_key LEFT JOIN ${keys} ON ${keys}.id = per_key.key_id
           ORDER BY cost_usd DESC, requests DESC, key_id LIMIT $4`,
          [...window, maxKeys],
        ),
        client.query<{
          tenant_id: string | null;
          user_id: string | null;
          sessions: number;
          requests: number;
          errors: number;
          cost_usd: number;
        }>(
          `SELECT tenant_id, user_id, count(DISTINCT session_id)::int AS sessions, count(*)::int AS requests,
             count(*) FILTER (WHERE outcome = 'error')::int AS errors,
             coalesce(sum(cost_usd), 0)::float8 AS cost_usd
           FROM ${calls} WHERE ${inWindow}
           GROUP BY tenant_id, user_id
           ORDER BY cost_usd DESC, requests DESC, tenant_id, user_id LIMIT $4`,
          [...window, maxKeys],
        ),
        client.query<{ bucket: number; requests: number; errors: number }>(
          `SELECT floor(extract(epoch FROM started_at - $1::timestamptz) * 1000 / $4)::int AS bucket,
             count(*)::int AS requests,
             count(*) FILTER (WHERE outcome = 'error')::int AS errors
           FROM ${calls} WHERE ${inWindow}
           GROUP BY 1 ORDER BY 1`,
          [...window, bucketMs],
        ),
      ]);
      const bucketCount = Math.ceil((until.getTime() - since.getTime()) / bucketMs);
      const byBucket = new Map(perBucket.rows.map((row) => [Number(row.bucket), row]));
      return {
        deployments: perDeployment.rows.map((row) => {
          const requests = Number(row.requests);
          const errors = Number(row.errors);
          return {
            deployment: row.deployment,
            provider: row.provider,
            model: row.model,
            requests,
            errors,
            errorRate: requests === 0 ? 0 : errors / requests,
            p95LatencyMs: row.p95 === null ? null : Number(row.p95),
            costUsd: Number(row.cost_usd),
          };
        }),
        keys: perKey.rows.map((row) => ({
          tenantId: row.tenant_id,
          keyId: row.key_id,
          keyName: row.name,
          requests: Number(row.requests),
          errors: Number(row.errors),
          costUsd: Number(row.cost_usd),
        })),
        users: perUser.rows.map((row) => ({
          tenantId: row.tenant_id,
          userId: row.user_id,
          sessions: Number(row.sessions),
          requests: Number(row.requests),
          errors: Number(row.errors),
          costUsd: Number(row.cost_usd),
        })),
        series: Array.from({ length: bucketCount }, (_, index) => {
          const row = byBucket.get(index);
          return {
            at: new Date(since.getTime() + index * bucketMs),
            requests: Number(row?.requests ?? 0),
            errors: Number(row?.errors ?? 0),
          };
        }),
      };
    },
  };
}
