import { KeelError } from '../errors/keel-error.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { systemClock, type Clock } from '../util/clock.js';
import { toDate } from '../journal/sql-rows.js';
import { fromStorableJson, toStorableJson } from '../journal/storable-json.js';

/** What the caller decided about a finished run's result. Until then the run is speculative. */
export interface RunOutcome {
  runId: string;
  tenantId: string;
  status: 'committed' | 'rejected';
  value: unknown;
  decidedAt: Date;
  /** Id of the API key that recorded it. */
  decidedByKey: string;
}

/** Outcomes of runs, per tenant. */
export interface RunOutcomes {
  /** The run's outcome, or undefined while it is speculative (or not this tenant's). */
  get(runId: string, options: { tenantId: string }): Promise<RunOutcome | undefined>;
  /**
   * Records an outcome. Outcomes are final: repeating the same status and value returns the
   * recorded outcome (a retried request is harmless); a different one throws
   * `outcome_already_recorded` (409). The caller checks that the run exists and has ended.
   */
  record(outcome: Omit<RunOutcome, 'decidedAt'>): Promise<RunOutcome>;
}

/** Options of {@link createRunOutcomes}. */
export interface RunOutcomesOptions {
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  clock?: Clock;
}

interface OutcomeRow {
  run_id: string;
  tenant_id: string;
  status: 'committed' | 'rejected';
  value: unknown;
  decided_at: Date | string;
  decided_by_key: string;
  same?: boolean;
}

/**
 * Run outcomes over SQL, in the `run_outcomes` table (migration 13). A row is deleted with its
 * run.
 */
export function createRunOutcomes({
  client,
  schema = DEFAULT_SCHEMA,
  clock = systemClock,
}: RunOutcomesOptions): RunOutcomes {
  assertSchemaName(schema);
  const table = `${schema}.run_outcomes`;

  return {
    async get(runId, { tenantId }) {
      const result = await client.query<OutcomeRow>(
        `SELECT * FROM ${table} WHERE run_id = $1 AND tenant_id = $2`,
        [runId, tenantId],
      );
      const row = result.rows[0];
      return row ? toOutcome(row) : undefined;
    },

    async record({ runId, tenantId, status, value, decidedByKey }) {
      const json = value === undefined ? null : toStorableJson(value);
      const inserted = await client.query<OutcomeRow>(
        `INSERT INTO ${table} (run_id, tenant_id, status, value, decided_at, decided_by_key)
         VALUES ($1, $2, $3, $4::jsonb, $5::timestamptz, $6)
         ON CONFLICT (run_id) DO NOTHING
         RETURNING *`,
        [runId, tenantId, status, json, new Date(clock.now()).toISOString(), decidedByKey],
      );
      const row = inserted.rows[0];
      if (row) return toOutcome(row);
      const existing = await client.query<OutcomeRow>(
        `SELECT *, (status = $3 AND value IS NOT DISTINCT FROM $4::jsonb) AS same
         FROM ${table} WHERE run_id = $1 AND tenant_id = $2`,
        [runId, tenantId, status, json],
      );
      const current = existing.rows[0];
      if (current?.same) return toOutcome(current);
      throw new KeelError({
        code: 'outcome_already_recorded',
        message: `Run ${runId} already has an outcome${current ? ` (${current.status})` : ''}; outcomes are final.`,
        fault: 'caller',
        details: { runId },
      });
    },
  };
}

function toOutcome(row: OutcomeRow): RunOutcome {
  return {
    runId: row.run_id,
    tenantId: row.tenant_id,
    status: row.status,
    value: fromStorableJson(row.value) ?? null,
    decidedAt: toDate(row.decided_at),
    decidedByKey: row.decided_by_key,
  };
}
