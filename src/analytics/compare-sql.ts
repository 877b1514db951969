/**
 * The SQL behind a comparison's Mann-Whitney tests: for each per-run figure, the rank sum of
 * sample A in the pooled sample (mid-ranks for ties) and the tie term Σ(t³ − t), reduced in the
 * database so only four rows come back, whatever the sample sizes.
 */
import { ENDED_STATUSES_SQL, scopedRunsFilter } from './summary-sql.js';

/** The per-run figures tested with Mann-Whitney U, in the order of the statement's rows. */
export const RANKED_FIGURES = [
  'cost_per_run_usd',
  'steps_per_run',
  'model_calls_per_run',
  'duration_ms',
] as const;
export type RankedFigure = (typeof RANKED_FIGURES)[number];

/**
 * Parameters: $1-$5 sample A's run filter, $6-$10 sample B's (see `scopedRunsFilter`). Only
 * ended runs are sampled (a running run's cost and step count are not final). A run in both
 * samples (overlapping windows) is in both.
 */
export function rankSumsSql(schema: string): string {
  const side = (label: string, first: number) => `
    SELECT '${label}' AS side, r.id, r.cost_usd::float8 AS cost, r.step_count::float8 AS steps,
      CASE WHEN r.started_at IS NOT NULL AND r.ended_at IS NOT NULL
        THEN extract(epoch FROM r.ended_at - r.started_at)::float8 * 1000 END AS duration,
      -- The loop count is a step fact of an ended run (migration 16); a run that ended without
      -- facts (none is written outside the journal store) has its model steps counted.
      (CASE WHEN r.model_calls IS NOT NULL THEN r.model_calls
        ELSE (SELECT count(*) FROM ${schema}.steps st WHERE st.run_id = r.id AND st.kind = 'model') END)::float8
        AS model_calls
    FROM ${schema}.runs r
    WHERE ${scopedRunsFilter(first)} AND r.status IN ${ENDED_STATUSES_SQL}`;
  return `
WITH per_run AS (${side('a', 1)}
  UNION ALL ${side('b', 6)}
),
samples AS (
  SELECT per_run.side, figure.name, figure.value
  FROM per_run,
    LATERAL (VALUES ('cost_per_run_usd', per_run.cost), ('steps_per_run', per_run.steps),
                    ('model_calls_per_run', per_run.model_calls), ('duration_ms', per_run.duration))
      AS figure (name, value)
  WHERE figure.value IS NOT NULL
),
ranked AS (
  SELECT name, side, value,
    (rank() OVER (PARTITION BY name ORDER BY value)
      + (count(*) OVER (PARTITION BY name, value) - 1) / 2.0)::float8 AS mid_rank
  FROM samples
),
ties AS (
  SELECT name, sum(t * t * t - t)::float8 AS tie_term
  FROM (SELECT name, value, count(*)::float8 AS t FROM samples GROUP BY name, value) tied
  GROUP BY name
)
SELECT ranked.name,
  count(*) FILTER (WHERE side = 'a')::int AS count_a,
  count(*) FILTER (WHERE side = 'b')::int AS count_b,
  coalesce(sum(mid_rank) FILTER (WHERE side = 'a'), 0)::float8 AS rank_sum_a,
  avg(value) FILTER (WHERE side = 'a')::float8 AS mean_a,
  avg(value) FILTER (WHERE side = 'b')::float8 AS mean_b,
  ties.tie_term
FROM ranked JOIN ties ON ties.name = ranked.name
GROUP BY ranked.name, ties.tie_term`;
}
