import type { Migration } from './migrations.js';

/**
 * Gateway state: rate-limit windows, shared response cache, call records. Design notes:
 * - `rate_windows` holds ONE row per limited scope (not one per scope and minute): the current
 *   one-minute window's counters plus the previous window's totals, which the sliding-window
 *   estimate weighs. A reserve locks and rewrites that row in place (rolling the window when
 *   the minute changed), so the table stays as small as the set of scopes in use, needs no
 *   insert per minute, and no indexed column ever changes: with fillfactor 50 every update can
 *   be HOT. Rows idle for an hour are deleted now and then by the limiter.
 * - `response_cache` is looked up by key only; `expires_at` is indexed for the bounded cleanup.
 * - `gateway_calls` is append-only (calls made outside runs; calls inside a run are journal
 *   steps). Listed per tenant newest first, and pruned by age.
 */
export const gatewayMigration: Migration = {
  version: 2,
  name: 'gateway_limits_cache_calls',
  up: (schema) => `
    CREATE TABLE ${schema}.rate_windows (
      scope text PRIMARY KEY,
      window_start timestamptz NOT NULL,
      requests integer NOT NULL DEFAULT 0,
      tokens bigint NOT NULL DEFAULT 0,
      previous_requests integer NOT NULL DEFAULT 0,
      previous_tokens bigint NOT NULL DEFAULT 0
    ) WITH (fillfactor = 50);

    CREATE TABLE ${schema}.response_cache (
      key text PRIMARY KEY,
      response jsonb NOT NULL,
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX response_cache_expires_at ON ${schema}.response_cache (expires_at);

    CREATE TABLE ${schema}.gateway_calls (
      id text PRIMARY KEY,
      tenant_id text,
      key_id text,
      run_id text,
      step_seq integer,
      endpoint text NOT NULL,
      route text NOT NULL,
      deployment text NOT NULL,
      provider text NOT NULL,
      model text NOT NULL,
      attempts integer NOT NULL,
      cached boolean NOT NULL,
      input_tokens integer,
      output_tokens integer,
      cached_input_tokens integer,
      reasoning_tokens integer,
      cost_usd numeric,
      latency_ms integer NOT NULL,
      overhead_ms integer NOT NULL,
      ttft_ms integer,
      outcome text NOT NULL CHECK (outcome IN ('ok', 'error', 'cancelled')),
      error jsonb,
      started_at timestamptz NOT NULL
    );
    CREATE INDEX gateway_calls_tenant_started ON ${schema}.gateway_calls (tenant_id, started_at DESC);
    CREATE INDEX gateway_calls_started ON ${schema}.gateway_calls (started_at);
  `,
};
