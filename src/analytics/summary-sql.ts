/**
 * The SQL of the analytics summary: one statement computes every figure of every group in the
 * database (a single pass over the window's runs and their steps), a second reads the gateway's
 * calls made outside runs. Only one row per group comes back. Plain Postgres (CTEs, FILTER,
 * percentile_cont, jsonb aggregates), so it runs the same on PGlite and on Postgres.
 */
import type { GroupBy } from './analytics-query.js';

/** The statuses of a run that ended. */
export const ENDED_STATUSES_SQL = `('completed', 'failed', 'cancelled')`;

/**
 * The loop histogram's buckets, by a run's count of model steps; every bucket is always present,
 * in this order, so a chart's axis is stable.
 */
export const LOOP_BUCKETS: ReadonlyArray<{ bucket: string; min: number; max: number | null }> = [
  { bucket: '0', min: 0, max: 0 },
  { bucket: '1', min: 1, max: 1 },
  { bucket: '2', min: 2, max: 2 },
  { bucket: '3', min: 3, max: 3 },
  { bucket: '4', min: 4, max: 4 },
  { bucket: '5', min: 5, max: 5 },
  { bucket: '6-10', min: 6, max: 10 },
  { bucket: '11-20', min: 11, max: 20 },
  { bucket: '21-50', min: 21, max: 50 },
  { bucket: '51+', min: 51, max: null },
];

/** `'bucket', count of runs in it, ...` for jsonb_build_object over `m.model_steps` (null: 0). */
const loopBuckets = LOOP_BUCKETS.map(({ bucket, min, max }) => {
  const steps = 'coalesce(m.model_steps, 0)';
  const test = max === null ? `${steps} >= ${min}` : `${steps} BETWEEN ${min} AND ${max}`;
  return `'${bucket}', count(*) FILTER (WHERE ${test})`;
}).join(', ');

/**
 * A run's group key as jsonb, a missing one (runs without a user...) as jsonb `null` rather than
 * SQL NULL, so that it is a key like any other and joins by plain equality. Expressions over `r`, the runs table.
 */
function groupKeySql(schema: string, groupBy: GroupBy | undefined): string {
  switch (groupBy) {
    case undefined:
      return `'null'::jsonb`;
    case 'agent':
      return 'to_jsonb(r.agent)'; // never null
    case 'prompt_version':
      return `coalesce(to_jsonb(r.prompt_version), 'null'::jsonb)`;
    case 'tenant':
      return `coalesce(to_jsonb(r.tenant_id), 'null'::jsonb)`;
    case 'user':
      return `coalesce(to_jsonb(r.user_id), 'null'::jsonb)`;
    case 'day':
      return `to_jsonb(to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'))`;
    case 'model':
      // The model that answered the run's first model step (`provider:model`).
      return `coalesce(to_jsonb((SELECT s.name FROM ${schema}.steps s WHERE s.run_id = r.id AND s.kind = 'model'
        ORDER BY s.seq LIMIT 1)), 'null'::jsonb)`;
  }
}

/**
 * The runs a summary covers: created in [$1, $2), of tenant $3 (null: all), agent $4 (null: all),
 * prompt version $5 (null: all). `$n` offsets let two sets share a statement (compare).
 */
export function scopedRunsFilter(first: number): string {
  const [from, to, tenant, agent, version] = [0, 1, 2, 3, 4].map((offset) => `$${first + offset}`);
  return `r.created_at >= ${from}::timestamptz AND r.created_at < ${to}::timestamptz
    AND (${tenant}::text IS NULL OR r.tenant_id = ${tenant}::text)
    AND (${agent}::text IS NULL OR r.agent = ${agent}::text)
    AND (${version}::text IS NULL OR r.prompt_version = ${version}::text)`;
}

/**
 * Every figure per group. Parameters: $1-$5 the run filter (see {@link scopedRunsFilter}), $6 the
 * abandonment cutoff (runs that ended before it without an outcome are abandoned), $7 the
 * largest number of groups to return. One row per group, most runs first (days in order).
 */
export function summarySql(schema: string, groupBy: GroupBy | undefined): string {
  // The group without a key last among equals.
  const order = groupBy === 'day' ? 'g.group_key' : `g.runs DESC, g.group_key = 'null'::jsonb, g.group_key`;
  return `
WITH scoped AS (
  SELECT r.id, r.status, r.stop_reason, r.cost_usd, r.ended_at,
    CASE WHEN r.status IN ${ENDED_STATUSES_SQL} AND r.started_at IS NOT NULL AND r.ended_at IS NOT NULL
      THEN extract(epoch FROM r.ended_at - r.started_at)::float8 * 1000 END AS duration_ms,
    ${groupKeySql(schema, groupBy)} AS group_key
  FROM ${schema}.runs r
  WHERE ${scopedRunsFilter(1)}
),
run_groups AS (
  SELECT s.group_key,
    count(*)::int AS runs,
    count(*) FILTER (WHERE s.status IN ${ENDED_STATUSES_SQL})::int AS ended_runs,
    count(*) FILTER (WHERE s.status = 'completed')::int AS succeeded,
    -- One sort for the three percentiles.
    percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s.duration_ms) AS percentiles,
    coalesce(sum(s.cost_usd), 0)::float8 AS cost_usd,
    count(*) FILTER (WHERE o.status = 'committed')::int AS committed,
    count(*) FILTER (WHERE o.status = 'rejected')::int AS rejected,
    count(*) FILTER (WHERE o.status IS NULL)::int AS speculative,
    count(*) FILTER (WHERE o.status IS NULL AND s.status IN ${ENDED_STATUSES_SQL} AND s.ended_at < $6::timestamptz)::int
      AS abandoned_runs,
    coalesce(sum(s.cost_usd) FILTER (WHERE o.status IS NULL AND s.status IN ${ENDED_STATUSES_SQL}
      AND s.ended_at < $6::timestamptz), 0)::float8 AS abandoned_runs_usd
  FROM scoped s LEFT JOIN ${schema}.run_outcomes o ON o.run_id = s.id
  GROUP BY s.group_key
),
stop_groups AS (
  SELECT group_key, jsonb_object_agg(stop_reason, n) AS stop_reasons
  FROM (SELECT group_key, stop_reason, count(*)::int AS n FROM scoped WHERE stop_reason IS NOT NULL
        GROUP BY group_key, stop_reason) counted
  GROUP BY group_key
),
-- Steps are read twice, each time aggregated at once (never materialized): model steps per run,
-- and tool steps per group and name.
run_models AS (
  SELECT run_id, count(*) AS model_steps,
    sum(cost_usd * abandoned) AS crash_usd,
    sum(abandoned) AS crash_executions,
    sum(cost_usd * greatest(attempt - 1 - abandoned, 0)) AS retried_usd,
    sum(greatest(attempt - 1 - abandoned, 0)) AS retried_attempts
  FROM (
    SELECT st.run_id, st.attempt, coalesce(st.cost_usd, 0)::float8 AS cost_usd,
      -- Executions abandoned by a crash (null for the common step that ran once).
      coalesce(jsonb_array_length(jsonb_path_query_array(st.prior_executions, '$[*] ? (@.end == "abandoned")')), 0)
        AS abandoned
    -- A join, not \`IN (SELECT id FROM scoped)\`: the planner cannot size a CTE and would probe the
    -- steps' primary key once per run.
    FROM scoped s JOIN ${schema}.steps st ON st.run_id = s.id
    WHERE st.kind = 'model'
  ) model_steps
  GROUP BY run_id
),
tool_groups AS (
  SELECT group_key, jsonb_object_agg(name, jsonb_build_object('calls', calls, 'errors', errors)) AS tools
  FROM (SELECT s.group_key, st.name, count(*)::int AS calls, count(*) FILTER (WHERE st.status = 'failed')::int AS errors
        FROM scoped s JOIN ${schema}.steps st ON st.run_id = s.id
        WHERE st.kind = 'tool' AND st.status <> 'started'
        GROUP BY s.group_key, st.name) counted
  GROUP BY group_key
),
model_groups AS (
  SELECT s.group_key,
    sum(m.crash_usd)::float8 AS crash_usd,
    sum(m.crash_executions)::int AS crash_executions,
    sum(m.retried_usd)::float8 AS retried_usd,
    sum(m.retried_attempts)::int AS retried_attempts,
    jsonb_build_object(${loopBuckets}) AS loops
  FROM scoped s LEFT JOIN run_models m ON m.run_id = s.id
  GROUP BY s.group_key
),
feedback_groups AS (
  SELECT s.group_key,
    count(*) FILTER (WHERE f.thumbs = 'up')::int AS thumbs_up,
    count(*) FILTER (WHERE f.thumbs = 'down')::int AS thumbs_down,
    avg(f.score)::float8 AS mean_score,
    count(f.score)::int AS scores,
    count(*)::int AS feedback
  FROM scoped s JOIN ${schema}.run_feedback f ON f.run_id = s.id
  GROUP BY s.group_key
)
SELECT g.*, sg.stop_reasons, tg.tools, mg.loops,
  mg.crash_usd, mg.crash_executions, mg.retried_usd, mg.retried_attempts,
  fg.thumbs_up, fg.thumbs_down, fg.mean_score, fg.scores, fg.feedback,
  count(*) OVER ()::int AS group_count
FROM run_groups g
LEFT JOIN stop_groups sg ON sg.group_key = g.group_key
LEFT JOIN tool_groups tg ON tg.group_key = g.group_key
LEFT JOIN model_groups mg ON mg.group_key = g.group_key
LEFT JOIN feedback_groups fg ON fg.group_key = g.group_key
ORDER BY ${order}
LIMIT $7`;
}

/**
 * Gateway calls made outside runs (`run_id` null) started in [$1, $2), of tenant $3 (null: all),
 * by tenant and key, most costly first; at most $4 rows, with the totals over all of them.
 */
export function gatewaySql(schema: string): string {
  return `
SELECT tenant_id, key_id, calls, errors, cost_usd, input_tokens, output_tokens,
  count(*) OVER ()::int AS key_count,
  sum(calls) OVER ()::int AS total_calls,
  sum(errors) OVER ()::int AS total_errors,
  sum(cost_usd) OVER ()::float8 AS total_cost_usd
FROM (
  SELECT tenant_id, key_id, count(*)::int AS calls,
    count(*) FILTER (WHERE outcome = 'error')::int AS errors,
    coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
    coalesce(sum(input_tokens), 0)::float8 AS input_tokens,
    coalesce(sum(output_tokens), 0)::float8 AS output_tokens
  FROM ${schema}.gateway_calls
  WHERE run_id IS NULL AND started_at >= $1::timestamptz AND started_at < $2::timestamptz
    AND ($3::text IS NULL OR tenant_id = $3::text)
  GROUP BY tenant_id, key_id
) per_key
ORDER BY cost_usd DESC, calls DESC, tenant_id, key_id
LIMIT $4`;
}
