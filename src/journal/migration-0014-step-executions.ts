import type { Migration } from './migrations.js';

/**
 * Earlier executions of a step (issue 9, traces and hidden recompute).
 *
 * A step row is keyed by (run, seq) and rewritten in place when a step that never finished is
 * executed again: after a crash (the lease expired mid-step) or after the run waited out a
 * provider. `prior_executions` keeps what the rewrite would otherwise lose, one object per
 * earlier execution, oldest first: `{"attempt": n, "started_at": "...", "end": "abandoned" |
 * "waited" | "released"}` (`waited` when the execution released the run to wait for a provider,
 * `released` when a draining worker released it, `abandoned` when it simply stopped: a crash, a
 * lost lease). The value `released` came after this migration; the column is jsonb, so no DDL. Null for the common step that ran once, so
 * the column costs nothing on the hot path; only a re-execution writes it.
 */
export const stepExecutionsMigration: Migration = {
  version: 14,
  name: 'step_executions',
  up: (schema) => `
    ALTER TABLE ${schema}.steps ADD COLUMN prior_executions jsonb;
  `,
};
