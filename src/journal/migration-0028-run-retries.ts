import type { Migration } from './migrations.js';

/**
 * Dead-letter retries (issue 14): a run that ended with stop reason `error` (its agent threw, or
 * its worker died on every claim until `too_many_attempts`) can be retried as a new run, linked
 * to it by `retry_of`.
 *
 * - `runs_retry_of` is unique: a dead run has at most one retry (a second retry is refused,
 *   `run_already_retried`; a retry that dies too is retried in turn, so retries form a chain).
 *   It also serves "which run retried this one" (`retried_by` in the run view), an index lookup.
 *   Partial on non-null values: a run that is no retry pays no index write.
 * - No index for the dead-run listing: "dead" is `stop_reason = 'error'`, which
 *   `runs_tenant_stop_reason_created` (migration 23) already serves newest first.
 */
export const runRetriesMigration: Migration = {
  version: 28,
  name: 'run_retries',
  up: (schema) => `
    ALTER TABLE ${schema}.runs ADD COLUMN retry_of text;
    CREATE UNIQUE INDEX runs_retry_of ON ${schema}.runs (retry_of) WHERE retry_of IS NOT NULL;
  `,
};
