import { UserRunsLiveError } from '../errors/governance-errors.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient, SqlExecutor } from '../journal/sql-client.js';
import { appendAudit } from '../journal/audit-log.js';

/** How many rows an erase removed, per kind (what the audit row keeps: counts, never data). */
export interface ErasureCounts {
  runs: number;
  /** Sessions the erased runs belonged to (a session is its runs: none of it is left). */
  sessions: number;
  steps: number;
  /** Step outputs: in their step row (small ones, since migration 31) or in `payloads`. */
  payloads: number;
  text_deltas: number;
  approvals: number;
  outcomes: number;
  /** Feedback on the erased runs, and feedback the user gave on other runs. */
  feedback: number;
  /** Gateway call records of the erased runs, and the gateway calls attributed to the user. */
  gateway_calls: number;
}

/** Erases an end user's data in a tenant (`keel erase --user`, `DELETE /v1/users/{id}/data`). */
export interface UserErasure {
  /**
   * Deletes, in one transaction with its `user.erase` audit row: the user's runs (`runs.user_id`)
   * and the other runs of their sessions that name no user, with everything stored under those
   * runs (steps, payloads, text deltas, approvals, outcomes, feedback, gateway call records), the
   * gateway calls attributed to the user (`gateway_calls.user_id`), and the feedback the user gave
   * on any run. Refuses with `user_runs_running` (nothing deleted)
   * while a worker executes one of those runs. Erasing a user with no data deletes nothing and
   * is still audited (the request was made).
   */
  erase(input: { tenantId: string; userId: string; actor: string }): Promise<ErasureCounts>;
}

/** Options of {@link createUserErasure}. */
export interface UserErasureOptions {
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
}

/**
 * The tables that hold rows under a run, with their cascade from `runs` (or none). Payloads are
 * counted as the steps with an output (`output_ref`): a small one is in its step row.
 */
const RUN_TABLES = [
  ['steps', 'steps'],
  ['payloads', 'steps', 'output_ref IS NOT NULL'],
  ['text_deltas', 'text_deltas'],
  ['approvals', 'approvals'],
  ['outcomes', 'run_outcomes'],
  ['feedback', 'run_feedback'],
  ['gateway_calls', 'gateway_calls'],
] as const;

/** User erasure over SQL. */
export function createUserErasure({ client, schema = DEFAULT_SCHEMA }: UserErasureOptions): UserErasure {
  assertSchemaName(schema);
  const runs = `${schema}.runs`;
  return {
    erase: ({ tenantId, userId, actor }) =>
      client.transaction(async (tx) => {
        const targets = await lockRuns(tx, runs, tenantId, userId);
        const running = targets.filter((run) => run.status === 'running').map((run) => run.id);
        if (running.length > 0) throw new UserRunsLiveError(userId, running);
        const ids = targets.map((run) => run.id);
        const counts = await countUnder(tx, schema, ids);
        // Gateway call records reference their run by id only (no foreign key): deleted by hand,
        // with the gateway calls attributed to the user outside those runs (a developer's calls).
        await tx.query(`DELETE FROM ${schema}.gateway_calls WHERE run_id = ANY($1::text[])`, [ids]);
        const attributed = await tx.query(
          `DELETE FROM ${schema}.gateway_calls WHERE tenant_id = $1 AND user_id = $2`,
          [tenantId, userId],
        );
        const givenElsewhere = await tx.query(
          `DELETE FROM ${schema}.run_feedback WHERE tenant_id = $1 AND user_id = $2 AND NOT (run_id = ANY($3::text[]))`,
          [tenantId, userId, ids],
        );
        // Steps, payloads, text deltas, approvals, outcomes and feedback go with their run (cascade).
        await tx.query(`DELETE FROM ${runs} WHERE id = ANY($1::text[])`, [ids]);
        const result: ErasureCounts = {
          ...counts,
          runs: ids.length,
          sessions: new Set(targets.flatMap((run) => (run.session_id === null ? [] : [run.session_id]))).size,
          feedback: counts.feedback + givenElsewhere.rowCount,
          gateway_calls: counts.gateway_calls + attributed.rowCount,
        };
        await appendAudit(
          tx,
          { tenantId, actor, action: 'user.erase', target: `user:${userId}`, details: result },
          { schema },
        );
        return result;
      }),
  };
}

interface TargetRun {
  id: string;
  status: string;
  session_id: string | null;
}

/**
 * The runs to erase, locked (a worker's claim waits, then finds them gone): the user's, and the
 * runs of their sessions that name no user (turns of the same conversation). A run of the
 * session attributed to another user is that user's data and stays.
 */
async function lockRuns(
  tx: SqlExecutor,
  runs: string,
  tenantId: string,
  userId: string,
): Promise<TargetRun[]> {
  const result = await tx.query<TargetRun>(
    `SELECT id, status, session_id FROM ${runs}
     WHERE tenant_id = $1 AND (
       user_id = $2
       OR (user_id IS NULL AND session_id IN (
         SELECT session_id FROM ${runs} WHERE tenant_id = $1 AND user_id = $2 AND session_id IS NOT NULL))
     )
     ORDER BY id
     FOR UPDATE`,
    [tenantId, userId],
  );
  return result.rows;
}

async function countUnder(
  tx: SqlExecutor,
  schema: string,
  ids: readonly string[],
): Promise<Omit<ErasureCounts, 'runs' | 'sessions'>> {
  const selects = RUN_TABLES.map(
    ([name, table, condition]: readonly [string, string, string?]) =>
      `(SELECT count(*) FROM ${schema}.${table} WHERE run_id = ANY($1::text[])` +
      `${condition === undefined ? '' : ` AND ${condition}`}) AS ${name}`,
  );
  const row = (await tx.query<Record<string, number | string>>(`SELECT ${selects.join(', ')}`, [ids]))
    .rows[0]!;
  const count = (name: (typeof RUN_TABLES)[number][0]) => Number(row[name]);
  return {
    steps: count('steps'),
    payloads: count('payloads'),
    text_deltas: count('text_deltas'),
    approvals: count('approvals'),
    outcomes: count('outcomes'),
    feedback: count('feedback'),
    gateway_calls: count('gateway_calls'),
  };
}
