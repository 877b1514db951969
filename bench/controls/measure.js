#!/usr/bin/env node
// What runtime controls cost where they act (see docs/governance.md (Runtime controls)):
//
//   npm run build && node bench/controls/measure.js
//
// On the local Postgres (KEEL_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres),
// in a schema of its own, dropped at the end:
// 1. the checks before each step (agent held? tool disabled?): Keel's cached lookups against the
//    floor of an uncached design, one indexed SELECT per check;
// 2. feeding one model call's cost to an hourly spend breaker (one upsert, one window sum) against
//    the floor of one plain INSERT;
// 3. propagation: from a change requested through one client until a second client's cache has it
//    (notification; the poll is set to an hour so it cannot help).
// Settings: KEEL_BENCH_CONTROLS_N (default 2000 checks / 500 records / 50 changes).
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createPgClient } from '../../dist/journal/pg-client.js';
import { migrate } from '../../dist/journal/migrations.js';
import { createControls, ALL_TENANTS } from '../../dist/controls/controls.js';
import { createSpendBreakers } from '../../dist/controls/spend-breaker.js';
import { parseSpendBreakers } from '../../dist/controls/controls-config.js';

const url = process.env.KEEL_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const N = Number(process.env.KEEL_BENCH_CONTROLS_N ?? 2000);
const schema = `keel_bench_controls_${randomBytes(4).toString('hex')}`;
const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const row = (name, samples, target = '') =>
  console.log(
    `| ${name} | ${quantile(samples, 0.5).toFixed(4)} | ${quantile(samples, 0.99).toFixed(4)} | ${target} |`,
  );

const first = createPgClient({ connectionString: url, max: 4 });
const second = createPgClient({ connectionString: url, max: 2 });
const writer = createControls({ client: first, schema, env: {} });
const reader = createControls({ client: second, schema, env: {}, pollMs: 3_600_000 });
try {
  await migrate(first, { schema });
  await first.exec(
    `CREATE TABLE ${schema}.floor_spend (at timestamptz NOT NULL DEFAULT now(), cost_usd numeric NOT NULL)`,
  );
  await writer.start();
  await reader.start();
  for (let index = 0; index < 20; index++)
    await writer.set({
      tenantId: ALL_TENANTS,
      kind: 'tool_disabled',
      target: `tool_${index}`,
      actor: 'bench',
    });

  const cached = [];
  const uncached = [];
  for (let index = 0; index < N; index++) {
    let started = performance.now();
    writer.agentHold({ agent: 'planner', tenantId: 'acme' });
    writer.toolDisabled({ tool: `tool_${index % 40}`, agent: 'planner', tenantId: 'acme' });
    cached.push(performance.now() - started);
    started = performance.now();
    await first.query(
      `SELECT 1 FROM ${schema}.controls WHERE tenant_id = ANY($1) AND kind = 'tool_disabled' AND target = $2 AND agent = ANY($3)`,
      [['acme', '*'], `tool_${index % 40}`, ['', 'planner']],
    );
    uncached.push(performance.now() - started);
  }

  const breakers = createSpendBreakers({
    client: first,
    schema,
    controls: writer,
    rules: parseSpendBreakers([{ scope: 'agent', window: '1h', maxUsd: 1e9 }]),
  });
  const records = [];
  const floor = [];
  for (let index = 0; index < Math.max(50, N / 4); index++) {
    let started = performance.now();
    await breakers.record({ tenantId: 'acme', agent: 'planner', costUsd: 0.001 });
    records.push(performance.now() - started);
    started = performance.now();
    await first.query(`INSERT INTO ${schema}.floor_spend (cost_usd) VALUES ($1)`, [0.001]);
    floor.push(performance.now() - started);
  }

  const propagation = [];
  for (let index = 0; index < Math.max(10, N / 40); index++) {
    const target = `switch_${index}`;
    const committed = performance.now();
    // Not awaited: the clock runs from the request, through the commit, to the other cache.
    const set = writer.set({ tenantId: ALL_TENANTS, kind: 'tool_disabled', target, actor: 'bench' });
    while (reader.toolDisabled({ tool: target, agent: 'a', tenantId: 't' }) === undefined) await nextTurn();
    propagation.push(performance.now() - committed);
    await set;
  }

  console.log('| operation (Postgres) | p50 ms | p99 ms | target |');
  console.log('| --- | --- | --- | --- |');
  row('Keel: checks before a step (cached agent + tool lookups)', cached, '≪ 1');
  row('floor: one indexed SELECT per check (uncached design)', uncached);
  row('Keel: spend breaker record per model call (upsert + hourly sum)', records);
  row('floor: one plain INSERT', floor);
  row(
    'Keel: set() on client A until client B sees it (write, commit, NOTIFY, re-read)',
    propagation,
    '≤ 1000',
  );
} finally {
  await writer.close();
  await reader.close();
  await second.close();
  await first.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await first.close();
}
