import type { Migration } from './migrations.js';

/**
 * Eval runs and their results (issue 12): `keel eval` writes one `evals` row when it starts and
 * one `eval_results` row per case and trial as each ends, so an interrupted eval keeps what
 * finished, and `keel evals list|show`, `/v1/evals` and the console read them back.
 *
 * - `evals.summary` is written when the eval ends (pass rate, counts, cost, latency, pass@k):
 *   lists read it without aggregating the results.
 * - `evals_tenant_created` serves the list (newest first, keyset paging);
 *   `evals_tenant_agent_version` serves "the evals of this agent's prompt version", which the
 *   console shows next to prompt versions.
 * - `eval_results.position` is the case's place in the suite: results read back in suite order.
 * - Results reference their run by id only: a pruned run leaves its eval result readable.
 */
export const evalsMigration: Migration = {
  version: 24,
  name: 'evals',
  up: (schema) => `
    CREATE TABLE ${schema}.evals (
      id text PRIMARY KEY,
      tenant_id text NOT NULL,
      suite text NOT NULL,
      agent text NOT NULL,
      prompt_version text,
      status text NOT NULL CHECK (status IN ('running', 'completed', 'interrupted', 'failed')),
      trials integer NOT NULL CHECK (trials >= 1),
      concurrency integer NOT NULL CHECK (concurrency >= 1),
      case_count integer NOT NULL CHECK (case_count >= 0),
      created_by text,
      options jsonb NOT NULL DEFAULT '{}'::jsonb,
      summary jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      ended_at timestamptz
    );
    CREATE INDEX evals_tenant_created ON ${schema}.evals (tenant_id, created_at DESC, id DESC);
    CREATE INDEX evals_tenant_agent_version
      ON ${schema}.evals (tenant_id, agent, prompt_version, created_at DESC, id DESC);
    CREATE TABLE ${schema}.eval_results (
      eval_id text NOT NULL REFERENCES ${schema}.evals (id) ON DELETE CASCADE,
      case_id text NOT NULL,
      position integer NOT NULL,
      trial integer NOT NULL CHECK (trial >= 1),
      run_id text,
      verdict text NOT NULL CHECK (verdict IN ('pass', 'fail', 'error')),
      score double precision NOT NULL,
      cost_usd double precision NOT NULL DEFAULT 0,
      judge_cost_usd double precision NOT NULL DEFAULT 0,
      latency_ms double precision NOT NULL DEFAULT 0,
      stop_reason text,
      tags jsonb NOT NULL DEFAULT '[]'::jsonb,
      scores jsonb NOT NULL DEFAULT '[]'::jsonb,
      error jsonb,
      ended_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (eval_id, case_id, trial)
    );
  `,
};
