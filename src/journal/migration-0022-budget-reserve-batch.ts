import type { Migration } from './migrations.js';

/**
 * Budget reservations in batches (issue 10, reservation throughput): `budget_reserve_batch`
 * makes the reservations of many model calls in one statement, one transaction and one commit,
 * so a hot budget's counter row is locked (and its commit flushed) once per batch rather than
 * once per call. A process coalesces the reservations it makes concurrently into one call (see
 * `budgets/coalescer.ts`).
 *
 * Each entry is decided exactly as `budget_reserve` decides one call, in the order given, against
 * the counters as the entries before it left them: an entry that does not fit is refused
 * (`exhausted`, `price_unknown`) and the next one is still tried. Deadlock-free with
 * `budget_reserve`, `budget_settle` and other batches: every counter the batch may touch is
 * locked up front, one by one in (budget_id, period_key) order (created when missing, just
 * before its lock), the order those take them in too. The counters are then updated once each, with the batch's total.
 *
 * Entries (`p_calls`, a JSON array) carry `budget_reserve`'s parameters under short names:
 * `n` (the entry's number, echoed in its result row), `id`, `tenant`, `agent`, `user`,
 * `session`, `api_key`, `run`, `fence`, `holder`, `hour`, `day`, `month` (the period keys), `input_per_m`, `output_per_m` (decimal
 * strings), `price_known`, `prompt`, `max_output`, `min_output`, `run_remaining_usd`,
 * `run_remaining_tokens`, `run_limit_usd`, `run_limit_tokens`. One result row per entry.
 *
 * `budget_settle_batch` does the same for settlements: the calls a process settles at once give
 * their holds back and charge their spend with one update of each counter.
 */
export const budgetReserveBatchMigration: Migration = {
  version: 22,
  name: 'budget_reserve_batch',
  up: (schema) => `
    CREATE FUNCTION ${schema}.budget_reserve_batch(p_calls jsonb)
    RETURNS TABLE (
      n integer, status text, granted_output bigint, usd numeric, tokens bigint,
      budget_id text, scope text, scope_id text, period text, period_key text,
      limit_usd numeric, limit_tokens bigint, spent_usd numeric, reserved_usd numeric,
      spent_tokens bigint, reserved_tokens bigint
    ) LANGUAGE plpgsql AS $$
    #variable_conflict use_column
    DECLARE
      e record;
      t record;
      b record;
      c record;
      -- Which counters apply to which entry, ordered by entry then counter.
      a_n integer[];
      a_id text[];
      a_key text[];
      a_at integer := 1;
      -- Every counter the batch touches, locked, in lock order, with its budget and what the
      -- batch adds to it (u_add_*).
      u_pair text[] := '{}';
      u_id text[] := '{}';
      u_key text[] := '{}';
      u_scope text[] := '{}';
      u_scope_id text[] := '{}';
      u_period text[] := '{}';
      u_limit_usd numeric[] := '{}';
      u_limit_tokens bigint[] := '{}';
      u_spent_usd numeric[] := '{}';
      u_reserved_usd numeric[] := '{}';
      u_spent_tokens bigint[] := '{}';
      u_reserved_tokens bigint[] := '{}';
      u_add_usd numeric[] := '{}';
      u_add_tokens bigint[] := '{}';
      v_mine integer[];
      v_i integer;
      v_refused boolean;
      v_granted bigint;
      v_afford bigint;
      v_left numeric;
      v_prompt_usd numeric;
      v_output_usd numeric;
    BEGIN
      SELECT COALESCE(array_agg(x.n ORDER BY x.n, x.id, x.k), '{}'), COALESCE(array_agg(x.id ORDER BY x.n, x.id, x.k), '{}'),
        COALESCE(array_agg(x.k ORDER BY x.n, x.id, x.k), '{}')
      INTO a_n, a_id, a_key
      FROM (
        SELECT c.n, b.id, CASE b.period WHEN 'hour' THEN c.hour WHEN 'day' THEN c.day WHEN 'month' THEN c.month
          WHEN 'total' THEN 'total' ELSE c.run END AS k
        FROM jsonb_to_recordset(p_calls) AS c(n integer, tenant text, agent text, "user" text, session text,
          api_key text, run text, hour text, day text, month text)
        JOIN ${schema}.budgets b ON b.tenant_id = c.tenant AND (b.period <> 'run' OR c.run IS NOT NULL) AND (
          (b.scope = 'tenant' AND b.scope_id = c.tenant) OR (b.scope = 'agent' AND b.scope_id = c.agent)
          OR (b.scope = 'user' AND b.scope_id = c."user") OR (b.scope = 'session' AND b.scope_id = c.session)
          OR (b.scope = 'api_key' AND b.scope_id = c.api_key) OR (b.scope = 'run' AND b.scope_id = c.run))) x;

      -- Every counter the batch may touch, one at a time in lock order, created when missing, as
      -- budget_reserve does: no two statements ever wait for each other in a cycle.
      FOR t IN SELECT DISTINCT x.i, x.k FROM unnest(a_id, a_key) AS x(i, k) ORDER BY x.i, x.k LOOP
        SELECT * INTO b FROM ${schema}.budgets x WHERE x.id = t.i;
        CONTINUE WHEN NOT FOUND;
        SELECT * INTO c FROM ${schema}.budget_counters bc
          WHERE bc.budget_id = t.i AND bc.period_key = t.k FOR UPDATE;
        IF NOT FOUND THEN
          INSERT INTO ${schema}.budget_counters (budget_id, period_key) VALUES (t.i, t.k) ON CONFLICT DO NOTHING;
          SELECT * INTO c FROM ${schema}.budget_counters bc
            WHERE bc.budget_id = t.i AND bc.period_key = t.k FOR UPDATE;
        END IF;
        u_pair := array_append(u_pair, t.i || chr(31) || t.k);
        u_id := array_append(u_id, t.i);
        u_key := array_append(u_key, t.k);
        u_scope := array_append(u_scope, b.scope);
        u_scope_id := array_append(u_scope_id, b.scope_id);
        u_period := array_append(u_period, b.period);
        u_limit_usd := array_append(u_limit_usd, b.limit_usd);
        u_limit_tokens := array_append(u_limit_tokens, b.limit_tokens);
        u_spent_usd := array_append(u_spent_usd, c.spent_usd);
        u_reserved_usd := array_append(u_reserved_usd, c.reserved_usd);
        u_spent_tokens := array_append(u_spent_tokens, c.spent_tokens);
        u_reserved_tokens := array_append(u_reserved_tokens, c.reserved_tokens);
        u_add_usd := array_append(u_add_usd, 0::numeric);
        u_add_tokens := array_append(u_add_tokens, 0::bigint);
      END LOOP;

      FOR e IN
        SELECT * FROM jsonb_to_recordset(p_calls) AS c(n integer, id text, tenant text, api_key text, run text,
          fence bigint, holder text, input_per_m numeric, output_per_m numeric, price_known boolean, prompt bigint,
          max_output bigint, min_output bigint, run_remaining_usd numeric, run_remaining_tokens bigint,
          run_limit_usd numeric, run_limit_tokens bigint)
        ORDER BY c.n
      LOOP
        v_granted := e.max_output;
        v_prompt_usd := COALESCE(e.prompt * e.input_per_m / 1000000, 0);
        v_output_usd := COALESCE(e.output_per_m / 1000000, 0);
        -- The counters of this entry (positions in u_*), in lock order.
        v_mine := '{}';
        WHILE a_at <= COALESCE(array_length(a_n, 1), 0) AND a_n[a_at] < e.n LOOP
          a_at := a_at + 1;
        END LOOP;
        WHILE a_at <= COALESCE(array_length(a_n, 1), 0) AND a_n[a_at] = e.n LOOP
          v_i := array_position(u_pair, a_id[a_at] || chr(31) || a_key[a_at]);
          -- A budget deleted since the look-up has no counter left: it no longer applies.
          IF v_i IS NOT NULL THEN
            v_mine := v_mine || v_i;
          END IF;
          a_at := a_at + 1;
        END LOOP;

        -- The implicit per-run budget, as in budget_reserve.
        IF e.run_remaining_usd IS NOT NULL AND NOT e.price_known THEN
          RETURN QUERY SELECT e.n, 'price_unknown'::text, 0::bigint, 0::numeric, 0::bigint, 'run:' || e.run, 'run'::text,
            e.run, 'run'::text, e.run, e.run_limit_usd, e.run_limit_tokens, 0::numeric, 0::numeric, 0::bigint, 0::bigint;
          CONTINUE;
        END IF;
        IF e.run_remaining_usd IS NOT NULL AND v_output_usd > 0 THEN
          v_granted := LEAST(v_granted, floor((e.run_remaining_usd - v_prompt_usd) / v_output_usd)::bigint);
        ELSIF e.run_remaining_usd IS NOT NULL AND v_prompt_usd > e.run_remaining_usd THEN
          v_granted := -1;
        END IF;
        IF e.run_remaining_tokens IS NOT NULL THEN
          v_granted := LEAST(v_granted, e.run_remaining_tokens - e.prompt);
        END IF;
        IF v_granted < e.min_output THEN
          RETURN QUERY SELECT e.n, 'exhausted'::text, 0::bigint, 0::numeric, 0::bigint, 'run:' || e.run, 'run'::text,
            e.run, 'run'::text, e.run, e.run_limit_usd, e.run_limit_tokens,
            e.run_limit_usd - e.run_remaining_usd, 0::numeric, e.run_limit_tokens - e.run_remaining_tokens, 0::bigint;
          CONTINUE;
        END IF;

        IF array_length(v_mine, 1) IS NULL THEN
          RETURN QUERY SELECT e.n, 'none'::text, v_granted, v_prompt_usd + v_granted * v_output_usd, e.prompt + v_granted,
            NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::bigint,
            NULL::numeric, NULL::numeric, NULL::bigint, NULL::bigint;
          CONTINUE;
        END IF;

        -- Each budget in lock order, against spend plus what is held, this batch's holds included.
        v_refused := false;
        FOREACH v_i IN ARRAY v_mine LOOP
          IF u_limit_usd[v_i] IS NOT NULL AND NOT e.price_known THEN
            RETURN QUERY SELECT e.n, 'price_unknown'::text, 0::bigint, 0::numeric, 0::bigint, u_id[v_i], u_scope[v_i],
              u_scope_id[v_i], u_period[v_i], u_key[v_i], u_limit_usd[v_i], u_limit_tokens[v_i], u_spent_usd[v_i],
              u_reserved_usd[v_i] + u_add_usd[v_i], u_spent_tokens[v_i], u_reserved_tokens[v_i] + u_add_tokens[v_i];
            v_refused := true;
            EXIT;
          END IF;
          v_afford := NULL;
          IF u_limit_usd[v_i] IS NOT NULL THEN
            v_left := u_limit_usd[v_i] - u_spent_usd[v_i] - u_reserved_usd[v_i] - u_add_usd[v_i];
            IF v_output_usd > 0 THEN
              v_afford := floor((v_left - v_prompt_usd) / v_output_usd)::bigint;
            ELSIF v_left < v_prompt_usd OR v_left <= 0 THEN
              v_afford := -1;
            END IF;
          END IF;
          IF u_limit_tokens[v_i] IS NOT NULL THEN
            v_afford := LEAST(COALESCE(v_afford, u_limit_tokens[v_i]),
              u_limit_tokens[v_i] - u_spent_tokens[v_i] - u_reserved_tokens[v_i] - u_add_tokens[v_i] - e.prompt);
          END IF;
          IF v_afford IS NOT NULL AND v_afford < v_granted THEN
            v_granted := v_afford;
            IF v_granted < e.min_output THEN
              RETURN QUERY SELECT e.n, 'exhausted'::text, 0::bigint, 0::numeric, 0::bigint, u_id[v_i], u_scope[v_i],
                u_scope_id[v_i], u_period[v_i], u_key[v_i], u_limit_usd[v_i], u_limit_tokens[v_i], u_spent_usd[v_i],
                u_reserved_usd[v_i] + u_add_usd[v_i], u_spent_tokens[v_i], u_reserved_tokens[v_i] + u_add_tokens[v_i];
              v_refused := true;
              EXIT;
            END IF;
          END IF;
        END LOOP;
        CONTINUE WHEN v_refused;

        FOREACH v_i IN ARRAY v_mine LOOP
          u_add_usd[v_i] := u_add_usd[v_i] + (v_prompt_usd + v_granted * v_output_usd);
          u_add_tokens[v_i] := u_add_tokens[v_i] + (e.prompt + v_granted);
        END LOOP;
        INSERT INTO ${schema}.budget_reservations
          (id, tenant_id, run_id, fence, api_key_id, holder, budget_ids, period_keys, usd, tokens)
        SELECT e.id, e.tenant, e.run, e.fence, e.api_key, e.holder, array_agg(u_id[m.i] ORDER BY m.o),
          array_agg(u_key[m.i] ORDER BY m.o), v_prompt_usd + v_granted * v_output_usd, e.prompt + v_granted
        FROM unnest(v_mine) WITH ORDINALITY AS m(i, o);
        RETURN QUERY SELECT e.n, 'ok'::text, v_granted, v_prompt_usd + v_granted * v_output_usd, e.prompt + v_granted,
          NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::numeric, NULL::bigint,
          NULL::numeric, NULL::numeric, NULL::bigint, NULL::bigint;
      END LOOP;

      IF array_length(u_id, 1) IS NOT NULL THEN
        UPDATE ${schema}.budget_counters bc
          SET reserved_usd = bc.reserved_usd + t.u, reserved_tokens = bc.reserved_tokens + t.tk
          FROM unnest(u_id, u_key, u_add_usd, u_add_tokens) AS t(i, k, u, tk)
          WHERE bc.budget_id = t.i AND bc.period_key = t.k AND (t.u <> 0 OR t.tk <> 0);
      END IF;
    END
    $$;

    -- Settles many reservations, each with its own spend (p_settles: a JSON array of
    -- {id, usd, tokens}, usd a decimal string, either null to charge nothing), as budget_settle
    -- settles one: the reservations are deleted first (so each is given back at most once), then
    -- each counter touched is updated once, in key order, with the batch's totals. One row per
    -- counter, \`crossed\` true when the batch took its spend past the soft threshold.
    CREATE FUNCTION ${schema}.budget_settle_batch(p_settles jsonb)
    RETURNS TABLE (budget_id text, period_key text, spent_usd numeric, spent_tokens bigint, crossed boolean, settled integer)
    LANGUAGE plpgsql AS $$
    #variable_conflict use_column
    DECLARE
      v_ids text[];
      v_keys text[];
      v_held_usd numeric[];
      v_held_tokens bigint[];
      v_add_usd numeric[];
      v_add_tokens bigint[];
      v_count integer;
      v_crossed boolean;
      v_spent_usd numeric;
      v_spent_tokens bigint;
    BEGIN
      WITH s AS (
        SELECT * FROM jsonb_to_recordset(p_settles) AS s(id text, usd numeric, tokens bigint)
      ), gone AS (
        DELETE FROM ${schema}.budget_reservations r USING s WHERE r.id = s.id
        RETURNING r.budget_ids, r.period_keys, r.usd AS held_usd, r.tokens AS held_tokens, s.usd, s.tokens
      ), held AS (
        SELECT t.i, t.k, sum(g.held_usd) AS hu, sum(g.held_tokens)::bigint AS ht,
          COALESCE(sum(g.usd), 0) AS add_usd, COALESCE(sum(g.tokens), 0)::bigint AS add_tokens
        FROM gone g, unnest(g.budget_ids, g.period_keys) AS t(i, k) GROUP BY t.i, t.k
      )
      SELECT (SELECT array_agg(h.i ORDER BY h.i, h.k) FROM held h), (SELECT array_agg(h.k ORDER BY h.i, h.k) FROM held h),
        (SELECT array_agg(h.hu ORDER BY h.i, h.k) FROM held h), (SELECT array_agg(h.ht ORDER BY h.i, h.k) FROM held h),
        (SELECT array_agg(h.add_usd ORDER BY h.i, h.k) FROM held h), (SELECT array_agg(h.add_tokens ORDER BY h.i, h.k) FROM held h),
        (SELECT count(*) FROM gone)::integer
      INTO v_ids, v_keys, v_held_usd, v_held_tokens, v_add_usd, v_add_tokens, v_count;
      IF v_ids IS NOT NULL THEN
        FOR n IN 1 .. array_length(v_ids, 1) LOOP
          UPDATE ${schema}.budget_counters bc
            SET reserved_usd = GREATEST(bc.reserved_usd - v_held_usd[n], 0),
                reserved_tokens = GREATEST(bc.reserved_tokens - v_held_tokens[n], 0),
                spent_usd = bc.spent_usd + v_add_usd[n],
                spent_tokens = bc.spent_tokens + v_add_tokens[n]
            WHERE bc.budget_id = v_ids[n] AND bc.period_key = v_keys[n]
            RETURNING bc.spent_usd, bc.spent_tokens, EXISTS (
              SELECT 1 FROM ${schema}.budgets x WHERE x.id = bc.budget_id AND (
                (x.limit_usd > 0 AND bc.spent_usd * 100 >= x.limit_usd * x.soft_pct
                  AND (bc.spent_usd - v_add_usd[n]) * 100 < x.limit_usd * x.soft_pct) OR
                (x.limit_tokens > 0 AND bc.spent_tokens * 100 >= x.limit_tokens * x.soft_pct
                  AND (bc.spent_tokens - v_add_tokens[n]) * 100 < x.limit_tokens * x.soft_pct)))
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
