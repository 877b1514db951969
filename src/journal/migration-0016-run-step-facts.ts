import type { Migration } from './migrations.js';
import { setStepFactsSql, stepFactsByRunSql } from './run-step-facts.js';

/**
 * A run's step facts (issue 9, analytics performance; see run-step-facts.ts): columns of `runs`
 * written when the run ends, so the analytics summary reads one row per run instead of its steps.
 *
 * Columns on `runs` rather than a table of their own: the summary reads the runs row anyway, so
 * the facts cost it no join, and `finishRun` writes them in the update that ends the run (no
 * second row, no second index). Nullable without defaults: adding them rewrites nothing; null
 * means "not ended" (the summary then reads the run's steps).
 *
 * \`runs_without_step_facts\`, partial on the runs without facts (in flight: few), lets the summary
 * find the runs of a window whose steps it must still read without scanning the window again.
 * A run enters it when created and leaves it when it ends, in updates that already change
 * indexed columns (\`status\`), so it costs no HOT update.
 *
 * The backfill gives every run that ended before this migration its facts, from its steps in one
 * grouped pass, so an existing database answers the same figures as before; ended runs without
 * any model or tool step get zeros. It rewrites each ended run's row once.
 */
export const runStepFactsMigration: Migration = {
  version: 16,
  name: 'run_step_facts',
  up: (schema) => `
    ALTER TABLE ${schema}.runs
      ADD COLUMN model_calls integer,
      ADD COLUMN tool_calls jsonb,
      ADD COLUMN crash_reexecutions integer,
      ADD COLUMN crash_reexecution_usd double precision,
      ADD COLUMN retried_attempts integer,
      ADD COLUMN retried_attempts_usd double precision,
      ADD COLUMN first_model text;

    UPDATE ${schema}.runs AS run SET ${setStepFactsSql('facts')}
    FROM (${stepFactsByRunSql(schema, 'true')}) AS facts
    WHERE facts.run_id = run.id AND run.status IN ('completed', 'failed', 'cancelled');

    UPDATE ${schema}.runs AS run SET ${setStepFactsSql('facts')}
    FROM (SELECT NULL::int AS model_calls, NULL::jsonb AS tool_calls, NULL::int AS crash_reexecutions,
            NULL::float8 AS crash_reexecution_usd, NULL::int AS retried_attempts,
            NULL::float8 AS retried_attempts_usd, NULL::text AS first_model) AS facts
    WHERE run.model_calls IS NULL AND run.status IN ('completed', 'failed', 'cancelled');

    CREATE INDEX runs_without_step_facts ON ${schema}.runs (created_at) WHERE model_calls IS NULL;
  `,
};
