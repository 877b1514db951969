#!/usr/bin/env node
// Budget reservations on one hot budget (issue 10): every model call of every run of a tenant
// reserves against the same tenant budget, so its counter row is the one lock they all take.
// Measures reservations/s and latency (p50, p99) of `BudgetStore.reserve` (one statement: lock
// the counters, check, hold), of a full reserve + settle cycle, and, as the floor, a plain
// single-row `UPDATE ... SET n = n + 1` on the same Postgres, pool and concurrency: the least any
// design that keeps one shared counter exact across processes can pay.
//
//   npm run build && node bench/budgets/reservations.js
//
// Settings: KEEL_BENCH_BUDGETS_CONCURRENCY (in-flight calls, default 32, one pool of as many
// connections), KEEL_BENCH_BUDGETS_SECONDS (per cell, default 5). The database
// keel_bench_budgets_keel is created afresh and dropped at the end. Prints a markdown table and
// the JSON result on the last line.
//
// LiteLLM is not run here (Python, and its budget path needs its proxy and Redis). Its design
// differs: each replica keeps spend in memory and syncs it to the database periodically, so the
// hot path costs no database round trip, but N replicas can each let calls through until their
// next sync (the overshoot reported in LiteLLM #34732 and #40095). Keel pays one statement on the
// hot row per call and never overshoots, whatever the number of replicas.
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { report } from '../lib/child.js';
import { dropDatabase, freshDatabase } from '../lib/db.js';
import { KeelUnavailableError, loadKeel } from '../lib/keel.js';

const CONCURRENCY = Number(process.env.KEEL_BENCH_BUDGETS_CONCURRENCY ?? 32);
const SECONDS = Number(process.env.KEEL_BENCH_BUDGETS_SECONDS ?? 5);
const DATABASE = 'keel_bench_budgets_keel';

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Runs `op` from CONCURRENCY loops for SECONDS (after a 0.5 s warm-up); ops/s and latencies. */
async function measure(op) {
  const warmUntil = performance.now() + 500;
  const loops = Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < warmUntil) await op();
  });
  await Promise.all(loops);
  const latencies = [];
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
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
  const { store, client } = await keel.openStore({ databaseUrl: url, maxConnections: CONCURRENCY });
  try {
    const budgets = keel.createBudgetStore({ client });
    // One hot tenant budget, large enough never to run out during the run.
    await budgets.create(
      'bench',
      { scope: 'tenant', scopeId: 'bench', period: 'day', limitUsd: 1e6 },
      'bench',
    );
    let run = 0;
    const reserve = () =>
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
    await client.exec(
      'CREATE TABLE bench_counter (id int PRIMARY KEY, n bigint NOT NULL); INSERT INTO bench_counter VALUES (1, 0);',
    );
    const floor = await measure(() => client.query('UPDATE bench_counter SET n = n + 1 WHERE id = 1'));
    const reserveOnly = await measure(reserve);
    const cycle = await measure(async () => {
      const held = await reserve();
      await budgets.settle(held.id, { costUsd: 0.0004, tokens: 1500 });
    });
    const [hot] = await budgets.list('bench');
    const rows = [
      ['floor: single-row UPDATE counter', floor],
      ['Keel reserve (one statement)', reserveOnly],
      ['Keel reserve + settle (two statements)', cycle],
    ];
    console.log(
      `\nBudget reservations on one hot budget, Postgres, ${CONCURRENCY} in flight, ${SECONDS} s per row, ` +
        `${cpus().length} cores, load ${loadavg()[0].toFixed(2)}\n`,
    );
    console.log('| path | ops/s | p50 ms | p99 ms |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const [name, cell] of rows)
      console.log(`| ${name} | ${cell.opsPerSecond} | ${cell.p50Ms} | ${cell.p99Ms} |`);
    console.log(
      `\nTarget: Keel reserve >= 2,000/s (${reserveOnly.opsPerSecond >= 2000 ? 'met' : 'NOT met'}); ` +
        `hot budget after the run: reserved $${hot.usage.reservedUsd.toFixed(4)}, spent $${hot.usage.spentUsd.toFixed(4)}.`,
    );
    report({ concurrency: CONCURRENCY, seconds: SECONDS, floor, reserve: reserveOnly, cycle });
  } finally {
    await store.close();
    await dropDatabase(DATABASE);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
