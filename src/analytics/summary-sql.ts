/**
 * The SQL of the analytics summary: one statement computes every figure of every group in the
 * database (a single pass over the window's runs, with the step facts of those that ended, and
 * the steps of those still in flight), a second reads the gateway's
 * calls made outside runs. Only one row per group comes back. Plain Postgres (CTEs, FILTER,
 * percentile_cont, jsonb aggregates), so it runs the same on PGlite and on Postgres.
 */
import { abandonedExecutionsSql, hasStepFactsSql } from '../journal/run-step-facts.js';
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

/** `'bucket', count of runs in it, ...` for jsonb_build_object over a run's `s.loop_count`. */
const loopBuckets = LOOP_BUCKETS.map(({ bucket, min, max }) => {
  const steps = 's.loop_count';
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
      // Registry versions are numbered per agent (v1 of one agent is not v1 of another): their
      // key names the agent, `<agent>@v<n>`; the code's versions (`code:<hash>`) are unique as is.
      return `coalesce(to_jsonb(CASE WHEN r.prompt_version ~ '^v[0-9]+$'
        THEN r.agent || '@' || r.prompt_version ELSE r.prompt_version END), 'null'::jsonb)`;
    case 'tenant':
      return `coalesce(to_jsonb(r.tenant_id), 'null'::jsonb)`;
    case 'user':
      return `coalesce(to_jsonb(r.user_id), 'null'::jsonb)`;
    case 'day':
      return `to_jsonb(to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'))`;
    case 'hour':
      // The hour's start as an ISO instant (`2026-11-01T13:00:00Z`): sorts as text, parses as a date.
      return `to_jsonb(to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24":00:00Z"'))`;
    case 'model':
      // The model that answered the run's first model step (`provider:model`): a fact of an ended
      // run; of a live one, read from its steps (a CASE evaluates the subquery only then).
      return `coalesce(to_jsonb(CASE WHEN ${hasStepFactsSql('r')} THEN r.first_model ELSE
        (SELECT s.name FROM ${schema}.steps s WHERE s.run_id = r.id AND s.kind = 'model'
         ORDER BY s.seq LIMIT 1) END), 'null'::jsonb)`;
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
 * largest number of groups to return. One row per group, most runs first (days and hours in order).
 *
 * A run that ended carries its step facts (migration 16, written when it ended): its loop count,
 * tool calls and hidden-recompute parts are read from its row. Only the runs of the window
 * without facts (still in flight, few) have their steps read.
 */
export function summarySql(schema: string, groupBy: GroupBy | undefined): string {
  // The group without a key last among equals.
  const order =
    groupBy === 'day' || groupBy === 'hour'
      ? 'g.group_key'
      : `g.runs DESC, g.group_key = 'null'::jsonb, g.group_key`;
  const groupKey = groupKeySql(schema, groupBy);
  return `
WITH scoped AS (
  SELECT r.id, r.status, r.stop_reason, r.cost_usd, r.ended_at,
    CASE WHEN r.status IN ${ENDED_STATUSES_SQL} AND r.started_at IS NOT NULL AND r.ended_at IS NOT NULL
      THEN extract(epoch FROM r.ended_at - r.started_at)::float8 * 1000 END AS duration_ms,
    ${groupKey} AS group_key,
    ${hasStepFactsSql('r')} AS has_facts,
    r.model_calls, r.crash_reexecutions, r.crash_reexecution_usd, r.retried_attempts_usd,
    r.retried_attempts AS fact_retried_attempts
  FROM ${schema}.runs r
  WHERE ${scopedRunsFilter(1)}
),
-- The runs of the window without step facts (in flight), from the table and its partial index
-- runs_without_step_facts, not from \`scoped\`: the planner sizes them from the table's statistics
-- (few) and probes their steps by key.
live AS (
  SELECT r.id, ${groupKey} AS group_key
  FROM ${schema}.runs r
  WHERE ${scopedRunsFilter(1)} AND NOT ${hasStepFactsSql('r')}
),
live_models AS (
  SELECT st.run_id, count(*) AS model_steps,
    sum(cost_usd * abandoned) AS crash_usd,
    sum(abandoned) AS crash_executions,
    sum(cost_usd * greatest(attempt - 1 - abandoned, 0)) AS retried_usd,
    sum(greatest(attempt - 1 - abandoned, 0)) AS retried_attempts
  FROM (
    SELECT st.run_id, st.attempt, coalesce(st.cost_usd, 0)::float8 AS cost_usd,
      ${abandonedExecutionsSql('st')} AS abandoned
    FROM live JOIN ${schema}.steps st ON st.run_id = live.id
    WHERE st.kind = 'model'
  ) st
  GROUP BY st.run_id
),
-- Per run: the facts, or what its steps say.
per_run AS (
  SELECT s.id, s.group_key, s.status, s.cost_usd, s.ended_at, s.duration_ms,
    CASE WHEN s.has_facts THEN s.model_calls ELSE coalesce(m.model_steps, 0) END AS loop_count,
    CASE WHEN s.has_facts THEN s.crash_reexecution_usd ELSE m.crash_usd END AS crash_usd,
    CASE WHEN s.has_facts THEN s.crash_reexecutions ELSE m.crash_executions END AS crash_executions,
    CASE WHEN s.has_facts THEN s.retried_attempts_usd ELSE m.retried_usd END AS retried_usd,
    CASE WHEN s.has_facts THEN s.fact_retried_attempts ELSE m.retried_attempts END AS retried_attempts
  FROM scoped s LEFT JOIN live_models m ON m.run_id = s.id
),
run_groups AS (
  SELECT s.group_key,
    count(*)::int AS runs,
    count(*) FILTER (WHERE s.status IN ${ENDED_STATUSES_SQL})::int AS ended_runs,
    count(*) FILTER (WHERE s.status = 'completed')::int AS succeeded,
    coalesce(sum(s.cost_usd), 0)::float8 AS cost_usd,
    count(*) FILTER (WHERE o.status = 'committed')::int AS committed,
    count(*) FILTER (WHERE o.status = 'rejected')::int AS rejected,
    count(*) FILTER (WHERE o.status IS NULL)::int AS speculative,
    count(*) FILTER (WHERE o.status IS NULL AND s.status IN ${ENDED_STATUSES_SQL} AND s.ended_at < $6::timestamptz)::int
      AS abandoned_runs,
    coalesce(sum(s.cost_usd) FILTER (WHERE o.status IS NULL AND s.status IN ${ENDED_STATUSES_SQL}
      AND s.ended_at < $6::timestamptz), 0)::float8 AS abandoned_runs_usd,
    sum(s.crash_usd)::float8 AS crash_usd,
    sum(s.crash_executions)::int AS crash_executions,
    sum(s.retried_usd)::float8 AS retried_usd,
    sum(s.retried_attempts)::int AS retried_attempts,
    jsonb_build_object(${loopBuckets}) AS loops
  FROM per_run s LEFT JOIN ${schema}.run_outcomes o ON o.run_id = s.id
  GROUP BY s.group_key
),
-- Apart from run_groups, so that it sorts narrow rows and run_groups can hash: one sort for the
-- three percentiles.
duration_groups AS (
  SELECT group_key, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms) AS percentiles
  FROM scoped
  GROUP BY group_key
),
stop_groups AS (
  SELECT group_key, jsonb_object_agg(stop_reason, n) AS stop_reasons
  FROM (SELECT group_key, stop_reason, count(*)::int AS n FROM scoped WHERE stop_reason IS NOT NULL
        GROUP BY group_key, stop_reason) counted
  GROUP BY group_key
),
-- Runs per group and distinct \`{name: [calls, errors]}\` of their facts: runs of an agent repeat a
-- few patterns, so the objects expanded are far fewer than the runs (a second read of the
-- window's runs, which keeps the wide jsonb out of \`scoped\`).
tool_patterns AS (
  SELECT ${groupKey} AS group_key, r.tool_calls, count(*) AS runs
  FROM ${schema}.runs r
  WHERE ${scopedRunsFilter(1)} AND ${hasStepFactsSql('r')} AND r.tool_calls IS NOT NULL
  GROUP BY 1, 2
),
-- Tool calls per group and name: the facts' patterns, and the live runs' steps.
tool_groups AS (
  SELECT group_key, jsonb_object_agg(name, jsonb_build_object('calls', calls, 'errors', errors)) AS tools
  FROM (
    SELECT group_key, name, sum(calls)::int AS calls, sum(errors)::int AS errors
    FROM (
      SELECT p.group_key, tool.key AS name, p.runs * (tool.value->>0)::int AS calls,
        p.runs * (tool.value->>1)::int AS errors
      FROM tool_patterns p CROSS JOIN LATERAL jsonb_each(p.tool_calls) AS tool
      UNION ALL
      SELECT live.group_key, st.name, 1, CASE WHEN st.status = 'failed' THEN 1 ELSE 0 END
      FROM live JOIN ${schema}.steps st ON st.run_id = live.id
      WHERE st.kind = 'tool' AND st.status <> 'started'
    ) calls
    GROUP BY group_key, name
  ) counted
  GROUP BY group_key
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
SELECT g.*, dg.percentiles, sg.stop_reasons, tg.tools,
  fg.thumbs_up, fg.thumbs_down, fg.mean_score, fg.scores, fg.feedback,
  count(*) OVER ()::int AS group_count
FROM run_groups g
LEFT JOIN duration_groups dg ON dg.group_key = g.group_key
LEFT JOIN stop_groups sg ON sg.group_key = g.group_key
LEFT JOIN tool_groups tg ON tg.group_key = g.group_key
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

/**
 * Gateway calls made outside runs started in [$1, $2), of tenant $3 (null: all), by tenant and
 * the end user (developer) they were attributed to (`user_id` null: calls that named none), with
 * their distinct sessions, most costly first; at most $4 rows, with the count of all of them.
 */
export function gatewayUsersSql(schema: string): string {
  return `
SELECT tenant_id, user_id, calls, errors, cost_usd, input_tokens, output_tokens, sessions,
  count(*) OVER ()::int AS user_count
FROM (
  SELECT tenant_id, user_id, count(*)::int AS calls,
    count(*) FILTER (WHERE outcome = 'error')::int AS errors,
    coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
    coalesce(sum(input_tokens), 0)::float8 AS input_tokens,
    coalesce(sum(output_tokens), 0)::float8 AS output_tokens,
    count(DISTINCT session_id)::int AS sessions
  FROM ${schema}.gateway_calls
  WHERE run_id IS NULL AND started_at >= $1::timestamptz AND started_at < $2::timestamptz
    AND ($3::text IS NULL OR tenant_id = $3::text)
  GROUP BY tenant_id, user_id
) per_user
ORDER BY cost_usd DESC, calls DESC, tenant_id, user_id
LIMIT $4`;
}
