import type { Migration } from './migrations.js';

/**
 * Runtime controls and spend breakers (issue 10, builds 2 and 3).
 *
 * `controls`: one row per switch that is on (a tool, agent or gateway deployment disabled, an
 * agent or tenant paused); clearing a switch deletes its row, and the audit log keeps the
 * history. `tenant_id` `*` applies to every tenant. `agent` scopes a disabled tool to one agent;
 * `''` (not NULL) means every agent, so the primary key needs no expression index.
 *
 * `spend_buckets`: spend per minute per (scope, id), so a sliding window's spend is one index
 * range sum over at most window/1 min rows, and recording a call is one upsert. Rows older than
 * the longest window are pruned.
 */
export const controlsMigration: Migration = {
  version: 19,
  name: 'controls',
  up: (schema) => `
    CREATE TABLE ${schema}.controls (
      tenant_id text NOT NULL,
      kind text NOT NULL CHECK (kind IN
        ('tool_disabled', 'agent_disabled', 'deployment_disabled', 'agent_paused', 'tenant_paused')),
      target text NOT NULL,
      agent text NOT NULL DEFAULT '',
      reason text NOT NULL DEFAULT '',
      set_by text NOT NULL,
      set_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, kind, target, agent)
    );

    CREATE TABLE ${schema}.spend_buckets (
      scope text NOT NULL CHECK (scope IN ('agent', 'tenant')),
      scope_id text NOT NULL,
      minute timestamptz NOT NULL,
      cost_usd numeric NOT NULL DEFAULT 0,
      PRIMARY KEY (scope, scope_id, minute)
    );
    CREATE INDEX spend_buckets_minute ON ${schema}.spend_buckets (minute);
  `,
};
