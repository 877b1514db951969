import type { Migration } from './migrations.js';

/**
 * Runs that wait out a provider outage. A model step whose retryable failure asks for a long
 * wait releases its run: status `waiting` (already allowed by the status check), no lease, and
 * `available_at` set to the time before which no worker may claim it (the "not before" time; the
 * claim already reads `available_at` for queued runs, so the same column serves both).
 *
 * - `wait_reason` is the code of the error being waited out (`gateway_unavailable`,
 *   `provider_http_429`...), for the API and for operators' queries (`GROUP BY wait_reason`).
 * - `wait_detail` holds the rest: the error's message, the waiting model step and its attempts.
 * - `runs_runnable` now covers waiting runs too, so the claim finds them when their time comes
 *   (workers poll; no notification is needed).
 */
export const providerWaitsMigration: Migration = {
  version: 8,
  name: 'provider_waits',
  up: (schema) => `
    ALTER TABLE ${schema}.runs ADD COLUMN wait_reason text;
    ALTER TABLE ${schema}.runs ADD COLUMN wait_detail jsonb;
    DROP INDEX ${schema}.runs_runnable;
    CREATE INDEX runs_runnable ON ${schema}.runs (created_at, id) WHERE status IN ('queued', 'running', 'waiting');
  `,
};
