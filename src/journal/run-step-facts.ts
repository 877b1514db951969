/**
 * A run's step facts (issue 9, analytics): what the analytics summary and compare need of a run's
 * steps, aggregated once when the run ends and kept in columns of its `runs` row (migration 16),
 * so that a summary over 100,000 runs reads 100,000 rows rather than their million steps.
 *
 * - `model_calls`: its model steps (the loop count), started ones included.
 * - `tool_calls`: `{name: [calls, errors]}` over its tool steps that ended (completed or failed);
 *   null when none did.
 * - `crash_reexecutions` / `crash_reexecution_usd`: executions of its model steps abandoned by a
 *   crash (`prior_executions` entries with `end: "abandoned"`), each priced at the step's cost.
 * - `retried_attempts` / `retried_attempts_usd`: the other calls of a model step that did not
 *   answer (`attempt − 1 − abandoned`, never below 0), priced the same way.
 * - `first_model`: the name (`provider:model`) of its first model step, null without one.
 *
 * All null until the run ends. Written with the run's end: in `finishRun`'s own statement, or in
 * the transaction of the cancel of a run that holds no worker, so a run's facts exist exactly when it has ended; after
 * that its steps never change (every step write needs the run's lease on a running run).
 */

/** The fact columns of `runs`, in the order {@link stepFactsByRunSql} returns them. */
export const RUN_STEP_FACT_COLUMNS = [
  'model_calls',
  'tool_calls',
  'crash_reexecutions',
  'crash_reexecution_usd',
  'retried_attempts',
  'retried_attempts_usd',
  'first_model',
] as const;

/**
 * `true` when the facts of the run `alias` are written (else: read its steps). Only the statement
 * that ends a run writes them, and an ended run never runs again, so this means "ended" too; the
 * partial index `runs_without_step_facts` finds the others (in flight, few) without a scan.
 */
export function hasStepFactsSql(alias: string): string {
  return `(${alias}.model_calls IS NOT NULL)`;
}

/**
 * The executions of a model step abandoned by a crash, an expression over a steps row `alias`
 * (0 for the common step that ran once).
 */
export function abandonedExecutionsSql(alias: string): string {
  return `coalesce(jsonb_array_length(jsonb_path_query_array(${alias}.prior_executions, '$[*] ? (@.end == "abandoned")')), 0)`;
}

/**
 * One row per run that has model or tool steps matching `where` (a condition over the steps
 * table, e.g. `run_id = $1`): `run_id` and the fact columns. One pass over the steps, grouped by
 * run, kind and name, then by run. A run without such steps returns no row (its facts are zeros).
 */
export function stepFactsByRunSql(schema: string, where: string): string {
  return `
  SELECT run_id,
    coalesce(sum(steps) FILTER (WHERE kind = 'model'), 0)::int AS model_calls,
    jsonb_object_agg(name, jsonb_build_array(calls, errors)) FILTER (WHERE kind = 'tool' AND calls > 0) AS tool_calls,
    coalesce(sum(abandoned) FILTER (WHERE kind = 'model'), 0)::int AS crash_reexecutions,
    coalesce(sum(abandoned_usd) FILTER (WHERE kind = 'model'), 0)::float8 AS crash_reexecution_usd,
    coalesce(sum(retried) FILTER (WHERE kind = 'model'), 0)::int AS retried_attempts,
    coalesce(sum(retried_usd) FILTER (WHERE kind = 'model'), 0)::float8 AS retried_attempts_usd,
    (array_agg(name ORDER BY first_seq) FILTER (WHERE kind = 'model'))[1] AS first_model
  FROM (
    SELECT run_id, kind, name, count(*) AS steps, min(seq) AS first_seq,
      count(*) FILTER (WHERE status <> 'started')::int AS calls,
      count(*) FILTER (WHERE status = 'failed')::int AS errors,
      sum(abandoned) AS abandoned,
      sum(cost * abandoned) AS abandoned_usd,
      sum(greatest(attempt - 1 - abandoned, 0)) AS retried,
      sum(cost * greatest(attempt - 1 - abandoned, 0)) AS retried_usd
    FROM (
      SELECT st.run_id, st.kind, st.name, st.seq, st.status, st.attempt,
        coalesce(st.cost_usd, 0)::float8 AS cost, ${abandonedExecutionsSql('st')} AS abandoned
      FROM ${schema}.steps st
      WHERE st.kind IN ('model', 'tool') AND ${where}
    ) step
    GROUP BY run_id, kind, name
  ) per_name
  GROUP BY run_id`;
}

/**
 * `SET` assignments writing the facts of `facts` (a row of {@link stepFactsByRunSql}, or nulls
 * when the run has no step: zeros then) into the runs row being updated.
 */
export function setStepFactsSql(facts: string): string {
  return `model_calls = coalesce(${facts}.model_calls, 0),
    tool_calls = ${facts}.tool_calls,
    crash_reexecutions = coalesce(${facts}.crash_reexecutions, 0),
    crash_reexecution_usd = coalesce(${facts}.crash_reexecution_usd, 0),
    retried_attempts = coalesce(${facts}.retried_attempts, 0),
    retried_attempts_usd = coalesce(${facts}.retried_attempts_usd, 0),
    first_model = ${facts}.first_model`;
}

/**
 * Writes the facts of the run `$1` from its steps (the cancel of a run that holds no worker, in
 * the transaction that ends it). `finishRun` folds the same `FROM` into its own update.
 */
export function writeStepFactsSql(schema: string): string {
  return `UPDATE ${schema}.runs AS run SET ${setStepFactsSql('facts')}
    FROM ${stepFactsOfRunFromSql(schema, '$1')}
    WHERE run.id = $1`;
}

/**
 * A `FROM` list yielding exactly one row `facts` for the run `runId` (a parameter): its facts, or
 * nulls when it has no model or tool step.
 */
export function stepFactsOfRunFromSql(schema: string, runId: string): string {
  return `(SELECT 1) AS one LEFT JOIN (${stepFactsByRunSql(schema, `st.run_id = ${runId}`)}) AS facts ON true`;
}
