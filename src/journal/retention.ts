/**
 * Retention: deletes what is old enough to go, in small batches (short transactions, no long
 * locks on a live database). Nothing prunes on its own; `keel prune` runs this.
 *
 * - **Runs** that ended before the cutoff go with everything that hangs off them (steps,
 *   payloads, streamed text, approvals, outcomes: `ON DELETE CASCADE`). Except a session's runs
 *   while the session is still in use: a run of a session with any run not ended, or ended after
 *   the cutoff, stays, since later messages of the session read its conversation from them.
 * - **Gateway call records** started before the cutoff, and **cached responses** past their
 *   expiry.
 *
 * Runs still queued, running or awaiting approval are never touched, however old.
 */
import { TERMINAL_STATUSES } from './types.js';
import { assertSchemaName, DEFAULT_SCHEMA } from './migrations.js';
import type { SqlClient } from './sql-client.js';

/** What a prune deleted, or (dry run) would delete. */
export interface PruneCounts {
  runs: number;
  gatewayCalls: number;
  cachedResponses: number;
}

/** Options of {@link createRetention}. */
export interface RetentionOptions {
  client: SqlClient;
  schema?: string;
}

/** Prunes a Keel database; see the file comment. */
export interface Retention {
  /** Deletes up to `batchSize` of each kind per statement, until nothing is left to delete. */
  prune(options: { before: Date; batchSize?: number }): Promise<PruneCounts>;
  /** Counts what `prune` would delete, deleting nothing. */
  count(options: { before: Date }): Promise<PruneCounts>;
}

/** Creates the retention of one schema. */
export function createRetention({ client, schema = DEFAULT_SCHEMA }: RetentionOptions): Retention {
  assertSchemaName(schema);
  const terminal = TERMINAL_STATUSES.map((status) => `'${status}'`).join(', ');
  // Ended before $1, and not part of a session still in use since then.
  const prunableRuns = `
    SELECT run.id FROM ${schema}.runs AS run
    WHERE run.ended_at < $1::timestamptz AND run.status IN (${terminal})
      AND (run.session_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM ${schema}.runs AS other
        WHERE other.tenant_id = run.tenant_id AND other.session_id = run.session_id
          AND (other.ended_at IS NULL OR other.ended_at >= $1::timestamptz)
      ))`;
  const countOf = async (sql: string, parameters: unknown[]) =>
    (await client.query<{ count: number }>(sql, parameters)).rows[0]?.count ?? 0;

  /**
   * Runs `statement` (deleting at most `batchSize` rows, answering how many) until a batch
   * comes back short.
   */
  const drain = async (statement: string, parameters: unknown[], batchSize: number): Promise<number> => {
    let total = 0;
    for (;;) {
      const deleted = (await client.query<{ deleted: number }>(statement, parameters)).rows[0]?.deleted ?? 0;
      total += deleted;
      if (deleted < batchSize) return total;
    }
  };

  return {
    async prune({ before, batchSize = 500 }) {
      const size = Math.max(1, Math.floor(batchSize));
      const cutoff = before.toISOString();
      const runs = await drain(
        `WITH gone AS (
           DELETE FROM ${schema}.runs WHERE id IN (
             ${prunableRuns} ORDER BY run.ended_at LIMIT $2 FOR UPDATE OF run SKIP LOCKED
           ) RETURNING 1
         ) SELECT count(*)::int AS deleted FROM gone`,
        [cutoff, size],
        size,
      );
      const gatewayCalls = await drain(
        `WITH gone AS (
           DELETE FROM ${schema}.gateway_calls WHERE id IN (
             SELECT id FROM ${schema}.gateway_calls WHERE started_at < $1::timestamptz LIMIT $2
           ) RETURNING 1
         ) SELECT count(*)::int AS deleted FROM gone`,
        [cutoff, size],
        size,
      );
      // Expired entries are never served; their age does not matter, only that they expired.
      const cachedResponses = await drain(
        `WITH gone AS (
           DELETE FROM ${schema}.response_cache WHERE key IN (
             SELECT key FROM ${schema}.response_cache WHERE expires_at < now() LIMIT $1
           ) RETURNING 1
         ) SELECT count(*)::int AS deleted FROM gone`,
        [size],
        size,
      );
      return { runs, gatewayCalls, cachedResponses };
    },

    async count({ before }) {
      const cutoff = before.toISOString();
      return {
        runs: await countOf(`SELECT count(*)::int AS count FROM (${prunableRuns}) AS prunable`, [cutoff]),
        gatewayCalls: await countOf(
          `SELECT count(*)::int AS count FROM ${schema}.gateway_calls WHERE started_at < $1::timestamptz`,
          [cutoff],
        ),
        cachedResponses: await countOf(
          `SELECT count(*)::int AS count FROM ${schema}.response_cache WHERE expires_at < now()`,
          [],
        ),
      };
    },
  };
}
