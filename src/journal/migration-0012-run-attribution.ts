import type { Migration } from './migrations.js';

/**
 * Who and what started a run, and which prompt answered it (issue 9, attribution).
 *
 * - `user_id`: the end user the run acts for, as the caller names them (null when not given).
 * - `trigger`: what started it (`user_explicit`, `cli`, `api`, `eval`, `schedule`...).
 * - `created_by`: the API key that submitted it over HTTP (null from the CLI or `runAgent`).
 * - `prompt_version`: `code:<sha256 prefix>` of the agent's instructions and tool specs.
 *
 * Nullable columns without defaults: adding them rewrites no row, and runs created before read
 * with nulls. One index, partial on runs that name a user, serves "this user's runs, newest
 * first" per tenant; runs without a user (most CLI and API runs) pay no index write for it.
 * A filter on `trigger` alone rides the tenant's existing `created_at` order.
 */
export const runAttributionMigration: Migration = {
  version: 12,
  name: 'run_attribution',
  up: (schema) => `
    ALTER TABLE ${schema}.runs ADD COLUMN user_id text;
    ALTER TABLE ${schema}.runs ADD COLUMN trigger text;
    ALTER TABLE ${schema}.runs ADD COLUMN created_by text;
    ALTER TABLE ${schema}.runs ADD COLUMN prompt_version text;
    CREATE INDEX runs_tenant_user_created ON ${schema}.runs (tenant_id, user_id, created_at DESC, id DESC)
      WHERE user_id IS NOT NULL;
  `,
};
