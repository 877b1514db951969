import type { Migration } from './migrations.js';

/**
 * Smaller storage (issue 14, part 3; docs/decisions/2026-12-06-storage-footprint.md). A run's row
 * is written three times (created, claimed, finished); every write that is not a HOT update adds
 * an entry to each index the row qualifies for, and `runs` has a dozen indexes. Three changes:
 *
 * - `runs_runnable` is partial on `ended_at IS NULL` instead of on the live statuses. The claim
 *   (queued -> running) then changes no indexed column (it sets `status`, the lease, `fence`,
 *   `attempts`, `started_at`: none in an index key or predicate any more), so it is a HOT update:
 *   no new entry in any of the twelve indexes, and the old row version is pruned in its page
 *   (fillfactor 80 leaves the room). A run has `ended_at` exactly when its status is terminal
 *   (finishRun and cancelRun set both in one statement); the backfill below makes that hold for
 *   any older row. Queries that want the index add `ended_at IS NULL` to their status test
 *   (the claim, the metrics gauges).
 * - `runs_tenant_stop_reason_created` covers only the stop reasons an operator hunts for: every
 *   one but `completed`. `completed` is most runs, so a filter on it finds its page in the
 *   tenant's `created_at` order (`runs_tenant_created`) as fast as from an index of its own, and
 *   the finish of a completed run pays no entry here.
 * - The `created_at` indexes of the run list are ascending (they were `created_at DESC, id DESC`).
 *   A btree scans both ways, so `ORDER BY created_at DESC, id DESC` (and its cursor) reads them
 *   backwards as fast. But new runs have the newest `created_at`: in a descending index each one
 *   lands in the leftmost leaf, whose splits leave both halves half empty, while in an ascending
 *   one it lands in the rightmost leaf, which Postgres splits leaving it full (fillfactor 90).
 *   Same entries, about half the pages.
 *
 * - No DDL, but new rows only: a payload's `id` (and its step's `output_ref`) is the step's seq,
 *   not `<run id>:<seq>`; the row's `run_id` already says the rest. `outputRef` still reads
 *   `<run id>:<seq>` (sql-rows.ts), and rows written before keep their long key and join as before.
 *
 * Rebuilding the indexes locks `runs` against writes while it runs (seconds per million runs).
 */
export const storageFootprintMigration: Migration = {
  version: 27,
  name: 'storage_footprint',
  up: (schema) => `
    UPDATE ${schema}.runs SET ended_at = updated_at
      WHERE ended_at IS NULL AND status IN ('completed', 'failed', 'cancelled');

    DROP INDEX ${schema}.runs_runnable;
    CREATE INDEX runs_runnable ON ${schema}.runs (created_at, id) WHERE ended_at IS NULL;

    DROP INDEX ${schema}.runs_tenant_stop_reason_created;
    CREATE INDEX runs_tenant_stop_reason_created ON ${schema}.runs (tenant_id, stop_reason, created_at, id)
      WHERE stop_reason IS NOT NULL AND stop_reason <> 'completed';

    DROP INDEX ${schema}.runs_tenant_created;
    CREATE INDEX runs_tenant_created ON ${schema}.runs (tenant_id, created_at, id);
    DROP INDEX ${schema}.runs_tenant_agent_created;
    CREATE INDEX runs_tenant_agent_created ON ${schema}.runs (tenant_id, agent, created_at, id);
    DROP INDEX ${schema}.runs_session_created;
    CREATE INDEX runs_session_created ON ${schema}.runs (session_id, created_at, id) WHERE session_id IS NOT NULL;
    DROP INDEX ${schema}.runs_tenant_user_created;
    CREATE INDEX runs_tenant_user_created ON ${schema}.runs (tenant_id, user_id, created_at, id)
      WHERE user_id IS NOT NULL;
    DROP INDEX ${schema}.runs_tenant_prompt_version_created;
    CREATE INDEX runs_tenant_prompt_version_created ON ${schema}.runs (tenant_id, prompt_version, created_at, id)
      WHERE prompt_version IS NOT NULL;
  `,
};
