import type { Migration } from './migrations.js';

/**
 * Human approvals. A run whose tool call needs approval is suspended: its status becomes
 * `awaiting_approval` (a new value of the status check) and it holds no worker; the claim query
 * never looks at it, since `runs_runnable` covers only queued and running runs.
 *
 * - `approvals` holds one row per gated tool call, unique per (run, step): a retried suspension
 *   cannot request the same approval twice.
 * - `approvals_pending` serves the approval queue (`GET /v1/approvals?status=pending`) and the
 *   expiry sweep, whatever the number of decided approvals.
 * - `runs.waiting_since` / `runs.waited_ms` keep the time spent waiting out of the run's deadline.
 */
export const approvalsMigration: Migration = {
  version: 4,
  name: 'approvals',
  up: (schema) => `
    ALTER TABLE ${schema}.runs DROP CONSTRAINT IF EXISTS runs_status_check;
    ALTER TABLE ${schema}.runs ADD CONSTRAINT runs_status_check CHECK (status IN
      ('queued', 'running', 'waiting', 'awaiting_approval', 'completed', 'failed', 'cancelled'));
    ALTER TABLE ${schema}.runs ADD COLUMN waiting_since timestamptz;
    ALTER TABLE ${schema}.runs ADD COLUMN waited_ms bigint NOT NULL DEFAULT 0;

    CREATE TABLE ${schema}.approvals (
      id text PRIMARY KEY,
      tenant_id text NOT NULL,
      run_id text NOT NULL REFERENCES ${schema}.runs (id) ON DELETE CASCADE,
      step_seq integer NOT NULL,
      tool text NOT NULL,
      arguments jsonb,
      status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
      reason text,
      decided_by text,
      requested_at timestamptz NOT NULL DEFAULT now(),
      decided_at timestamptz,
      expires_at timestamptz,
      UNIQUE (run_id, step_seq)
    );
    CREATE INDEX approvals_tenant_requested ON ${schema}.approvals (tenant_id, requested_at DESC, id DESC);
    CREATE INDEX approvals_pending ON ${schema}.approvals (expires_at) WHERE status = 'pending';
  `,
};
