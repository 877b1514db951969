import type { Migration } from './migrations.js';

/**
 * Outcomes and feedback (issue 9, build 8).
 *
 * - `run_outcomes`: what the caller decided about a run's result. It used to be created on first
 *   use by `feedback/outcomes.ts`; this creates it with the same definition `IF NOT EXISTS`, so a
 *   database where that code already made it keeps its table and rows.
 * - `run_feedback`: any number of rows per run (thumbs, a 0-1 score, a comment, who and when).
 *   `comment` is stored through the text codec (any text). The index leads with `run_id`: it
 *   serves "a run's feedback, newest first" and the cascade delete of a run.
 *
 * Both go with their run (`ON DELETE CASCADE`), so retention needs no statement of its own.
 */
export const outcomesFeedbackMigration: Migration = {
  version: 13,
  name: 'outcomes_feedback',
  up: (schema) => `
    CREATE TABLE IF NOT EXISTS ${schema}.run_outcomes (
      run_id text PRIMARY KEY REFERENCES ${schema}.runs (id) ON DELETE CASCADE,
      tenant_id text NOT NULL,
      status text NOT NULL CHECK (status IN ('committed', 'rejected')),
      value jsonb,
      decided_at timestamptz NOT NULL,
      decided_by_key text NOT NULL
    );

    CREATE TABLE ${schema}.run_feedback (
      id text PRIMARY KEY,
      run_id text NOT NULL REFERENCES ${schema}.runs (id) ON DELETE CASCADE,
      tenant_id text NOT NULL,
      thumbs text CHECK (thumbs IN ('up', 'down')),
      score double precision CHECK (score >= 0 AND score <= 1),
      comment text,
      user_id text,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL,
      CHECK (thumbs IS NOT NULL OR score IS NOT NULL OR comment IS NOT NULL)
    );
    CREATE INDEX run_feedback_run_created ON ${schema}.run_feedback (run_id, created_at DESC, id DESC);
  `,
};
