import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';

/** How far a run's step spans were exported (see migration 15). */
export interface OtelExportMark {
  runId: string;
  /** Every finished step with a seq at or below this was exported (-1: none known). */
  seq: number;
  /** Finished steps above `seq` that were exported too. */
  above: readonly number[];
}

/**
 * The export marks of runs (columns of `runs`, migration 15): read by the worker that resumes a
 * run, to re-emit the spans of steps whose export was lost with the process that committed
 * them; advanced after each accepted export, in one statement per batch.
 */
export interface OtelExportMarks {
  /** The run's mark (`seq` -1 and no `above` when nothing was recorded). */
  read(runId: string): Promise<OtelExportMark>;
  /**
   * Merges `marks` into the stored ones: the mark only grows, `above` is the union above it. A
   * run that no longer exists is skipped.
   */
  advance(marks: readonly OtelExportMark[]): Promise<void>;
}

/** The export marks over the journal's database. */
export function createSqlOtelExportMarks({
  client,
  schema = DEFAULT_SCHEMA,
}: {
  client: SqlClient;
  schema?: string;
}): OtelExportMarks {
  assertSchemaName(schema);
  const readSql = `SELECT otel_exported_seq, otel_exported_above FROM ${schema}.runs WHERE id = $1`;
  // One statement per batch, whatever its size: the batch travels as one jsonb array.
  const advanceSql = `
    UPDATE ${schema}.runs AS run
    SET otel_exported_seq = GREATEST(COALESCE(run.otel_exported_seq, -1), batch.seq),
        otel_exported_above = ARRAY(
          SELECT DISTINCT above FROM unnest(COALESCE(run.otel_exported_above, '{}') || batch.above) AS above
          WHERE above > GREATEST(COALESCE(run.otel_exported_seq, -1), batch.seq) ORDER BY above)
    FROM jsonb_to_recordset($1::jsonb) AS batch (id text, seq integer, above integer[])
    WHERE run.id = batch.id`;
  return {
    async read(runId) {
      const result = await client.query<{
        otel_exported_seq: number | null;
        otel_exported_above: number[] | null;
      }>(readSql, [runId]);
      const row = result.rows[0];
      return {
        runId,
        seq: row?.otel_exported_seq ?? -1,
        above: (row?.otel_exported_above ?? []).map(Number),
      };
    },
    async advance(marks) {
      if (marks.length === 0) return;
      await client.query(advanceSql, [
        JSON.stringify(marks.map((mark) => ({ id: mark.runId, seq: mark.seq, above: [...mark.above] }))),
      ]);
    },
  };
}
