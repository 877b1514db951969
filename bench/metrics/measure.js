#!/usr/bin/env node
// Cost of Prometheus metrics on Keel's hot paths, in-process (not part of run.js):
//
//   npm run build && node bench/metrics/measure.js
//
// Times the worker's telemetry observer per committed step (a model step with usage and cost, a
// tool step), the gateway's per-call hook, and a scrape (registry to text), against an empty
// observer. A durable step itself costs ~0.3-1 ms (bench/durable-steps), a gateway call's own
// overhead ~0.1-0.3 ms (bench/gateway): compare the figures below with those.
import { performance } from 'node:perf_hooks';
import { createKeelMetrics } from '../../dist/index.js';

const N = Number(process.env.KEEL_BENCH_METRICS_N ?? 1_000_000);
const ROUNDS = 5;

const now = new Date();
const run = {
  id: 'run_bench',
  tenantId: 'default',
  agent: 'travel-planner',
  status: 'running',
  fence: 1,
  attempts: 1,
  startedAt: now,
  createdAt: now,
};
const modelStep = {
  runId: run.id,
  seq: 0,
  kind: 'model',
  name: 'openai:gpt-4o-mini',
  status: 'completed',
  startedAt: new Date(now.getTime() - 420),
  endedAt: now,
  usage: { inputTokens: 812, outputTokens: 64 },
  costUsd: 0.00016,
  error: null,
};
const toolStep = { ...modelStep, seq: 1, kind: 'tool', name: 'search_flights', usage: null, costUsd: null };
const call = {
  route: 'fast',
  deployment: 'primary',
  provider: 'openai',
  model: 'gpt-4o-mini',
  attempts: 1,
  cached: false,
  latencyMs: 180,
  overheadMs: 0.2,
  outcome: 'ok',
};

/** Median ns per call of `body` over ROUNDS rounds of N calls. */
function time(body) {
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    for (let i = 0; i < N; i++) body(i);
    rounds.push(((performance.now() - start) * 1e6) / N);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
}

const metrics = createKeelMetrics({ processMetrics: false });
const noop = { stepCommitted() {} };
metrics.telemetry.runClaimed(run, [], { leaseRecovered: false });
const rows = [
  ['empty observer, per step', time((i) => noop.stepCommitted(run, i & 1 ? toolStep : modelStep))],
  [
    'model step (steps, duration, tokens, cost, loop count)',
    time(() => metrics.telemetry.stepCommitted(run, modelStep)),
  ],
  ['tool step (steps, duration, tool calls)', time(() => metrics.telemetry.stepCommitted(run, toolStep))],
  ['gateway call (requests, overhead, duration)', time(() => metrics.gatewayCall(call))],
];
const scrapes = [];
for (let i = 0; i < 50; i++) {
  const start = performance.now();
  await metrics.scrape();
  scrapes.push(performance.now() - start);
}
scrapes.sort((a, b) => a - b);

console.log(
  `\nPrometheus metrics, in-process (N = ${N.toLocaleString('en')} per round, median of ${ROUNDS} rounds)\n`,
);
console.log('| path | ns per call |');
console.log('| --- | ---: |');
for (const [name, ns] of rows) console.log(`| ${name} | ${ns.toFixed(0)} |`);
console.log(`| scrape (registry to text, no database, p50 of 50) | ${(scrapes[25] * 1e6).toFixed(0)} |`);
