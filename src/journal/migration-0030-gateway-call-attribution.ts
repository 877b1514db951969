import type { Migration } from './migrations.js';

/**
 * Who a gateway call was made for (issue 16, per-developer spend): `gateway_calls.user_id` is the
 * end user (a developer behind a coding agent) and `session_id` the session the call belongs to,
 * as the gateway's HTTP edge attributed them (`http/call-attribution.ts`); null when the call
 * named none, and for every row written before. Nullable columns without default: adding them
 * rewrites nothing. The partial index serves a user's calls (erasure, a developer's history)
 * without growing for calls that name no user.
 */
export const gatewayCallAttributionMigration: Migration = {
  version: 30,
  name: 'gateway_call_attribution',
  up: (schema) => `
    ALTER TABLE ${schema}.gateway_calls ADD COLUMN user_id text;
    ALTER TABLE ${schema}.gateway_calls ADD COLUMN session_id text;
    CREATE INDEX gateway_calls_tenant_user ON ${schema}.gateway_calls (tenant_id, user_id, started_at)
      WHERE user_id IS NOT NULL;
  `,
};
