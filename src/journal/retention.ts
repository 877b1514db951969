/**
 * Retention: deletes what is old enough to go, in small batches (short transactions, no long
 * locks on a live database). Nothing prunes on its own; `keel prune` runs this.
 *
 * - **Runs** that ended before the cutoff go with everything that hangs off them (steps,
 *   payloads, streamed text, approvals, outcomes, feedback: `ON DELETE CASCADE`). Except a session's runs
 *   while the session is still in use: a run of a session with any run not ended, or ended after
 *   the cutoff, stays, since later messages of the session read its conversation from them.
 * - **Gateway call records** started before the cutoff, and **cached responses** past their
 *   expiry.
 *
 * Runs still queued, running or awaiting approval are never touched, however old.
 */
import { assertSchemaName, DEFAULT_SCHEMA } from './migrations.js';
import type { SqlClient } from './sql-client.js';
import { TERMINAL_SQL } from './sql-rows.js';

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

/** What one kind of row to prune is: its table, its key, and the query that finds candidates. */
interface Prunable {
  table: string;
  key: string;
  /** Selects the keys of the rows to go; `$1` is the cutoff when `usesCutoff`. */
  candidates: string;
  usesCutoff: boolean;
  /** Appended after the LIMIT of a deleting batch (row locks). */
  lock?: string;
  /** Deletion order (oldest first), before the LIMIT. */
  order?: string;
}

/** Creates the retention of one schema. */
export function createRetention({ client, schema = DEFAULT_SCHEMA }: RetentionOptions): Retention {
  assertSchemaName(schema);
  const kinds: Record<keyof PruneCounts, Prunable> = {
    // Ended before the cutoff, and not part of a session still in use since then.
    runs: {
      table: 'runs',
      key: 'id',
      candidates: `
        SELECT run.id FROM ${schema}.runs AS run
        WHERE run.ended_at < $1::timestamptz AND run.status IN ${TERMINAL_SQL}
          AND (run.session_id IS NULL OR NOT EXISTS (
            SELECT 1 FROM ${schema}.runs AS other
            WHERE other.tenant_id = run.tenant_id AND other.session_id = run.session_id
              AND (other.ended_at IS NULL OR other.ended_at >= $1::timestamptz)
          ))`,
      usesCutoff: true,
      order: 'ORDER BY run.ended_at',
      lock: 'FOR UPDATE OF run SKIP LOCKED',
    },
    gatewayCalls: {
      table: 'gateway_calls',
      key: 'id',
      candidates: `SELECT id FROM ${schema}.gateway_calls WHERE started_at < $1::timestamptz`,
      usesCutoff: true,
    },
    // Expired entries are never served; their age does not matter, only that they expired.
    cachedResponses: {
      table: 'response_cache',
      key: 'key',
      candidates: `SELECT key FROM ${schema}.response_cache WHERE expires_at < now()`,
      usesCutoff: false,
    },
  };

  /** Deletes batches of `kind` until one comes back short; returns how many rows went. */
  const prune = async (kind: Prunable, cutoff: string, batchSize: number): Promise<number> => {
    const parameters = kind.usesCutoff ? [cutoff, batchSize] : [batchSize];
    const statement = `
      WITH gone AS (
        DELETE FROM ${schema}.${kind.table} WHERE ${kind.key} IN (
          ${kind.candidates} ${kind.order ?? ''} LIMIT $${parameters.length} ${kind.lock ?? ''}
        ) RETURNING 1
      ) SELECT count(*)::int AS deleted FROM gone`;
    let total = 0;
    for (;;) {
      const deleted = (await client.query<{ deleted: number }>(statement, parameters)).rows[0]?.deleted ?? 0;
      total += deleted;
      if (deleted < batchSize) return total;
    }
  };

  const count = async (kind: Prunable, cutoff: string): Promise<number> =>
    (
      await client.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM (${kind.candidates}) AS candidates`,
        kind.usesCutoff ? [cutoff] : [],
      )
    ).rows[0]?.count ?? 0;

  return {
    async prune({ before, batchSize = 500 }) {
      const size = Math.max(1, Math.floor(batchSize));
      const cutoff = before.toISOString();
      return {
        runs: await prune(kinds.runs, cutoff, size),
        gatewayCalls: await prune(kinds.gatewayCalls, cutoff, size),
        cachedResponses: await prune(kinds.cachedResponses, cutoff, size),
      };
    },

    async count({ before }) {
      const cutoff = before.toISOString();
      return {
        runs: await count(kinds.runs, cutoff),
        gatewayCalls: await count(kinds.gatewayCalls, cutoff),
        cachedResponses: await count(kinds.cachedResponses, cutoff),
      };
    },
  };
}
