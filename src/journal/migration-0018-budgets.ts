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

    -- Reserves one model call's worst case against every budget that applies, all or nothing.
    -- Returns one row: status 'ok' (granted_output, usd, tokens held), 'none' (no budget applies:
    -- nothing held), 'exhausted' or 'price_unknown' (with the budget at fault and its counters).
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
      v_written bigint;
      v_ids text[] := '{}';
      v_keys text[] := '{}';
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

      -- The applicable budgets, in lock order.
      SELECT COALESCE(array_agg(a.id ORDER BY a.id, a.k), '{}'), COALESCE(array_agg(a.k ORDER BY a.id, a.k), '{}')
      INTO v_ids, v_keys
      FROM (
        SELECT x.id, CASE x.period WHEN 'hour' THEN p_hour WHEN 'day' THEN p_day WHEN 'month' THEN p_month
          WHEN 'total' THEN 'total' ELSE p_run END AS k
        FROM ${schema}.budgets x
        WHERE x.tenant_id = p_tenant AND (x.period <> 'run' OR p_run IS NOT NULL) AND (
          (x.scope = 'tenant' AND x.scope_id = p_tenant) OR (x.scope = 'agent' AND x.scope_id = p_agent)
          OR (x.scope = 'user' AND x.scope_id = p_user) OR (x.scope = 'session' AND x.scope_id = p_session)
          OR (x.scope = 'api_key' AND x.scope_id = p_api_key) OR (x.scope = 'run' AND x.scope_id = p_run))) a;
      IF array_length(v_ids, 1) IS NULL THEN
        RETURN QUERY SELECT 'none'::text, v_granted, v_prompt_usd + v_granted * v_output_usd, p_prompt_tokens + v_granted,
          NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::bigint,
          NULL::numeric, NULL::numeric, NULL::bigint, NULL::bigint;
        RETURN;
      END IF;
      -- The reservation row is written before any counter is locked, so the locks are held for
      -- as little work as possible (its amounts are corrected below when the grant narrows).
      v_written := v_granted;
      INSERT INTO ${schema}.budget_reservations
        (id, tenant_id, run_id, fence, api_key_id, holder, budget_ids, period_keys, usd, tokens)
      VALUES (p_id, p_tenant, p_run, p_fence, p_api_key, p_holder, v_ids, v_keys,
        v_prompt_usd + v_granted * v_output_usd, p_prompt_tokens + v_granted);
      -- Lock each counter (created when missing) in key order and check its budget.
      FOR n IN 1 .. array_length(v_ids, 1) LOOP
        SELECT * INTO b FROM ${schema}.budgets x WHERE x.id = v_ids[n];
        CONTINUE WHEN NOT FOUND;
        SELECT * INTO c FROM ${schema}.budget_counters bc
          WHERE bc.budget_id = v_ids[n] AND bc.period_key = v_keys[n] FOR UPDATE;
        IF NOT FOUND THEN
          INSERT INTO ${schema}.budget_counters (budget_id, period_key) VALUES (v_ids[n], v_keys[n]) ON CONFLICT DO NOTHING;
          SELECT * INTO c FROM ${schema}.budget_counters bc
            WHERE bc.budget_id = v_ids[n] AND bc.period_key = v_keys[n] FOR UPDATE;
        END IF;
        IF b.limit_usd IS NOT NULL AND NOT p_price_known THEN
          DELETE FROM ${schema}.budget_reservations r WHERE r.id = p_id;
          RETURN QUERY SELECT 'price_unknown'::text, 0::bigint, 0::numeric, 0::bigint, b.id, b.scope, b.scope_id,
            b.period, v_keys[n], b.limit_usd, b.limit_tokens, c.spent_usd, c.reserved_usd, c.spent_tokens, c.reserved_tokens;
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
          IF v_granted < p_min_output THEN
            DELETE FROM ${schema}.budget_reservations r WHERE r.id = p_id;
            RETURN QUERY SELECT 'exhausted'::text, 0::bigint, 0::numeric, 0::bigint, b.id, b.scope, b.scope_id,
              b.period, v_keys[n], b.limit_usd, b.limit_tokens, c.spent_usd, c.reserved_usd, c.spent_tokens,
              c.reserved_tokens;
            RETURN;
          END IF;
        END IF;
      END LOOP;
      UPDATE ${schema}.budget_counters bc
        SET reserved_usd = bc.reserved_usd + (v_prompt_usd + v_granted * v_output_usd),
            reserved_tokens = bc.reserved_tokens + (p_prompt_tokens + v_granted)
        FROM unnest(v_ids, v_keys) AS t(i, k)
        WHERE bc.budget_id = t.i AND bc.period_key = t.k;
      IF v_granted < v_written THEN
        UPDATE ${schema}.budget_reservations r
          SET usd = v_prompt_usd + v_granted * v_output_usd, tokens = p_prompt_tokens + v_granted
          WHERE r.id = p_id;
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
      v_crossed boolean;
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
          UPDATE ${schema}.budget_counters bc
            SET reserved_usd = GREATEST(bc.reserved_usd - v_usd[n], 0),
                reserved_tokens = GREATEST(bc.reserved_tokens - v_tokens[n], 0),
                spent_usd = bc.spent_usd + COALESCE(p_usd, 0),
                spent_tokens = bc.spent_tokens + COALESCE(p_tokens, 0)
            WHERE bc.budget_id = v_ids[n] AND bc.period_key = v_keys[n]
            -- Spend only grows within a period: it crosses a threshold in exactly one settlement.
            RETURNING bc.spent_usd, bc.spent_tokens, EXISTS (
              SELECT 1 FROM ${schema}.budgets x WHERE x.id = bc.budget_id AND (
                (x.limit_usd > 0 AND bc.spent_usd * 100 >= x.limit_usd * x.soft_pct
                  AND (bc.spent_usd - COALESCE(p_usd, 0)) * 100 < x.limit_usd * x.soft_pct) OR
                (x.limit_tokens > 0 AND bc.spent_tokens * 100 >= x.limit_tokens * x.soft_pct
                  AND (bc.spent_tokens - COALESCE(p_tokens, 0)) * 100 < x.limit_tokens * x.soft_pct)))
            INTO v_spent_usd, v_spent_tokens, v_crossed;
          budget_id := v_ids[n];
          period_key := v_keys[n];
          spent_usd := v_spent_usd;
          spent_tokens := v_spent_tokens;
          crossed := COALESCE(v_crossed, false);
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
