import type { Migration } from './migrations.js';

/**
 * The console's run list (issue 11): filters by stop reason and prompt version, and a search box
 * that finds a run by its id, its OpenTelemetry trace id or its user, each an index lookup however
 * many runs a tenant has.
 *
 * - `runs_tenant_stop_reason_created` and `runs_tenant_prompt_version_created` serve "this stop
 *   reason / prompt version, newest first": the rare values an operator hunts for (`max_steps`, an
 *   old prompt) would otherwise walk the tenant's whole `created_at` order. Partial on non-null
 *   values: a running run (no stop reason yet) pays no index write for the first.
 * - `runs_tenant_trace_id` indexes the run's trace id as the exporter computes it (span-ids.ts:
 *   the first 16 bytes of sha256(run id), hex), so a trace id pasted from a tracing backend finds
 *   its run. The id's UTF-8 bytes come from a cast to bytea (immutable, so an index may use it;
 *   `convert_to` is not) with backslashes doubled, the one character bytea input would read as an
 *   escape: a caller-chosen id such as `a\x41` hashes as its own bytes.
 */
export const runSearchMigration: Migration = {
  version: 23,
  name: 'run_search',
  up: (schema) => `
    CREATE INDEX runs_tenant_stop_reason_created
      ON ${schema}.runs (tenant_id, stop_reason, created_at DESC, id DESC) WHERE stop_reason IS NOT NULL;
    CREATE INDEX runs_tenant_prompt_version_created
      ON ${schema}.runs (tenant_id, prompt_version, created_at DESC, id DESC) WHERE prompt_version IS NOT NULL;
    CREATE INDEX runs_tenant_trace_id
      ON ${schema}.runs (tenant_id, (${TRACE_ID_SQL}));
  `,
};

/** A run's trace id in SQL, exactly as the index above computes it (a query must repeat it to use it). */
export const TRACE_ID_SQL = `encode(substring(sha256(replace(id, '\\', '\\\\')::bytea) from 1 for 16), 'hex')`;
