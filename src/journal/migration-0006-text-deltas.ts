import type { Migration } from './migrations.js';

/**
 * The text a model step streams, as it streams, so that any replica can serve it live in a
 * run's event stream (`GET /v1/runs/{id}/events`), not only the worker running it. Rows are
 * coalesced slices (one per flush, every ~100 ms), never one per token.
 *
 * - `idx` numbers a step's slices 0, 1, 2... across every execution of the step: a run resumed
 *   elsewhere after a crash streams the step again and continues the numbering.
 * - `fence` is the run's fence at the time (one per claim) and `attempt` the model call's attempt
 *   within the step (a failed call retried streams again): together they tell the executions of
 *   the step apart.
 * - `name` (the model, as the step will be named) is set on a step's first slice only.
 *
 * The step's own record stays the truth: its output has the whole text. Slices are an
 * observation of the way there.
 */
export const textDeltasMigration: Migration = {
  version: 6,
  name: 'text-deltas',
  up: (schema) => `
    CREATE TABLE ${schema}.text_deltas (
      run_id text NOT NULL REFERENCES ${schema}.runs (id) ON DELETE CASCADE,
      seq integer NOT NULL,
      idx integer NOT NULL,
      fence bigint NOT NULL,
      attempt integer NOT NULL DEFAULT 1,
      name text,
      text text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (run_id, seq, idx)
    );
  `,
};
