#!/usr/bin/env node
// Analytics over a large journal (issue 9): p50 latency of `GET /v1/analytics/summary`'s query
// (the analytics store, as the route calls it) and of a filtered runs page (the journal store's
// listRuns, as `GET /v1/runs?agent=&user_id=` calls it), over 100,000 runs and 1,000,000 steps
// on Postgres, next to floors: the bare queries any answer must at least run.
//
//   npm run build && node bench/analytics/measure.js        (or: node bench/run.js analytics)
//
// Settings: KEEL_BENCH_ANALYTICS_RUNS (default 100000; 10 steps each), KEEL_BENCH_ANALYTICS_REPS
// (timed repetitions per query, default 15, after 2 untimed). The database
// keel_bench_analytics_keel_<run id> (lib/db.js) is created afresh and dropped at the end. Prints a markdown table and
// the JSON result on the last line (for run.js). KEEL_BENCH_ANALYTICS_KEEP=1 keeps the database
// (to EXPLAIN a query by hand; its name is printed on stderr; drop it with `dropdb <name>`, or
// a later run.js drops it once it is an hour old).
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import { report } from '../lib/child.js';
import { benchDatabase, dropDatabase, freshDatabase } from '../lib/db.js';
import { KeelUnavailableError, loadKeel } from '../lib/keel.js';
import { median } from '../lib/stats.js';

const RUNS = Number(process.env.KEEL_BENCH_ANALYTICS_RUNS ?? 100_000);
const STEPS_PER_RUN = 10;
const REPS = Number(process.env.KEEL_BENCH_ANALYTICS_REPS ?? 15);
const DATABASE = benchDatabase('keel_bench_analytics_keel');
const TENANT = 'bench';

/** 100k runs over the last 7 days; 10 steps each (model, tool alternating); outcomes, feedback, gateway calls. */
async function seed(client) {
  await client.query(`
    INSERT INTO keel.runs (id, tenant_id, agent, status, stop_reason, prompt_version, user_id, trigger,
      created_at, started_at, ended_at, cost_usd, input_tokens, output_tokens, step_count, attempts, metadata)
    SELECT 'run_' || lpad(i::text, 8, '0'), '${TENANT}', 'agent_' || (i % 10), st.status, st.stop_reason,
      'code:' || (i % 3), 'user_' || (i % 1000), 'api',
      t.created, t.created + interval '5 ms', t.created + (200 + (i * 7919) % 5000) * interval '1 ms',
      ((i * 31) % 1000) / 100000.0, 1000, 200, ${STEPS_PER_RUN}, 1, '{}'
    FROM generate_series(1, ${RUNS}) AS i,
      LATERAL (SELECT now() - interval '7 days' + (i::float8 / ${RUNS}) * interval '6 days 23 hours' AS created) t,
      LATERAL (SELECT CASE WHEN i % 50 = 0 THEN 'cancelled' WHEN i % 12 = 0 THEN 'failed' ELSE 'completed' END AS status,
                      CASE WHEN i % 50 = 0 THEN 'cancelled' WHEN i % 12 = 0 THEN 'error' ELSE 'completed' END AS stop_reason) st`);
  await client.query(`
    INSERT INTO keel.steps (run_id, seq, kind, name, input_hash, status, attempt, started_at, ended_at,
      input_tokens, output_tokens, cost_usd, error, prior_executions)
    SELECT r.id, s.seq, CASE WHEN s.seq % 2 = 1 THEN 'model' ELSE 'tool' END,
      CASE WHEN s.seq % 2 = 1 THEN 'openai:gpt-4o-mini' ELSE 'tool_' || (s.seq / 2) END, 'h',
      CASE WHEN s.seq % 2 = 0 AND (hashtext(r.id) + s.seq) % 33 = 0 THEN 'failed' ELSE 'completed' END,
      CASE WHEN s.seq % 2 = 1 AND (hashtext(r.id) + s.seq) % 50 = 0 THEN 2 ELSE 1 END,
      r.started_at, r.started_at + interval '10 ms', 100, 20, r.cost_usd / 5,
      CASE WHEN s.seq % 2 = 0 AND (hashtext(r.id) + s.seq) % 33 = 0 THEN '{"code":"tool_error"}'::jsonb END,
      CASE WHEN s.seq % 2 = 1 AND (hashtext(r.id) + s.seq) % 200 = 0
        THEN '[{"attempt":1,"started_at":"2026-01-01T00:00:00Z","end":"abandoned"}]'::jsonb END
    FROM keel.runs r, generate_series(1, ${STEPS_PER_RUN}) AS s(seq)`);
  await client.query(`
    INSERT INTO keel.run_outcomes (run_id, tenant_id, status, decided_at, decided_by_key)
    SELECT id, tenant_id, CASE WHEN hashtext(id) % 10 = 0 THEN 'rejected' ELSE 'committed' END, ended_at, 'key_bench'
    FROM keel.runs WHERE hashtext(id) % 2 = 0`);
  await client.query(`
    INSERT INTO keel.run_feedback (id, run_id, tenant_id, thumbs, score, created_by, created_at)
    SELECT 'fb_' || id, id, tenant_id, CASE WHEN hashtext(id) % 3 = 0 THEN 'down' ELSE 'up' END,
      (abs(hashtext(id)) % 100) / 100.0, 'key:bench', ended_at
    FROM keel.runs WHERE hashtext(id) % 20 = 0`);
  await client.query(`
    INSERT INTO keel.gateway_calls (id, tenant_id, key_id, endpoint, route, deployment, provider, model, attempts,
      cached, input_tokens, output_tokens, cost_usd, latency_ms, overhead_ms, outcome, started_at)
    SELECT 'gw_' || i, '${TENANT}', 'key_' || (i % 20), 'chat', 'default', 'd1', 'openai', 'gpt-4o-mini', 1, false,
      100, 20, 0.0001, 50, 1, CASE WHEN i % 40 = 0 THEN 'error' ELSE 'ok' END,
      now() - (i % 10000) * interval '1 minute'
    FROM generate_series(1, ${RUNS / 2}) AS i`);
}

/**
 * Migrates the database as Keel did before migration 16 (the runs' step facts), so that the
 * seeded runs are an existing journal and opening the store runs that migration's backfill.
 */
async function migrateBeforeStepFacts(client) {
  let migrations;
  try {
    ({ migrations } = await import('../../dist/journal/migrations.js'));
  } catch (error) {
    throw new KeelUnavailableError(`cannot import Keel's migrations: ${error.message.split('\n')[0]}`);
  }
  await client.query(`CREATE SCHEMA keel;
    CREATE TABLE keel.migrations (version integer PRIMARY KEY, name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
  for (const migration of migrations.filter((candidate) => candidate.version < 16)) {
    await client.query(migration.up('keel'));
    await client.query('INSERT INTO keel.migrations (version, name) VALUES ($1, $2)', [
      migration.version,
      migration.name,
    ]);
  }
}

async function time(fn) {
  for (let i = 0; i < 2; i++) await fn();
  const samples = [];
  for (let i = 0; i < REPS; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(samples);
}

async function main() {
  const keel = await loadKeel(['createAnalytics', 'openStore']);
  const url = await freshDatabase(DATABASE);
  const raw = new pg.Client({ connectionString: url });
  await raw.connect();
  let store;
  try {
    await migrateBeforeStepFacts(raw);
    const seedStart = Date.now();
    await seed(raw);
    const seedSeconds = (Date.now() - seedStart) / 1000;
    // Opening the store applies migration 16: its backfill writes the ended runs' step facts.
    const backfillStart = Date.now();
    const opened = await keel.openStore({ databaseUrl: url, maxConnections: 4 });
    store = opened.store;
    const backfillSeconds = (Date.now() - backfillStart) / 1000;
    await raw.query('VACUUM ANALYZE');
    const analytics = keel.createAnalytics({ client: opened.client });
    // The API's default window: the 7 days before now.
    const window = { from: new Date(Date.now() - 7 * 24 * 3600 * 1000), to: new Date() };
    const from = window.from.toISOString();
    const to = window.to.toISOString();
    const rows = [];
    const measure = async (name, target, query, floorName, floor) => {
      const ms = await time(query);
      const floorMs = floor ? await time(floor) : undefined;
      rows.push({ name, ms, target, floorName, floorMs });
    };
    const rawQuery = (sql, params) => () => raw.query(sql, params);
    await measure(
      'summary (tenant, 7 days)',
      150,
      () => analytics.summary({ window, tenantId: TENANT }),
      "count(*) of the window's runs ⋈ steps",
      rawQuery(
        `SELECT count(*) FROM keel.runs r JOIN keel.steps s ON s.run_id = r.id
         WHERE r.tenant_id = $1 AND r.created_at >= $2 AND r.created_at < $3`,
        [TENANT, from, to],
      ),
    );
    await measure(
      'summary group_by=agent',
      150,
      () => analytics.summary({ window, tenantId: TENANT, groupBy: 'agent' }),
      "count(*) of the window's runs",
      rawQuery(
        `SELECT count(*) FROM keel.runs r WHERE r.tenant_id = $1 AND r.created_at >= $2 AND r.created_at < $3`,
        [TENANT, from, to],
      ),
    );
    await measure(
      'summary group_by=day',
      150,
      () => analytics.summary({ window, tenantId: TENANT, groupBy: 'day' }),
      "one pass over the window's runs: count, sum, 3 percentiles",
      rawQuery(
        `SELECT count(*), sum(cost_usd),
           percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ended_at - started_at)
         FROM keel.runs r WHERE r.tenant_id = $1 AND r.created_at >= $2 AND r.created_at < $3`,
        [TENANT, from, to],
      ),
    );
    await measure(
      'summary, agent=agent_3',
      150,
      () => analytics.summary({ window, tenantId: TENANT, agent: 'agent_3' }),
      'count(*) of its runs ⋈ steps',
      rawQuery(
        `SELECT count(*) FROM keel.runs r JOIN keel.steps s ON s.run_id = r.id
         WHERE r.tenant_id = $1 AND r.agent = 'agent_3' AND r.created_at >= $2 AND r.created_at < $3`,
        [TENANT, from, to],
      ),
    );
    await measure('compare two prompt versions', undefined, () =>
      analytics.compare({
        // What GET /v1/analytics/compare?agent=agent_3&a_version=code:0&b_version=code:1 asks.
        sides: {
          mode: 'versions',
          a: { window, promptVersion: 'code:0' },
          b: { window, promptVersion: 'code:1' },
        },
        tenantId: TENANT,
        agent: 'agent_3',
      }),
    );
    await measure(
      'runs page: agent + user_id (listRuns, 50)',
      20,
      () => store.listRuns({ tenantId: TENANT, agent: 'agent_3', userId: 'user_13', limit: 50 }),
      'SELECT count(*) FROM runs',
      rawQuery('SELECT count(*) FROM keel.runs'),
    );
    const counts = await raw.query(
      `SELECT (SELECT count(*) FROM keel.runs)::int AS runs, (SELECT count(*) FROM keel.steps)::int AS steps`,
    );
    const { runs, steps } = counts.rows[0];
    const fmt = (value) => (value === undefined ? '–' : value.toFixed(1));
    const lines = [
      `## (f) Analytics on Postgres: ${runs.toLocaleString('en')} runs, ${steps.toLocaleString('en')} steps`,
      '',
      `p50 of ${REPS} after 2 untimed; seeded in ${seedSeconds.toFixed(0)} s; migration 16's backfill of the step facts ${backfillSeconds.toFixed(1)} s; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores.`,
      '',
      '| query | Keel p50 ms | target | floor | floor p50 ms |',
      '| --- | --- | --- | --- | --- |',
      ...rows.map(
        (row) =>
          `| ${row.name} | ${fmt(row.ms)} | ${row.target === undefined ? '–' : `≤ ${row.target} ms ${row.ms <= row.target ? '**met**' : '**missed**'}`} | ${row.floorName ?? '–'} | ${fmt(row.floorMs)} |`,
      ),
    ];
    const markdown = lines.join('\n');
    console.log(`\n${markdown}\n`);
    report({ runs, steps, reps: REPS, rows, backfillSeconds, markdown });
  } finally {
    await store?.close();
    await raw.end();
    if (process.env.KEEL_BENCH_ANALYTICS_KEEP !== '1') await dropDatabase(DATABASE);
    else console.error(`kept the database ${DATABASE}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
