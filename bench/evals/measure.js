#!/usr/bin/env node
// Eval throughput and the harness's overhead per case (issue 12: target ≤ 10 % over a bare
// `runAgent`).
//
//   npm run build && node bench/evals/measure.js        (or: node bench/run.js evals)
//
// The suite (suite.js): 200 travel-planner cases, each a real durable run of the reference agent
// on its offline rule model (geocode, then weather and places in parallel, then the itinerary:
// 3 model steps and 3 tool steps), scored by a strict trajectory with argument matchers, a regex,
// contains / not_contains, max_steps and stop_reason. Keel's side is `runEval` (what `keel eval`
// runs): one run per case tagged `trigger: eval`, its steps read back and scored, the eval and
// every result recorded. The floor, measured in the same process and the same database, in
// alternating order: the same 200 inputs through bare `runAgent`, the same number in flight (a
// pool of C lanes), nothing scored or recorded. Overhead per case = (harness wall time − bare
// wall time) / cases, and that over the bare time; also in CPU time of the process, which holds
// better than wall time on a loaded machine.
//
// Stores: PGlite in a temporary data directory (as `keel eval` uses `.keel/data` on a laptop;
// KEEL_BENCH_EVAL_PGLITE=memory for `memory://`) and the local Postgres (a fresh database
// `keel_bench_evals_keel`, dropped afterwards). Each store runs in a child process of its own.
// Settings: KEEL_BENCH_EVAL_CASES (200), KEEL_BENCH_ROUNDS (3), KEEL_BENCH_EVAL_CONCURRENCY
// (`1,16`), KEEL_BENCH_EVAL_STORES (`pglite,postgres`), KEEL_BENCH_POSTGRES_URL.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childMain, report, runChild } from '../lib/child.js';
import { loadKeel } from '../lib/keel.js';
import { median } from '../lib/stats.js';
import { CONCURRENCY, measureRounds, ROUNDS, timed } from './rounds.js';
import { suiteYaml } from './suite.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const CASES = Number(process.env.KEEL_BENCH_EVAL_CASES ?? 200);
const STORES = (process.env.KEEL_BENCH_EVAL_STORES ?? 'pglite,postgres').split(',');
// promptfoo reads "not available" unless KEEL_BENCH_PROMPTFOO_DIR names an install of it (README).
const SYSTEMS = (process.env.KEEL_BENCH_EVAL_SYSTEMS ?? 'keel,promptfoo').split(',');
const WARMUP_CASES = 20;

/** A run's steps as the harness's scorers see them (what runEval's scoredSteps builds). */
function scoredSteps(steps) {
  const args = new Map();
  return steps.map((step) => {
    if (step.kind === 'model')
      for (const call of step.output?.message?.toolCalls ?? [])
        args.set(call.id, JSON.parse(call.arguments || '{}'));
    const id = step.meta?.toolCallId;
    return {
      kind: step.kind,
      name: step.name,
      ...(step.kind === 'tool' && args.has(id) ? { arguments: args.get(id) } : {}),
      ...(step.output === undefined ? {} : { output: step.output }),
      ok: step.status === 'completed',
    };
  });
}

/**
 * What runEval adds to each case beyond its run, each part timed alone, one case at a time, over
 * the last eval's runs: reading the run's steps with their outputs back (scorers need the
 * trajectory), scoring (the case's six scorers), recording the result (one row). Wall and CPU ms
 * per case.
 */
async function harnessParts({ keel, store, evalStore, suite, outcome }) {
  const byId = new Map(suite.cases.map((evalCase, position) => [evalCase.id, { evalCase, position }]));
  const runs = new Map();
  for (const result of outcome.results) runs.set(result.runId, await store.getRun(result.runId));
  const part = async (fn) => {
    const { ms, cpuMs } = await timed(async () => {
      for (const result of outcome.results) await fn(result);
    });
    return { ms: ms / outcome.results.length, cpuMs: cpuMs / outcome.results.length };
  };
  const steps = new Map();
  const load = await part(async (result) => {
    steps.set(result.runId, await store.loadSteps(result.runId, { withOutputs: true }));
  });
  const score = await part(async (result) => {
    const run = runs.get(result.runId);
    const { evalCase } = byId.get(result.caseId);
    const scored = await keel.scoreCase(
      evalCase,
      keel.createScorerContext({
        evalCase,
        output: run.output,
        stopReason: run.stopReason ?? run.status,
        steps: scoredSteps(steps.get(result.runId)),
        costUsd: run.costUsd,
        latencyMs: result.latencyMs,
      }),
    );
    if (scored.verdict !== 'pass') throw new Error(`re-scoring ${result.caseId}: ${scored.verdict}`);
  });
  const record = await part((result) =>
    evalStore.recordResult(outcome.eval.id, result, byId.get(result.caseId).position),
  );
  return { loadSteps: load, score, recordResult: record };
}

/** One store's measurements, in a child process: `measure.js store <pglite|postgres> <location>`. */
async function measureStore([, kind, location]) {
  // The travel planner picks a hosted model when a key is set: the benchmark is offline.
  delete process.env.OPENAI_API_KEY;
  delete process.env.KEEL_TRAVEL_MODEL;
  const keel = await loadKeel([
    'runEval',
    'createEvalStore',
    'parseSuite',
    'runAgent',
    'openStore',
    'loadConfig',
  ]);
  const { agents } = await keel.loadConfig({
    path: join(ROOT, 'examples', 'travel-planner', 'keel.config.ts'),
  });
  const agent = agents.get('travel-planner');
  if (!agent || typeof agent.model === 'string')
    throw new Error('the travel planner is not on its offline model');
  const { store, client } = await keel.openStore(
    kind === 'postgres' ? { databaseUrl: location } : { dataDir: location },
  );
  const evalStore = keel.createEvalStore({ client });
  const settings = { logger: keel.silentLogger };
  const suite = keel.parseSuite({ text: suiteYaml(CASES), file: 'bench-travel.yaml' });
  const warmSuite = { ...suite, cases: suite.cases.slice(0, WARMUP_CASES) };

  let lastOutcome;
  const harness = async (concurrency, which = suite) => {
    const outcome = await keel.runEval({
      suite: which,
      agents: [agent],
      store,
      evalStore,
      concurrency,
      settings,
    });
    const { summary } = outcome.eval;
    if (summary.passed !== which.cases.length) {
      const bad = outcome.results.find((result) => result.verdict !== 'pass');
      const why = bad?.error?.message ?? bad?.scores.find((score) => !score.pass)?.reason;
      throw new Error(`${summary.passed}/${which.cases.length} cases passed; ${bad?.caseId}: ${why}`);
    }
    lastOutcome = outcome;
  };
  const bare = async (concurrency, which = suite) => {
    let next = 0;
    const lane = async () => {
      while (next < which.cases.length) {
        const evalCase = which.cases[next++];
        const run = await keel.runAgent({
          ...settings,
          store,
          agents: [agent],
          agent: agent.name,
          input: evalCase.input,
        });
        if (run.status !== 'completed') throw new Error(`bare run ${run.id} ended ${run.status}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, which.cases.length) }, lane));
  };
  const systems = { bare, harness };

  try {
    for (const name of ['bare', 'harness']) await systems[name](4, warmSuite);
    const samples = await measureRounds(systems);
    const parts = await harnessParts({ keel, store, evalStore, suite, outcome: lastOutcome });
    return {
      store: kind,
      location: kind === 'postgres' ? 'postgres' : location,
      cases: CASES,
      samples,
      parts,
    };
  } finally {
    await store.close();
  }
}

const fmt = (x, digits = 2) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
const pct = (x) => (x === undefined ? '–' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`);

/** Per store and concurrency: medians over rounds, overhead from the rounds' paired figures. */
function summarize(result) {
  const cells = [];
  for (const concurrency of CONCURRENCY) {
    const of = (system) => result.samples.filter((s) => s.system === system && s.concurrency === concurrency);
    const bare = of('bare');
    const harness = of('harness');
    const pairs = bare.map((b) => [b, harness.find((h) => h.round === b.round)]);
    const n = result.cases;
    cells.push({
      concurrency,
      bareCasesPerS: n / (median(bare.map((s) => s.ms)) / 1000),
      harnessCasesPerS: n / (median(harness.map((s) => s.ms)) / 1000),
      bareMsPerCase: median(bare.map((s) => s.ms)) / n,
      harnessMsPerCase: median(harness.map((s) => s.ms)) / n,
      overheadMsPerCase: median(pairs.map(([b, h]) => (h.ms - b.ms) / n)),
      overhead: median(pairs.map(([b, h]) => h.ms / b.ms - 1)),
      bareCpuMsPerCase: median(bare.map((s) => s.cpuMs)) / n,
      cpuOverheadMsPerCase: median(pairs.map(([b, h]) => (h.cpuMs - b.cpuMs) / n)),
      cpuOverhead: median(pairs.map(([b, h]) => h.cpuMs / b.cpuMs - 1)),
      rounds: pairs.length,
    });
  }
  return cells;
}

/** Where a system's child runs: a fresh Postgres database or PGlite folder, and how to remove it. */
async function freshLocation(kind, system) {
  if (kind === 'postgres') {
    const { benchDatabase, freshDatabase, dropDatabase } = await import('../lib/db.js');
    const name = benchDatabase(`keel_bench_evals_${system}`);
    return { location: await freshDatabase(name), cleanup: () => dropDatabase(name) };
  }
  if (process.env.KEEL_BENCH_EVAL_PGLITE === 'memory')
    return { location: 'memory://', cleanup: async () => {} };
  // A folder of its own, so PGlite's `<dir>.lock` beside the data directory goes with it.
  const parent = mkdtempSync(join(tmpdir(), `keel-bench-evals-${system}-`));
  return {
    location: join(parent, 'data'),
    cleanup: async () => rmSync(parent, { recursive: true, force: true }),
  };
}

const SCRIPTS = { keel: fileURLToPath(import.meta.url), promptfoo: join(HERE, 'promptfoo.js') };

async function orchestrate() {
  const started = loadavg()[0];
  const results = {};
  for (const kind of STORES) {
    for (const system of SYSTEMS) {
      const key = `${system}:${kind}`;
      let place;
      try {
        place = await freshLocation(kind, system);
      } catch (error) {
        results[key] = { unavailable: `${kind}: ${error.message.split('\n')[0]}` };
        continue;
      }
      const args =
        system === 'keel'
          ? ['store', kind, place.location]
          : [kind, place.location, process.env.KEEL_BENCH_PROMPTFOO_DIR ?? ''];
      try {
        results[key] = await runChild(SCRIPTS[system], args, { timeoutMs: 3_600_000 });
      } finally {
        await place.cleanup().catch(() => {});
      }
    }
  }
  const ended = loadavg()[0];
  const rows = [];
  const summaries = {};
  for (const kind of STORES) {
    for (const system of SYSTEMS) {
      const key = `${system}:${kind}`;
      const got = results[key];
      const store =
        kind === 'postgres'
          ? 'Postgres'
          : got?.location === 'memory://'
            ? 'PGlite (memory)'
            : 'PGlite (temp dir)';
      const harness = system === 'keel' ? 'Keel `runEval`' : (got?.system ?? 'promptfoo `evaluate`');
      const bad = got?.unavailable
        ? `not available (${got.unavailable})`
        : got?.error
          ? `error: ${got.error.split('\n')[0]}`
          : undefined;
      if (bad) {
        rows.push([store, '', harness, bad, '', '', '', '', '', '', '']);
        continue;
      }
      summaries[key] = summarize(got);
      for (const cell of summaries[key]) {
        rows.push([
          store,
          cell.concurrency,
          harness,
          fmt(cell.bareCasesPerS, 1),
          fmt(cell.harnessCasesPerS, 1),
          fmt(cell.bareMsPerCase),
          fmt(cell.harnessMsPerCase),
          `${fmt(cell.overheadMsPerCase)} (${pct(cell.overhead)})`,
          `${fmt(cell.cpuOverheadMsPerCase)} (${pct(cell.cpuOverhead)})`,
          fmt(cell.bareCpuMsPerCase),
          system === 'keel' ? (cell.overhead <= 0.1 ? '**met**' : '**missed**') : '',
        ]);
      }
    }
  }
  const partRows = STORES.filter((kind) => results[`keel:${kind}`]?.parts).map((kind) => {
    const { parts } = results[`keel:${kind}`];
    const both = (p) => `${fmt(p.ms)} / ${fmt(p.cpuMs)}`;
    const sum = (key) => parts.loadSteps[key] + parts.score[key] + parts.recordResult[key];
    return [
      kind === 'postgres' ? 'Postgres' : 'PGlite',
      both(parts.loadSteps),
      both(parts.score),
      both(parts.recordResult),
      both({ ms: sum('ms'), cpuMs: sum('cpuMs') }),
    ];
  });
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const headers = [
    'store',
    'C',
    'harness',
    'floor cases/s',
    'harness cases/s',
    'floor ms/case',
    'harness ms/case',
    'overhead ms/case (wall)',
    'overhead ms/case (CPU)',
    'floor CPU ms/case',
    'target ≤ 10 % (wall)',
  ];
  const markdown = [
    '## (h) Eval throughput and harness overhead',
    '',
    `${CASES} travel-planner cases on its offline rule model (6 durable steps each; strict trajectory, regex, ` +
      'contains, not_contains, max_steps, stop_reason; every case must pass). The floor: the same inputs through ' +
      'bare `runAgent`, C at a time, nothing scored or recorded, in the same process and database as the harness, ' +
      `alternating order; median of ${ROUNDS} rounds. ms/case = wall time / cases; overhead = harness − floor per ` +
      "case (median of the rounds' pairs), in wall time and in CPU time of the process. promptfoo runs each case " +
      'through the same `runAgent` (its provider) and records to its own database. ' +
      `Node ${process.version}, ${cpus().length} cores, load average ${fmt(started, 1)} → ${fmt(ended, 1)}.`,
    '',
    line(headers),
    line(headers.map(() => '---')),
    ...rows.map(line),
    '',
    "What Keel's harness adds per case, each part timed alone over the last eval's runs, one at a time " +
      '(wall / CPU ms per case):',
    '',
    line(['store', 'read the steps back', 'score (6 scorers)', 'record the result', 'sum']),
    line(['---', '---', '---', '---', '---']),
    ...partRows.map(line),
  ].join('\n');
  console.log(markdown);
  report({
    markdown,
    results,
    summaries,
    settings: {
      cases: CASES,
      rounds: ROUNDS,
      concurrency: CONCURRENCY,
      loadavg: { start: started, end: ended },
    },
  });
}

if (process.argv[2] === 'store') await childMain(measureStore);
else await orchestrate();
