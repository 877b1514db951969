import type { Migration } from './migrations.js';

/**
 * Smaller storage, second pass (issue 14, part 3; docs/decisions/2026-12-06-storage-footprint.md).
 *
 * - `steps.output`: a step's output of at most {@link INLINE_OUTPUT_MAX_BYTES} bytes of JSON is
 *   kept in its step row; larger ones still go to `payloads`. A `payloads` row costs about as
 *   much as a small output itself (tuple header, the run id again, its key, a primary-key entry
 *   that repeats both: ~140 bytes), a large part of what a short model answer or tool result
 *   takes. `output_ref` keeps its meaning (the step has an
 *   output; `<run id>:<seq>` in the API) either way, so nothing that reads a step changes; the
 *   trace's step rows grow by at most the limit. Rows written before keep their payloads.
 * - `runs_session_created (session_id, created_at, id)` is dropped: every query of a session's
 *   runs names its tenant (the API, session history, the claim's session order, retention,
 *   erasure) and `runs_tenant_session_created` serves them all.
 *   It got an entry for every run of a session at its creation.
 * - Completed steps store their meta packed (step-meta-codec.ts): no DDL, new rows only.
 */
export const inlineOutputsMigration: Migration = {
  version: 31,
  name: 'inline_outputs',
  up: (schema) => `
    ALTER TABLE ${schema}.steps ADD COLUMN output jsonb;
    DROP INDEX ${schema}.runs_session_created;
  `,
};

/**
 * The largest output (bytes of its JSON text) kept in its step row instead of `payloads`: about
 * what a `payloads` row and its index entry cost on their own, so a larger output pays its own
 * way there, and a trace (which reads step rows, not outputs) reads at most this much more per step.
 */
export const INLINE_OUTPUT_MAX_BYTES = 512;
