import type { Migration } from './migrations.js';

/**
 * Budgets (issue 10, build 1): dollar and token caps per scope and period, with reservations.
 *
 * - `budgets`: one row per (tenant, scope, scope_id, period); `source` tells a config-declared
 *   budget (upserted at start) from one made through the API.
 * - `budget_counters`: what a budget spent and holds reserved in one period, keyed by
 *   `period_key` (`2026-12-05T23` for an hour, `2026-12-05` for a day, `2026-12` for a month,
 *   `total`, or the run id for a per-run period). No foreign key to `budgets`: deleting a budget
 *   deletes its counters in the same transaction.
 * - `budget_reservations`: a reservation in flight, held by one execution of a run (`run_id`,
 *   `fence`) or one gateway call (`api_key_id`), with the counters it holds (`budget_ids` and
 *   `period_keys`, pairwise) and the amount it holds on each. Settling or releasing deletes the
 *   row first, so a reservation is given back at most once whoever races.
 *
 * `budget_reserve` and `budget_settle` are functions so that a reservation against every
 * applicable budget is one statement (one round trip) that locks the counters in one order
 * (no deadlocks between reservations), checks every budget, and either holds on all or on none.
 */
export const budgetsMigration: Migration = {
  version: 18,
  name: 'budgets',
  up: (schema) => `
    CREATE TABLE ${schema}.budgets (
      id text PRIMARY KEY,
      tenant_id text NOT NULL,
      scope text NOT NULL CHECK (scope IN ('tenant', 'agent', 'user', 'session', 'api_key', 'run')),
      scope_id text NOT NULL,
      period text NOT NULL CHECK (period IN ('run', 'hour', 'day', 'month', 'total')),
      limit_usd numeric CHECK (limit_usd IS NULL OR limit_usd >= 0),
      limit_tokens bigint CHECK (limit_tokens IS NULL OR limit_tokens >= 0),
      soft_pct integer NOT NULL DEFAULT 80 CHECK (soft_pct BETWEEN 1 AND 100),
      on_exhausted text NOT NULL DEFAULT 'stop' CHECK (on_exhausted IN ('stop', 'approval')),
      source text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'config')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (limit_usd IS NOT NULL OR limit_tokens IS NOT NULL)
    );
    CREATE UNIQUE INDEX budgets_identity ON ${schema}.budgets (tenant_id, scope, scope_id, period);

    CREATE TABLE ${schema}.budget_counters (
      budget_id text NOT NULL,
      period_key text NOT NULL,
      spent_usd numeric NOT NULL DEFAULT 0,
      reserved_usd numeric NOT NULL DEFAULT 0,
      spent_tokens bigint NOT NULL DEFAULT 0,
      reserved_tokens bigint NOT NULL DEFAULT 0,
      alerted boolean NOT NULL DEFAULT false,
      PRIMARY KEY (budget_id, period_key)
    ) WITH (fillfactor = 50);

    CREATE TABLE ${schema}.budget_reservations (
      id text PRIMARY KEY,
      tenant_id text NOT NULL,
      run_id text,
      fence bigint,
      api_key_id text,
      holder text NOT NULL,
      budget_ids text[] NOT NULL,
      period_keys text[] NOT NULL,
      usd numeric NOT NULL,
      tokens bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX budget_reservations_run ON ${schema}.budget_reservations (run_id) WHERE run_id IS NOT NULL;
    CREATE INDEX budget_reservations_created ON ${schema}.budget_reservations (created_at);

    -- Reserves one model call's worst case against every budget that applies, all or nothing.
    -- Returns one row: status 'ok' (granted_output, usd, tokens), 'exhausted' or 'price_unknown'
    -- (with the budget at fault and its counters).
    CREATE FUNCTION ${schema}.budget_reserve(
      p_id text, p_tenant text, p_agent text, p_user text, p_session text, p_api_key text,
      p_run text, p_fence bigint, p_holder text,
      p_hour text, p_day text, p_month text,
      p_input_per_m numeric, p_output_per_m numeric, p_price_known boolean,
      p_prompt_tokens bigint, p_max_output bigint, p_min_output bigint,
      p_run_remaining_usd numeric, p_run_remaining_tokens bigint, p_run_limit_usd numeric, p_run_limit_tokens bigint
    ) RETURNS TABLE (
      status text, granted_output bigint, usd numeric, tokens bigint,
      budget_id text, scope text, scope_id text, period text, period_key text,
      limit_usd numeric, limit_tokens bigint, spent_usd numeric, reserved_usd numeric,
      spent_tokens bigint, reserved_tokens bigint
    ) LANGUAGE plpgsql AS $$
    #variable_conflict use_column
    DECLARE
      b record;
      c record;
      v_granted bigint := p_max_output;
      v_afford bigint;
      v_ids text[] := '{}';
      v_keys text[] := '{}';
      v_block record;
      v_block_found boolean := false;
      v_prompt_usd numeric := COALESCE(p_prompt_tokens * p_input_per_m / 1000000, 0);
      v_output_usd numeric := COALESCE(p_output_per_m / 1000000, 0);
    BEGIN
      -- The implicit per-run budget (an agent's maxCostUsd / maxTokens), remaining given by the caller.
      IF p_run_remaining_usd IS NOT NULL AND NOT p_price_known THEN
        RETURN QUERY SELECT 'price_unknown'::text, 0::bigint, 0::numeric, 0::bigint, 'run:' || p_run, 'run'::text,
          p_run, 'run'::text, p_run, p_run_limit_usd, p_run_limit_tokens, 0::numeric, 0::numeric, 0::bigint, 0::bigint;
        RETURN;
      END IF;
      IF p_run_remaining_usd IS NOT NULL AND v_output_usd > 0 THEN
        v_granted := LEAST(v_granted, floor((p_run_remaining_usd - v_prompt_usd) / v_output_usd)::bigint);
      ELSIF p_run_remaining_usd IS NOT NULL AND v_prompt_usd > p_run_remaining_usd THEN
        v_granted := -1;
      END IF;
      IF p_run_remaining_tokens IS NOT NULL THEN
        v_granted := LEAST(v_granted, p_run_remaining_tokens - p_prompt_tokens);
      END IF;
      IF v_granted < p_min_output THEN
        RETURN QUERY SELECT 'exhausted'::text, 0::bigint, 0::numeric, 0::bigint, 'run:' || p_run, 'run'::text,
          p_run, 'run'::text, p_run, p_run_limit_usd, p_run_limit_tokens,
          p_run_limit_usd - p_run_remaining_usd, 0::numeric, p_run_limit_tokens - p_run_remaining_tokens, 0::bigint;
        RETURN;
      END IF;

      -- The counters of every applicable budget, created when missing, then locked in key order.
      INSERT INTO ${schema}.budget_counters (budget_id, period_key)
        SELECT a.id, a.k FROM (
          SELECT x.id, CASE x.period WHEN 'hour' THEN p_hour WHEN 'day' THEN p_day WHEN 'month' THEN p_month
            WHEN 'total' THEN 'total' ELSE p_run END AS k
          FROM ${schema}.budgets x
          WHERE x.tenant_id = p_tenant AND (x.period <> 'run' OR p_run IS NOT NULL) AND (
            (x.scope = 'tenant' AND x.scope_id = p_tenant) OR (x.scope = 'agent' AND x.scope_id = p_agent)
            OR (x.scope = 'user' AND x.scope_id = p_user) OR (x.scope = 'session' AND x.scope_id = p_session)
            OR (x.scope = 'api_key' AND x.scope_id = p_api_key) OR (x.scope = 'run' AND x.scope_id = p_run))
          ORDER BY 1, 2) a
        ON CONFLICT DO NOTHING;
      FOR b IN
        SELECT x.*, CASE x.period WHEN 'hour' THEN p_hour WHEN 'day' THEN p_day WHEN 'month' THEN p_month
          WHEN 'total' THEN 'total' ELSE p_run END AS k
        FROM ${schema}.budgets x
        WHERE x.tenant_id = p_tenant AND (x.period <> 'run' OR p_run IS NOT NULL) AND (
          (x.scope = 'tenant' AND x.scope_id = p_tenant) OR (x.scope = 'agent' AND x.scope_id = p_agent)
          OR (x.scope = 'user' AND x.scope_id = p_user) OR (x.scope = 'session' AND x.scope_id = p_session)
          OR (x.scope = 'api_key' AND x.scope_id = p_api_key) OR (x.scope = 'run' AND x.scope_id = p_run))
        ORDER BY x.id, k
      LOOP
        SELECT * INTO c FROM ${schema}.budget_counters bc
          WHERE bc.budget_id = b.id AND bc.period_key = b.k FOR UPDATE;
        IF b.limit_usd IS NOT NULL AND NOT p_price_known THEN
          RETURN QUERY SELECT 'price_unknown'::text, 0::bigint, 0::numeric, 0::bigint, b.id, b.scope, b.scope_id,
            b.period, b.k, b.limit_usd, b.limit_tokens, c.spent_usd, c.reserved_usd, c.spent_tokens, c.reserved_tokens;
          RETURN;
        END IF;
        v_afford := NULL;
        IF b.limit_usd IS NOT NULL THEN
          IF v_output_usd > 0 THEN
            v_afford := floor((b.limit_usd - c.spent_usd - c.reserved_usd - v_prompt_usd) / v_output_usd)::bigint;
          ELSIF b.limit_usd - c.spent_usd - c.reserved_usd < v_prompt_usd OR b.limit_usd - c.spent_usd - c.reserved_usd <= 0 THEN
            v_afford := -1;
          END IF;
        END IF;
        IF b.limit_tokens IS NOT NULL THEN
          v_afford := LEAST(COALESCE(v_afford, b.limit_tokens), b.limit_tokens - c.spent_tokens - c.reserved_tokens - p_prompt_tokens);
        END IF;
        IF v_afford IS NOT NULL AND v_afford < v_granted THEN
          v_granted := v_afford;
          IF v_granted < p_min_output AND NOT v_block_found THEN
            v_block_found := true;
            SELECT b.id AS id, b.scope AS scope, b.scope_id AS scope_id, b.period AS period, b.k AS k,
              b.limit_usd AS limit_usd, b.limit_tokens AS limit_tokens, c.spent_usd AS spent_usd,
              c.reserved_usd AS reserved_usd, c.spent_tokens AS spent_tokens, c.reserved_tokens AS reserved_tokens
              INTO v_block;
          END IF;
        END IF;
        v_ids := v_ids || b.id;
        v_keys := v_keys || b.k;
      END LOOP;
      IF v_block_found THEN
        RETURN QUERY SELECT 'exhausted'::text, 0::bigint, 0::numeric, 0::bigint, v_block.id, v_block.scope,
          v_block.scope_id, v_block.period, v_block.k, v_block.limit_usd, v_block.limit_tokens, v_block.spent_usd,
          v_block.reserved_usd, v_block.spent_tokens, v_block.reserved_tokens;
        RETURN;
      END IF;
      UPDATE ${schema}.budget_counters bc
        SET reserved_usd = bc.reserved_usd + (v_prompt_usd + v_granted * v_output_usd),
            reserved_tokens = bc.reserved_tokens + (p_prompt_tokens + v_granted)
        FROM unnest(v_ids, v_keys) AS t(i, k)
        WHERE bc.budget_id = t.i AND bc.period_key = t.k;
      IF array_length(v_ids, 1) IS NOT NULL THEN
        INSERT INTO ${schema}.budget_reservations
          (id, tenant_id, run_id, fence, api_key_id, holder, budget_ids, period_keys, usd, tokens)
        VALUES (p_id, p_tenant, p_run, p_fence, p_api_key, p_holder, v_ids, v_keys,
          v_prompt_usd + v_granted * v_output_usd, p_prompt_tokens + v_granted);
      END IF;
      RETURN QUERY SELECT 'ok'::text, v_granted, v_prompt_usd + v_granted * v_output_usd, p_prompt_tokens + v_granted,
        NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::bigint,
        NULL::numeric, NULL::numeric, NULL::bigint, NULL::bigint;
    END
    $$;

    -- Settles (charges p_usd/p_tokens) or releases (charges nothing) reservations: deletes them,
    -- then gives their holds back counter by counter in key order. Returns one row per counter
    -- touched, \`crossed\` true when its spend passed its budget's soft threshold for the first time
    -- in the period, and \`settled\` the number of reservations found.
    CREATE FUNCTION ${schema}.budget_settle(p_ids text[], p_usd numeric, p_tokens bigint)
    RETURNS TABLE (budget_id text, period_key text, spent_usd numeric, spent_tokens bigint, crossed boolean, settled integer)
    LANGUAGE plpgsql AS $$
    #variable_conflict use_column
    DECLARE
      v_ids text[];
      v_keys text[];
      v_usd numeric[];
      v_tokens bigint[];
      v_count integer;
      v_was boolean;
      v_now boolean;
      v_spent_usd numeric;
      v_spent_tokens bigint;
    BEGIN
      WITH gone AS (
        DELETE FROM ${schema}.budget_reservations r WHERE r.id = ANY(p_ids) RETURNING r.budget_ids, r.period_keys, r.usd, r.tokens
      ), held AS (
        SELECT t.i, t.k, sum(g.usd) AS usd, sum(g.tokens)::bigint AS tokens
        FROM gone g, unnest(g.budget_ids, g.period_keys) AS t(i, k) GROUP BY t.i, t.k
      )
      SELECT (SELECT array_agg(h.i ORDER BY h.i, h.k) FROM held h), (SELECT array_agg(h.k ORDER BY h.i, h.k) FROM held h),
        (SELECT array_agg(h.usd ORDER BY h.i, h.k) FROM held h), (SELECT array_agg(h.tokens ORDER BY h.i, h.k) FROM held h),
        (SELECT count(*) FROM gone)::integer
      INTO v_ids, v_keys, v_usd, v_tokens, v_count;
      IF v_ids IS NOT NULL THEN
        FOR n IN 1 .. array_length(v_ids, 1) LOOP
          SELECT bc.alerted INTO v_was FROM ${schema}.budget_counters bc
            WHERE bc.budget_id = v_ids[n] AND bc.period_key = v_keys[n] FOR UPDATE;
          UPDATE ${schema}.budget_counters bc
            SET reserved_usd = GREATEST(bc.reserved_usd - v_usd[n], 0),
                reserved_tokens = GREATEST(bc.reserved_tokens - v_tokens[n], 0),
                spent_usd = bc.spent_usd + COALESCE(p_usd, 0),
                spent_tokens = bc.spent_tokens + COALESCE(p_tokens, 0),
                alerted = bc.alerted OR EXISTS (
                  SELECT 1 FROM ${schema}.budgets x WHERE x.id = bc.budget_id AND (
                    (x.limit_usd > 0 AND (bc.spent_usd + COALESCE(p_usd, 0)) * 100 >= x.limit_usd * x.soft_pct) OR
                    (x.limit_tokens > 0 AND (bc.spent_tokens + COALESCE(p_tokens, 0)) * 100 >= x.limit_tokens * x.soft_pct)))
            WHERE bc.budget_id = v_ids[n] AND bc.period_key = v_keys[n]
            RETURNING bc.alerted, bc.spent_usd, bc.spent_tokens INTO v_now, v_spent_usd, v_spent_tokens;
          budget_id := v_ids[n];
          period_key := v_keys[n];
          spent_usd := v_spent_usd;
          spent_tokens := v_spent_tokens;
          crossed := COALESCE(v_now, false) AND NOT COALESCE(v_was, false);
          settled := v_count;
          RETURN NEXT;
        END LOOP;
      END IF;
      IF v_count = 0 OR v_ids IS NULL THEN
        budget_id := NULL; period_key := NULL; spent_usd := NULL; spent_tokens := NULL; crossed := false;
        settled := v_count;
        RETURN NEXT;
      END IF;
    END
    $$;
  `,
};
