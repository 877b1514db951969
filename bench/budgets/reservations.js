#!/usr/bin/env node
// Budget reservations on one hot budget (issue 10): every model call of every run of a tenant
// reserves against the same tenant budget, so its counter row is the one lock they all take.
// Measures reservations/s and latency (p50, p99) of `BudgetStore.reserve` at several numbers of
// calls in flight, two ways: one `budget_reserve` statement per call (`coalesce: false`, the
// design before 2026-12-06) and coalesced (the default: the calls one process makes at once go
// as one `budget_reserve_batch` statement, one lock and one commit per batch). Beside them, the
// floor: a plain single-row `UPDATE ... SET n = n + 1` per call on the same Postgres, pool and
// concurrency, the least a design that commits every call on one shared row can pay. Also the
// full reserve + settle cycle at the middle concurrency, and the batch width (in-flight batches).
//
//   npm run build && node bench/budgets/reservations.js
//
// Settings: KEEL_BENCH_BUDGETS_CONCURRENCY (calls in flight, a comma list, default 1,8,32,64),
// KEEL_BENCH_BUDGETS_SECONDS (per cell and round, default 3), KEEL_BENCH_BUDGETS_ROUNDS (default
// 3: every cell runs once per round, the median round is shown), KEEL_BENCH_BUDGETS_POOL
// (connections, default 32: more calls in flight than that wait for a connection). The database keel_bench_budgets_keel
// is created afresh and dropped at the end. Prints a markdown table and the JSON result on the
// last line.
//
// LiteLLM is not run here (Python, and its budget path needs its proxy and Redis). Its design
// differs: each replica keeps spend in memory and syncs it to the database periodically, so the
// hot path costs no database round trip, but N replicas can each let calls through until their
// next sync (the overshoot reported in LiteLLM #34732 and #40095). Keel locks the shared counter
// for every call (once per batch of a process's concurrent calls) and never overshoots, whatever
// the number of replicas.
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { report } from '../lib/child.js';
import { benchDatabase, dropDatabase, freshDatabase } from '../lib/db.js';
import { KeelUnavailableError, loadKeel } from '../lib/keel.js';

const CONCURRENCIES = (process.env.KEEL_BENCH_BUDGETS_CONCURRENCY ?? '1,8,32,64')
  .split(',')
  .map((value) => Number(value.trim()));
const POOL = Number(process.env.KEEL_BENCH_BUDGETS_POOL ?? 32);
const SECONDS = Number(process.env.KEEL_BENCH_BUDGETS_SECONDS ?? 3);
const ROUNDS = Number(process.env.KEEL_BENCH_BUDGETS_ROUNDS ?? 3);
const DATABASE = benchDatabase('keel_bench_budgets_keel');

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Runs `op` from `concurrency` loops for SECONDS (after a 0.5 s warm-up); ops/s and latencies. */
async function measure(concurrency, op) {
  const warmUntil = performance.now() + 500;
  const loops = Array.from({ length: concurrency }, async () => {
    while (performance.now() < warmUntil) await op();
  });
  await Promise.all(loops);
  const latencies = [];
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const at = performance.now();
        await op();
        latencies.push(performance.now() - at);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    opsPerSecond: Math.round(latencies.length / elapsed),
    p50Ms: Number(percentile(latencies, 50).toFixed(2)),
    p99Ms: Number(percentile(latencies, 99).toFixed(2)),
    ops: latencies.length,
  };
}

async function main() {
  let keel;
  try {
    keel = await loadKeel(['openStore', 'createBudgetStore']);
  } catch (error) {
    if (error instanceof KeelUnavailableError) {
      console.log(`Keel: not available (${error.message})`);
      return;
    }
    throw error;
  }
  const url = await freshDatabase(DATABASE);
  const { store, client } = await keel.openStore({ databaseUrl: url, maxConnections: POOL });
  try {
    const coalesced = keel.createBudgetStore({ client });
    const perCall = keel.createBudgetStore({ client, coalesce: false });
    // One hot tenant budget, large enough never to run out during the run.
    await coalesced.create(
      'bench',
      { scope: 'tenant', scopeId: 'bench', period: 'day', limitUsd: 1e6 },
      'bench',
    );
    let run = 0;
    const reserveWith = (budgets) => () =>
      budgets.reserve({
        tenantId: 'bench',
        agent: 'planner',
        runId: `run_${++run}`,
        fence: 1,
        holder: 'bench',
        model: { provider: 'openai', modelId: 'gpt-4o-mini' },
        promptTokens: 1200,
        maxOutputTokens: 800,
      });
    // A tenant with no budget at all: asked in the database, or known from the process's cache.
    const uncached = keel.createBudgetStore({ client, coalesce: false, budgetlessCacheMs: 0 });
    const freeWith = (budgets) => () =>
      budgets.reserve({
        tenantId: 'free',
        holder: 'bench',
        model: { provider: 'openai', modelId: 'gpt-4o-mini' },
        promptTokens: 1200,
        maxOutputTokens: 800,
      });
    const cycleWith = (budgets) => {
      const reserve = reserveWith(budgets);
      return async () => {
        const held = await reserve();
        await budgets.settle(held.id, { costUsd: 0.0004, tokens: 1500 });
      };
    };
    await client.exec(
      'CREATE TABLE bench_counter (id int PRIMARY KEY, n bigint NOT NULL); INSERT INTO bench_counter VALUES (1, 0);',
    );
    const floorOp = () => client.query('UPDATE bench_counter SET n = n + 1 WHERE id = 1');
    const middle = CONCURRENCIES.includes(32) ? 32 : CONCURRENCIES[CONCURRENCIES.length - 1];
    const narrow = keel.createBudgetStore({ client, coalesce: { maxInFlight: 1 } });
    const wide = keel.createBudgetStore({ client, coalesce: { maxInFlight: 4 } });
    // Every cell once per round, rounds one after the other: load that drifts during the run
    // (this machine is shared) falls on every cell alike. Each cell reports its median round.
    const plan = [
      ...CONCURRENCIES.flatMap((concurrency) => [
        { key: `floor@${concurrency}`, concurrency, op: floorOp },
        { key: `single@${concurrency}`, concurrency, op: reserveWith(perCall) },
        { key: `batched@${concurrency}`, concurrency, op: reserveWith(coalesced) },
      ]),
      { key: 'width1', concurrency: middle, op: reserveWith(narrow) },
      { key: 'width4', concurrency: middle, op: reserveWith(wide) },
      { key: 'cycleSingle', concurrency: middle, op: cycleWith(perCall) },
      { key: 'cycleBatched', concurrency: middle, op: cycleWith(coalesced) },
      { key: 'freeAsked', concurrency: 1, op: freeWith(uncached) },
      { key: 'freeCached', concurrency: 1, op: freeWith(coalesced) },
    ];
    const rounds = new Map(plan.map((cell) => [cell.key, []]));
    for (let round = 0; round < ROUNDS; round++)
      for (const cell of plan) rounds.get(cell.key).push(await measure(cell.concurrency, cell.op));
    const median = (key) => {
      const results = [...rounds.get(key)].sort((a, b) => a.opsPerSecond - b.opsPerSecond);
      return results[Math.floor(results.length / 2)];
    };
    const cells = CONCURRENCIES.map((concurrency) => ({
      concurrency,
      floor: median(`floor@${concurrency}`),
      single: median(`single@${concurrency}`),
      batched: median(`batched@${concurrency}`),
    }));
    const widths = [
      { maxInFlight: 1, ...median('width1') },
      { maxInFlight: 4, ...median('width4') },
    ];
    const cycleSingle = median('cycleSingle');
    const cycleBatched = median('cycleBatched');

    // Exactness: the hot counter holds exactly what the reservation rows hold.
    const [hot] = await coalesced.list('bench');
    const held = await client.query('SELECT sum(usd)::text AS usd FROM keel.budget_reservations');
    const rowsUsd = Number(held.rows[0]?.usd ?? 0);

    console.log(
      `\nBudget reservations on one hot budget, Postgres, median of ${ROUNDS} rounds of ${SECONDS} s per cell, pool of ${POOL}, ` +
        `${cpus().length} cores, load ${loadavg()[0].toFixed(2)}\n`,
    );
    console.log(
      '| in flight | floor: 1-row UPDATE/s (p99 ms) | Keel, one statement per call/s (p99 ms) | Keel, coalesced/s (p99 ms) |',
    );
    console.log('| ---: | ---: | ---: | ---: |');
    const cell = (result) => `${result.opsPerSecond} (${result.p99Ms})`;
    for (const row of cells)
      console.log(`| ${row.concurrency} | ${cell(row.floor)} | ${cell(row.single)} | ${cell(row.batched)} |`);
    console.log(`\nAt ${middle} in flight:\n`);
    console.log('| path | ops/s | p50 ms | p99 ms |');
    console.log('| --- | ---: | ---: | ---: |');
    const line = (name, result) =>
      console.log(`| ${name} | ${result.opsPerSecond} | ${result.p50Ms} | ${result.p99Ms} |`);
    for (const width of widths) line(`Keel reserve, coalesced, ${width.maxInFlight} batch(es) out`, width);
    line(
      'Keel reserve, coalesced, 2 batches out (default)',
      cells.find((row) => row.concurrency === middle).batched,
    );
    line('Keel reserve + settle, one statement each', cycleSingle);
    line('Keel reserve (coalesced) + settle (coalesced)', cycleBatched);
    console.log('\nA tenant without budgets, 1 in flight:\n');
    console.log('| path | ops/s | p50 ms | p99 ms |');
    console.log('| --- | ---: | ---: | ---: |');
    line('asked in the database (budget_reserve answers none)', median('freeAsked'));
    line('known budgetless (cache, no round trip)', median('freeCached'));
    const best = cells.find((row) => row.concurrency === middle).batched;
    console.log(
      `\nTarget: Keel reserve >= 2,000/s at ${middle} in flight (${best.opsPerSecond >= 2000 ? 'met' : 'NOT met'}: ` +
        `${best.opsPerSecond}/s). Hot budget after the run: reserved $${hot.usage.reservedUsd.toFixed(4)} ` +
        `(reservation rows: $${rowsUsd.toFixed(4)}), spent $${hot.usage.spentUsd.toFixed(4)}.`,
    );
    report({
      freeAsked: median('freeAsked'),
      freeCached: median('freeCached'),
      seconds: SECONDS,
      rounds: ROUNDS,
      pool: POOL,
      cells,
      widths,
      cycleSingle,
      cycleBatched,
      reservedUsd: hot.usage.reservedUsd,
      rowsUsd,
    });
  } finally {
    await store.close();
    await dropDatabase(DATABASE);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
